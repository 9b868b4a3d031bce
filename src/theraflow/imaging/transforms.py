"""MONAI dictionary transform chains, built from a declarative spec.

The preprocessing chain (load → channel first → orientation → spacing → intensity →
crop/pad) is first written as a *spec*: a list of ``(MONAI transform name, kwargs)``.
The spec is what builds the chain and what keys the on-disk cache
(:mod:`theraflow.imaging.cache`): change a parameter and the key changes; change nothing
and it stays. Augmentation chains are random and never cached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from collections.abc import Sequence
from typing import Any

PREPROCESS_VERSION = "1"  # bump when the meaning of a spec entry changes in this module

Spec = list[tuple[str, dict[str, Any]]]


def preprocess_spec(pre: dict, *, keys: Sequence[str] = ("image", "label")) -> Spec:
    """The deterministic preprocessing for images (and labels, when ``"label"`` is in keys)."""
    keys = list(keys)
    has_label = "label" in keys
    spec: Spec = [
        ("LoadImaged", {"keys": keys, "image_only": True, "ensure_channel_first": True}),
        ("EnsureTyped", {"keys": keys, "dtype": "float32", "track_meta": True}),
    ]
    if pre.get("orientation"):
        spec.append(("Orientationd", {"keys": keys, "axcodes": pre["orientation"]}))
    if pre.get("spacing"):
        spec.append(("Spacingd", {"keys": keys, "pixdim": [float(s) for s in pre["spacing"]],
                                  "mode": ["bilinear", "nearest"] if has_label else ["bilinear"]}))
    if pre.get("clip_percentiles"):
        lo, hi = pre["clip_percentiles"]
        spec.append(("ClipIntensityPercentilesd", {"keys": ["image"], "lower": float(lo), "upper": float(hi)}))
    mode = pre.get("intensity", "zscore")
    if mode in ("zscore", "zscore_nonzero"):
        spec.append(("NormalizeIntensityd", {"keys": ["image"], "nonzero": mode == "zscore_nonzero",
                                             "channel_wise": True}))
    elif mode == "minmax":
        spec.append(("ScaleIntensityd", {"keys": ["image"], "minv": 0.0, "maxv": 1.0}))
    if pre.get("crop_foreground"):
        spec.append(("CropForegroundd", {"keys": keys, "source_key": "image", "select_fn": "positive",
                                         "margin": int(pre.get("crop_margin", 0)), "allow_smaller": True}))
    if pre.get("pad_to"):
        spec.append(("SpatialPadd", {"keys": keys, "spatial_size": [int(s) for s in pre["pad_to"]],
                                     "mode": "constant"}))
    return spec


def augment_spec(aug: dict, train: dict) -> Spec:
    """Random per-sample training transforms: crop a patch, mirror, intensity jitter (rotation/scaling: per batch)."""
    keys = ["image", "label"]
    patch = [int(s) for s in train["patch_size"]]
    spec: Spec = [("SpatialPadd", {"keys": keys, "spatial_size": patch, "mode": "constant"})]
    if train.get("sampling") == "foreground":
        spec.append(("RandCropByPosNegLabeld", {"keys": keys, "label_key": "label", "spatial_size": patch,
                                                "pos": 1, "neg": 1, "num_samples": 1}))
    else:
        spec.append(("RandSpatialCropd", {"keys": keys, "roi_size": patch, "random_size": False}))
    # rotation/scaling runs on whole batches on the training device: theraflow.imaging.augment.BatchAffine
    for axis in aug.get("flip_axes", []):
        if aug.get("flip_prob", 0) > 0:
            spec.append(("RandFlipd", {"keys": keys, "prob": float(aug["flip_prob"]), "spatial_axis": int(axis)}))
    if aug.get("intensity_prob", 0) > 0:
        p = float(aug["intensity_prob"])
        spec.append(("RandScaleIntensityd", {"keys": ["image"], "factors": float(aug["intensity_scale"]), "prob": p}))
        spec.append(("RandShiftIntensityd", {"keys": ["image"], "offsets": float(aug["intensity_shift"]), "prob": p}))
    if aug.get("gamma_prob", 0) > 0:
        spec.append(("RandAdjustContrastd", {"keys": ["image"], "prob": float(aug["gamma_prob"]),
                                             "gamma": [float(g) for g in aug["gamma"]]}))
    if aug.get("noise_prob", 0) > 0:
        spec.append(("RandGaussianNoised", {"keys": ["image"], "prob": float(aug["noise_prob"]),
                                            "std": float(aug["noise_std"])}))
    spec.append(("EnsureTyped", {"keys": keys, "dtype": "float32", "track_meta": False}))
    return spec


def _kwargs(name: str, kwargs: dict) -> dict:
    out = dict(kwargs)
    if "dtype" in out and isinstance(out["dtype"], str):
        import torch

        out["dtype"] = getattr(torch, out["dtype"])
    if name == "CropForegroundd" and out.get("select_fn") == "positive":
        from monai.transforms.utils import is_positive

        out["select_fn"] = is_positive
    if name == "Spacingd" and len(out.get("mode", [])) == 1:
        out["mode"] = out["mode"][0]
    if name == "Orientationd":
        # axcodes name RAS-style directions (nibabel's convention); said explicitly, because MONAI's default
        # is about to become the meta-tensor's own 'space' (its FutureWarning on every run)
        out.setdefault("labels", (("L", "R"), ("P", "A"), ("I", "S")))
    return out


def build(spec: Spec):
    """A ``monai.transforms.Compose`` from a spec."""
    import monai.transforms as mt

    # MONAI logs (WARNING) on every run that nvImageCodec, a GPU DICOM decoder, is absent: nothing to act on here
    logging.getLogger("monai.data.nvimgcodec_pydicom_plugin").setLevel(logging.ERROR)
    chain = []
    for name, kwargs in spec:
        cls = getattr(mt, name, None)
        if cls is None:
            raise ValueError(f"unknown MONAI transform {name!r}")
        with warnings.catch_warnings():
            # LoadImage registers every MONAI reader, NvImgCodecPydicomReader too, which warns on each run that
            # nvImageCodec (a GPU DICOM decoder) is absent; pydicom's own decoders are used, as intended here
            warnings.filterwarnings("ignore", message="NvImgCodecPydicomReader: nvImageCodec")
            chain.append(cls(**_kwargs(name, kwargs)))
    return mt.Compose(chain)


def spec_key(spec: Spec) -> str:
    """sha256 of the spec, the MONAI version and this module's version: the cache key of a chain."""
    import monai

    payload = json.dumps({"spec": spec, "monai": monai.__version__, "theraflow_preprocess": PREPROCESS_VERSION},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()
