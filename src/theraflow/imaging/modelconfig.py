"""Segmentation model configs: network, preprocessing, augmentation, training and inference.

A model config is a YAML file (``models/<name>/config.yaml``) holding any subset of
:data:`DEFAULTS`; it is merged over the defaults key by key, and an unknown key stops
with a message naming it (a typo never silently falls back to a default). The resolved
config travels with the trained weights (``model.json``), so inference preprocesses
exactly as training did.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from theraflow.io import InputError

DEFAULTS: dict[str, Any] = {
    "name": "segmentation",
    "description": "",
    # label value -> name; 0 is the background. Every label file must only hold these values.
    "labels": {0: "background", 1: "foreground"},
    "network": {"name": "unet", "params": {}},
    "preprocess": {
        "orientation": "RAS",            # axcodes, or null to keep the file's voxel order
        "spacing": None,                 # target voxel size in mm [x, y, z], or null to keep it
        "intensity": "zscore",           # zscore | zscore_nonzero | minmax | none
        "clip_percentiles": None,        # [low, high]: clip intensities at these percentiles first
        "crop_foreground": False,        # crop to the bounding box of image > 0 (with margin)
        "crop_margin": 4,
        "pad_to": None,                  # pad every volume to at least this size (voxels)
    },
    "augment": {
        "flip_prob": 0.5,                # per axis in flip_axes
        "flip_axes": [0, 1, 2],
        "affine_prob": 0.2,              # random rotation + scaling
        "rotate_deg": 15.0,
        "scale": 0.1,
        "intensity_prob": 0.5,           # random intensity scale and shift
        "intensity_scale": 0.1,
        "intensity_shift": 0.1,
        "gamma_prob": 0.0,               # random contrast (gamma)
        "gamma": [0.7, 1.5],
        "noise_prob": 0.1,               # Gaussian noise
        "noise_std": 0.1,
    },
    "train": {
        "patch_size": [48, 64, 48],      # training crop (voxels); also the sliding window size
        "sampling": "uniform",           # uniform | foreground (crop centres on labels half the time)
        "batch_size": 4,
        "max_epochs": 100,
        "max_minutes": None,             # wall-clock budget: training stops there and the schedule follows the clock
        "optimizer": "adamw",            # adamw | sgd
        "lr": 2.0e-3,
        "weight_decay": 1.0e-5,
        "momentum": 0.99,                # sgd only (nesterov)
        "schedule": "cosine",            # cosine | poly | constant
        "warmup_epochs": 0,
        "loss": {"include_background": False, "batch": True, "lambda_dice": 1.0, "lambda_ce": 1.0},
        "val_every": 5,                  # epochs between validation passes (0: never)
        "select": "last",                # last | best: which weights to keep (best = highest val Dice)
        "num_workers": 1,                # data-loader worker processes (augmentation)
        "precision": "auto",             # auto (16-bit mixed on GPU, 32 on CPU) | 32 | 16-mixed | bf16-mixed
        "seed": 0,
        "deterministic": False,
    },
    "infer": {
        "roi_size": None,                # sliding window size; null: train.patch_size
        "overlap": 0.5,
        "sw_batch_size": 4,
        "mode": "gaussian",              # gaussian | constant window blending
        "tta_flip": True,                # average over the mirror images along flip_axes
        "tta_axes": [0, 1, 2],
        "largest_component": True,       # keep the largest connected component per class
    },
}

_REPLACE = {("labels",)}                              # replaced as a whole, never merged
_FREE_FORM = {("network", "params"), ("train", "loss")}  # any keys (passed on to MONAI)


class ConfigError(InputError):
    """A model config that cannot be used; the message names the file and the key."""


def _merge(base: dict, update: dict, where: str, path: tuple = ()) -> dict:
    if not isinstance(update, dict):
        raise ConfigError(f"{where}: {'.'.join(map(str, path)) or 'config'} must be a mapping")
    out = copy.deepcopy(base)
    for key, value in update.items():
        here = (*path, key)
        if path not in _FREE_FORM and key not in base:
            raise ConfigError(f"{where}: unknown key {'.'.join(map(str, here))!r}"
                              f" (expected one of {', '.join(map(str, base))})")
        if here in _REPLACE or not isinstance(value, dict) or not isinstance(base.get(key), dict):
            out[key] = copy.deepcopy(value)
        else:
            out[key] = _merge(base[key], value, where, here)
    return out


def resolve(config: dict | None = None, overrides: dict | None = None, *, where: str = "model config") -> dict:
    """Defaults ← ``config`` ← ``overrides`` (dotted keys allowed: ``{"train.max_epochs": 2}``)."""
    out = _merge(DEFAULTS, config or {}, where)
    for key, value in (overrides or {}).items():
        nested: Any = value
        for part in reversed(str(key).split(".")):
            nested = {part: nested}
        out = _merge(out, nested, f"{where} (override {key})")
    return _check(out, where)


_POSITIVE = {("train", "batch_size"), ("train", "max_epochs"), ("train", "lr"), ("infer", "sw_batch_size")}


def _check_types(cfg: dict, base: dict, where: str, path: tuple = ()) -> None:
    """Booleans, numbers and lists where the defaults have them; numbers not negative."""
    for key, default in base.items():
        here = (*path, key)
        value, name = cfg.get(key), ".".join(map(str, here))
        if here in _REPLACE or here in _FREE_FORM or default is None or isinstance(default, str):
            continue
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: {name} must be a mapping, got {value!r}")
            _check_types(value, default, where, here)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: {name} must be true or false, got {value!r}")
        elif isinstance(default, (int, float)):
            kind = int if isinstance(default, int) else (int, float)
            if isinstance(value, bool) or not isinstance(value, kind):
                raise ConfigError(f"{where}: {name} must be {'an integer' if kind is int else 'a number'}, "
                                  f"got {value!r}")
            if value < 0 or (value == 0 and here in _POSITIVE):
                raise ConfigError(f"{where}: {name} must be {'positive' if here in _POSITIVE else 'non-negative'}"
                                  f", got {value!r}")
        elif isinstance(default, list) and not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: {name} must be a list, got {value!r}")


def _check(cfg: dict, where: str) -> dict:
    _check_types(cfg, DEFAULTS, where)
    labels = {int(k): str(v) for k, v in cfg["labels"].items()}
    if 0 not in labels or len(labels) < 2:
        raise ConfigError(f"{where}: labels must map 0 (background) and at least one structure, got {labels}")
    if sorted(labels) != list(range(len(labels))):
        raise ConfigError(f"{where}: label values must be 0..N-1 without gaps, got {sorted(labels)}")
    cfg["labels"] = labels
    pre, train, infer = cfg["preprocess"], cfg["train"], cfg["infer"]
    if pre["intensity"] not in ("zscore", "zscore_nonzero", "minmax", "none"):
        raise ConfigError(f"{where}: preprocess.intensity must be zscore, zscore_nonzero, minmax or none")
    for key in ("spacing", "pad_to"):
        if pre[key] is not None and (len(pre[key]) != 3 or min(pre[key]) <= 0):
            raise ConfigError(f"{where}: preprocess.{key} must be three positive numbers or null")
    if len(train["patch_size"]) != 3:
        raise ConfigError(f"{where}: train.patch_size must be three integers")
    from theraflow.nn.segmentation import divisor, network_params

    try:
        network_params(cfg["network"])
        div = divisor(cfg["network"])
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    roi = infer["roi_size"] or train["patch_size"]
    for name, size in (("train.patch_size", train["patch_size"]), ("infer.roi_size", roi)):
        if any(int(s) % div for s in size):
            raise ConfigError(f"{where}: {name} {list(size)} must be multiples of {div} for this network")
    budget = train["max_minutes"]
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float)) or budget <= 0):
        raise ConfigError(f"{where}: train.max_minutes must be a positive number of minutes or null, got {budget!r}")
    if train["optimizer"] not in ("adamw", "sgd"):
        raise ConfigError(f"{where}: train.optimizer must be adamw or sgd")
    if train["schedule"] not in ("cosine", "poly", "constant"):
        raise ConfigError(f"{where}: train.schedule must be cosine, poly or constant")
    if train["select"] not in ("last", "best"):
        raise ConfigError(f"{where}: train.select must be last or best")
    if train["sampling"] not in ("uniform", "foreground"):
        raise ConfigError(f"{where}: train.sampling must be uniform or foreground")
    return cfg


def load_model_config(path: str | Path | None, overrides: dict | None = None) -> dict:
    """Read a model config (a YAML file, or a folder holding ``config.yaml``) and resolve it."""
    if path is None:
        return resolve(None, overrides)
    path = Path(path)
    if path.is_dir():
        path = path / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{path}: model config not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return resolve(raw, overrides, where=str(path))


def label_names(cfg: dict) -> dict[int, str]:
    """Structure labels (without the background)."""
    return {k: v for k, v in cfg["labels"].items() if k != 0}


def roi_size(cfg: dict) -> list[int]:
    return [int(s) for s in (cfg["infer"]["roi_size"] or cfg["train"]["patch_size"])]
