"""Inference: sliding windows, optional mirror test-time augmentation and largest-component clean-up.

Each image goes through the model's own preprocessing (from its bundle), is segmented
with ``monai.inferers.sliding_window_inference``, and the label map is mapped back onto
the input's grid with MONAI's ``Invertd`` (orientation, spacing, crop and pad undone).
Masks are NIfTI files with the input's affine and shape: for a NIfTI input its header is
reused; a DICOM series gives a NIfTI mask in the series' RAS geometry plus a
``<id>.geometry.json`` sidecar that records it.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from theraflow.imaging.bundle import load_bundle
from theraflow.imaging.datalists import find_cases, read_csv_cases, read_datalist
from theraflow.imaging.modelconfig import label_names, roi_size
from theraflow.imaging.transforms import build, preprocess_spec
from theraflow.imaging.volumes import case_id, is_nifti, volume_format
from theraflow.io import InputError, atomic_write, safe_name, write_json
from theraflow.progress import progress

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = ["id", "image", "mask", "format", "shape", "spacing", "seconds", "uncertainty",
                      "uncertainty_map"]
REJECT_COLUMNS = ["id", "image", "reason"]


def resolve_inputs(source: str | os.PathLike | pd.DataFrame | Iterable[dict]) -> list[dict]:
    """Cases to segment: a datalist/CSV table, a folder of NIfTI files / DICOM folders, one file, or dicts."""
    if isinstance(source, pd.DataFrame):
        return [{"id": r["id"], "image": r["image"]} for r in source.to_dict("records")]
    if not isinstance(source, (str, os.PathLike)):
        return [{"id": c["id"], "image": c["image"]} for c in source]
    path = Path(source)
    name = path.name.lower()
    if path.is_file() and name.endswith((".tsv", ".csv", ".parquet", ".tsv.gz", ".csv.gz")):
        if name.endswith(".parquet") or "image_sha256" in path.read_text(errors="ignore").splitlines()[0]:
            df = read_datalist(path)
            return [{"id": r["id"], "image": r["image"]} for r in df.to_dict("records")]
        return [{"id": c["id"], "image": c["image"]} for c in read_csv_cases(path)]
    if path.is_file() and is_nifti(path):
        return [{"id": case_id(path), "image": str(path)}]
    if path.is_dir():
        entries = [p for p in path.iterdir() if not p.name.startswith(".")]
        if any(p.is_file() and is_nifti(p) for p in entries) or any(p.is_dir() for p in entries):
            return [{"id": c["id"], "image": c["image"]} for c in find_cases(path)]
        return [{"id": path.name, "image": str(path)}]  # a single DICOM series folder
    raise InputError(f"{path}: expected a folder of NIfTI files or DICOM series, a NIfTI file, or a datalist table")


def _flip_sets(axes: list[int]) -> list[tuple[int, ...]]:
    return [c for r in range(len(axes) + 1) for c in itertools.combinations(axes, r)]


@torch.no_grad()
def predict_probabilities(net: torch.nn.Module, image: torch.Tensor, cfg: dict, *, tta: bool,
                          device: torch.device) -> torch.Tensor:
    """Softmax probabilities (C, X, Y, Z) for one preprocessed image (1, X, Y, Z), averaged over mirror images."""
    return predict_with_spread(net, image, cfg, tta=tta, device=device)[0]


@torch.no_grad()
def predict_with_spread(net: torch.nn.Module, image: torch.Tensor, cfg: dict, *, tta: bool,
                        device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Mean softmax probabilities (C, X, Y, Z) over the mirror passes and, with ``tta``, the voxel-wise spread
    (X, Y, Z): the largest standard deviation over the passes of any class's probability (0 where every
    pass agrees; 0.5 at most), and the region (X, Y, Z, bool) that some pass labels as a structure."""
    from monai.inferers import sliding_window_inference

    inf = cfg["infer"]
    x = torch.as_tensor(image).unsqueeze(0).to(device)
    flips = _flip_sets([int(a) for a in inf["tta_axes"]]) if tta else [()]
    total = squares = region = None
    use_amp = device.type == "cuda"
    for axes in flips:
        dims = [a + 2 for a in axes]
        xi = torch.flip(x, dims) if dims else x
        with torch.autocast(device_type=device.type, enabled=use_amp):
            logits = sliding_window_inference(xi, roi_size(cfg), int(inf["sw_batch_size"]), net,
                                              overlap=float(inf["overlap"]), mode=inf["mode"])
        prob = torch.softmax(logits.float(), dim=1)
        prob = torch.flip(prob, dims) if dims else prob
        structure = prob.argmax(1)[0] != 0
        total = prob if total is None else total + prob
        squares = prob * prob if squares is None else squares + prob * prob
        region = structure if region is None else region | structure
    mean = total / len(flips)
    if len(flips) < 2:
        return mean[0].cpu(), None, None
    spread = (squares / len(flips) - mean * mean).clamp_min(0).sqrt().amax(1)[0]
    return mean[0].cpu(), spread.cpu(), region.cpu()


def uncertainty_score(spread: torch.Tensor, region: torch.Tensor) -> float:
    """A case's uncertainty: the mean voxel spread over the region some mirror pass labels as a structure
    (0 when no pass finds one). Size-free, so small and large structures compare."""
    return float(spread[region].mean()) if bool(region.any()) else 0.0


def postprocess(labels: torch.Tensor, cfg: dict, *, largest_component: bool) -> torch.Tensor:
    """Keep the largest connected component of each structure (label map (1, X, Y, Z))."""
    if not largest_component:
        return labels
    from monai.transforms import KeepLargestConnectedComponent

    keep = KeepLargestConnectedComponent(applied_labels=sorted(label_names(cfg)), is_onehot=False,
                                         independent=True, connectivity=None)
    return keep(labels)


def _write_mask(mask: np.ndarray, source: str, fmt: str, affine: np.ndarray, out: Path) -> None:
    _write_volume(mask.astype(np.uint8), source, fmt, affine, out)


def _write_volume(array: np.ndarray, source: str, fmt: str, affine: np.ndarray, out: Path) -> None:
    """A uint8 mask or a float32 map as NIfTI on the input's grid (its header reused for a NIfTI input)."""
    import nibabel as nib

    if fmt == "nifti":
        src = nib.load(source)
        header = src.header.copy()
        img = nib.Nifti1Image(array, src.affine, header=header)
        img.set_data_dtype(array.dtype)
        img.header.set_slope_inter(1, 0)
        if header["sform_code"] > 0:
            img.set_sform(src.affine, int(header["sform_code"]))
        if header["qform_code"] > 0:
            img.set_qform(src.affine, int(header["qform_code"]))
    else:
        img = nib.Nifti1Image(array, affine)
        img.set_sform(affine, 1)
        img.set_qform(affine, 1)
    with atomic_write(out, "wb") as fh:
        fh.write(img.to_bytes() if not str(out).endswith(".gz") else _gzip(img.to_bytes()))


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, compresslevel=6, mtime=0)


def _original_geometry(image, source: str, fmt: str) -> tuple[tuple[int, ...], np.ndarray]:
    """Shape and affine of the input grid (the file's voxel order)."""
    if fmt == "nifti":
        import nibabel as nib

        src = nib.load(source)
        shape = tuple(int(s) for s in src.shape[:3])
        return shape, np.asarray(src.affine, dtype=np.float64)
    meta = image.meta
    shape = tuple(int(s) for s in np.asarray(meta["spatial_shape"]).ravel()[:3])
    return shape, np.asarray(meta["original_affine"], dtype=np.float64)


def segment_case(net: torch.nn.Module, cfg: dict, case: dict, out_dir: Path, *, tta: bool, largest_component: bool,
                 device: torch.device, chain=None, uncertainty: bool = True) -> dict[str, Any]:
    """Segment one case and write ``<out_dir>/<id>.nii.gz``; return its predictions-table row.

    With mirror TTA and ``uncertainty``, the voxel-wise spread over the passes is written beside the
    mask as ``uncertainty/<id>.nii.gz`` (float32, the input's grid) and the row carries the case's
    :func:`uncertainty_score`."""
    from monai.data import MetaTensor
    from monai.transforms import Invertd

    t0 = time.perf_counter()
    source = str(case["image"])
    fmt = volume_format(source)
    if fmt == "dicom":
        from theraflow.imaging.volumes import check_dicom_series

        check_dicom_series(Path(source))
    chain = chain or build(preprocess_spec(cfg["preprocess"], keys=("image",)))
    try:
        data = chain({"image": source})
    except Exception as exc:
        raise InputError(f"{source}: cannot be read or preprocessed ({type(exc).__name__}: {exc})") from None
    image = data["image"]
    if image.ndim != 4 or image.shape[0] != 1:
        raise InputError(f"{source}: expected a single-channel 3D volume, got shape {tuple(image.shape[1:])}")
    prob, spread, region = predict_with_spread(net, image, cfg, tta=tta, device=device)
    labels = prob.argmax(0, keepdim=True).to(torch.float32)
    labels = postprocess(labels, cfg, largest_component=largest_component)
    def on_image_grid(t: torch.Tensor) -> MetaTensor:  # a fresh meta dict each: MetaTensor writes its affine in
        meta = {k: v for k, v in image.meta.items() if k != "affine"}  # the affine is passed once, not twice
        return MetaTensor(t, affine=image.affine, meta=meta, applied_operations=list(image.applied_operations))

    data["pred"] = on_image_grid(labels)
    inverted = Invertd(keys="pred", transform=chain, orig_keys="image", nearest_interp=True)(data)
    mask = np.rint(np.asarray(inverted["pred"])[0]).astype(np.uint8)
    spread_map = None
    if uncertainty and spread is not None:
        data["spread"] = on_image_grid(spread[None])
        back = Invertd(keys="spread", transform=chain, orig_keys="image", nearest_interp=False)(data)
        spread_map = np.asarray(back["spread"])[0].astype(np.float32)
    shape, affine = _original_geometry(image, source, fmt)
    if mask.shape != shape:
        raise InputError(f"{source}: mask shape {mask.shape} after inverting the preprocessing differs from the "
                         f"input's {shape}")
    name = safe_name(str(case["id"]))
    out = out_dir / f"{name}.nii.gz"
    _write_mask(mask, source, fmt, affine, out)
    spacing = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    row = {"id": case["id"], "image": source, "mask": str(out), "format": fmt, "shape": "x".join(map(str, shape)),
           "spacing": "x".join(f"{s:g}" for s in spacing)}
    if spread_map is not None:
        unc_path = out_dir / "uncertainty" / f"{name}.nii.gz"  # its own folder: no case id can clash with it
        _write_volume(spread_map, source, fmt, affine, unc_path)
        row.update(uncertainty=round(uncertainty_score(spread, region), 5), uncertainty_map=str(unc_path))
    row["seconds"] = round(time.perf_counter() - t0, 3)
    if fmt == "dicom":
        import nibabel as nib

        write_json(out_dir / f"{name}.geometry.json", {
            "id": case["id"], "source": source, "format": "dicom", "mask": out.name,
            "shape": list(shape), "affine_ras": affine.tolist(), "spacing_mm": spacing.tolist(),
            "orientation": "".join(nib.aff2axcodes(affine)),
            "note": "voxel order and affine as MONAI's PydicomReader loads the series (LPS converted to RAS)",
        })
    return row


def segment(model: str | os.PathLike, source: Any, out_dir: str | os.PathLike, *, tta: bool | None = None,
            largest_component: bool | None = None, device: str = "auto", on_error: str = "reject",
            uncertainty: bool = True, engine: str = "torch") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Segment every case of ``source`` with the bundle in ``model``; masks go to ``out_dir``.

    ``engine`` on a CPU: ``torch``, ``onnx`` or ``onnx_int8`` (:mod:`theraflow.imaging.onnx_net`; the
    predictions' ``attrs["engine"]`` says which ran).

    Returns (predictions, rejects): one row per written mask, and one per case that could
    not be segmented with the reason (``on_error="stop"`` raises instead). Masks written
    before a failing case are kept. With mirror TTA (and ``uncertainty``) each mask has its
    voxel-wise spread map beside it and the row its uncertainty score (see :func:`segment_case`).
    """
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    net, cfg, _ = load_bundle(model, device=dev)
    if engine != "torch" and dev.type == "cpu":
        from theraflow.imaging.onnx_net import onnx_net

        net = onnx_net(net, cfg, model, engine)
    ran = getattr(net, "engine", "torch")
    tta = cfg["infer"]["tta_flip"] if tta is None else tta
    lcc = cfg["infer"]["largest_component"] if largest_component is None else largest_component
    cases = resolve_inputs(source)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chain = build(preprocess_spec(cfg["preprocess"], keys=("image",)))
    rows, rejects = [], []
    for case in progress(cases, desc="segmenting", unit="case"):
        try:
            rows.append(segment_case(net, cfg, case, out, tta=tta, largest_component=lcc, device=dev, chain=chain,
                                     uncertainty=uncertainty))
        except InputError as exc:
            if on_error == "stop":
                raise
            log.warning("case %s: %s", case["id"], exc)
            rejects.append({"id": case["id"], "image": case["image"], "reason": str(exc)})
    log.info("segmented %d cases (%d failed) into %s with %s", len(rows), len(rejects), out, ran)
    preds = pd.DataFrame(rows, columns=PREDICTION_COLUMNS)
    preds.attrs["engine"] = ran
    return preds, pd.DataFrame(rejects, columns=REJECT_COLUMNS)
