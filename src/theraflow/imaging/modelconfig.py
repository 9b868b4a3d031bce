"""Segmentation model configs: network, preprocessing, augmentation, training and inference.

A model config is a YAML file (``models/<name>/config.yaml``) holding any subset of the keys of
``src/theraflow/schemas/seg_model.schema.yaml``, which describes every key with its default. It is
validated by :mod:`theraflow.schemas` (jsonschema, like every config of the project): the defaults
fill in what the file leaves out key by key (``labels`` is replaced as a whole), and an unknown key,
a wrong type or a value outside its choices stops with one message naming the file and the key path
(a typo never silently falls back to a default). ``network.name`` is one of the registered
segmentation networks (:data:`theraflow.registry.SEG_NETWORKS`); ``network.params`` are free-form
(the network constructor's arguments). Overrides (``--set train.max_epochs=2``) are merged in after
the file and validated the same way. The checks a schema cannot state (label values 0..N-1, sizes
divisible by the network's divisor) follow. The resolved config travels with the trained weights
(``model.json``), so inference preprocesses exactly as training did.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

from theraflow.errors import InputError
from theraflow.schemas import SCHEMA_DIR, resolve_schema, validate

SCHEMA_FILE = SCHEMA_DIR / "seg_model.schema.yaml"

_REPLACE = {("labels",)}  # replaced as a whole by a config or an override, never merged


class ConfigError(InputError):
    """A model config that cannot be used; the message names the file and the key."""


@functools.lru_cache(maxsize=1)
def _schema_file() -> dict:
    return yaml.safe_load(SCHEMA_FILE.read_text(encoding="utf-8"))


def schema() -> dict:
    """The model-config schema, resolved now: ``network.name``'s choices are the networks registered at this moment."""
    return resolve_schema(_schema_file())


def _integers(value: Any, sub: dict) -> Any:
    """Whole numbers written as floats (``2.0``) where the schema asks for an integer, as ints."""
    if isinstance(value, float) and sub.get("type") == "integer" and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        props = sub.get("properties") or {}
        return {k: _integers(v, props[k]) if k in props else v for k, v in value.items()}
    if isinstance(value, list) and isinstance(sub.get("items"), dict):
        return [_integers(v, sub["items"]) for v in value]
    return value


def _validated(cfg: Any, where: str, resolved: dict) -> dict:
    try:
        return _integers(validate(cfg, resolved, where=where), resolved)
    except InputError as exc:
        raise ConfigError(str(exc)) from None


def defaults() -> dict:
    """Every key with its default (from the schema)."""
    return _validated({}, "defaults", schema())


DEFAULTS: dict[str, Any] = defaults()


def _merge(base: dict, update: dict, path: tuple = ()) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        here = (*path, key)
        if here not in _REPLACE and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, here)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _dotted(key: str, value: Any) -> dict:
    nested: Any = value
    for part in reversed(str(key).split(".")):
        nested = {part: nested}
    return nested


def resolve(config: dict | None = None, overrides: dict | None = None, *, where: str = "model config") -> dict:
    """Defaults ← ``config`` ← ``overrides`` (dotted keys allowed: ``{"train.max_epochs": 2}``), validated."""
    resolved = schema()
    cfg = _validated({} if config is None else config, where, resolved)
    for key, value in (overrides or {}).items():
        cfg = _validated(_merge(cfg, _dotted(key, value)), f"{where} (override {key})", resolved)
    return _check(cfg, where)


def _check(cfg: dict, where: str) -> dict:
    """What the schema cannot say: label values 0..N-1, a network that builds, sizes it can take."""
    try:
        labels = {int(k): str(v) for k, v in cfg["labels"].items()}
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: labels: label values must be integers, got {list(cfg['labels'])}") from None
    if 0 not in labels or len(labels) < 2:
        raise ConfigError(f"{where}: labels must map 0 (background) and at least one structure, got {labels}")
    if sorted(labels) != list(range(len(labels))):
        raise ConfigError(f"{where}: labels: label values must be 0..N-1 without gaps, got {sorted(labels)}")
    cfg["labels"] = labels
    from theraflow.nn.segmentation import divisor, network_params

    try:
        network_params(cfg["network"])
        div = divisor(cfg["network"])
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    train, infer = cfg["train"], cfg["infer"]
    roi = infer["roi_size"] or train["patch_size"]
    for key, size in (("train.patch_size", train["patch_size"]), ("infer.roi_size", roi)):
        if any(int(s) % div for s in size):
            raise ConfigError(f"{where}: {key} {list(size)} must be multiples of {div} for this network "
                              f"({cfg['network']['name']})")
    return cfg


def load_model_config(path: str | Path | None, overrides: dict | None = None) -> dict:
    """Read a model config (a YAML file, or a folder holding ``config.yaml``) and resolve it."""
    if path is None:
        return resolve(None, overrides)
    path = Path(path)
    if path.is_dir():
        path = path / "config.yaml"
    from theraflow.schemas import read_yaml_mapping

    return resolve(read_yaml_mapping(path, "model config", ConfigError), overrides, where=str(path))


def label_names(cfg: dict) -> dict[int, str]:
    """Structure labels (without the background)."""
    return {k: v for k, v in cfg["labels"].items() if k != 0}


def roi_size(cfg: dict) -> list[int]:
    return [int(s) for s in (cfg["infer"]["roi_size"] or cfg["train"]["patch_size"])]
