"""Trained model bundles: ``model.json`` (resolved config, labels, training record) + ``model.safetensors``.

Weights are stored with safetensors (raw tensors, no pickle) and read back into a
network built from the config, so loading a bundle someone hands you runs no code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from theraflow.io import InputError, atomic_write, write_json

BUNDLE_FORMAT = "theraflow-seg-bundle/1"
CONFIG_FILE = "model.json"
WEIGHTS_FILE = "model.safetensors"


def save_bundle(folder: str | os.PathLike, net: torch.nn.Module, cfg: dict, record: dict[str, Any]) -> Path:
    """Write the network's weights and its config/record; return the folder."""
    from safetensors.torch import save

    folder = Path(folder)
    # Networks that reach one module under two names (DynUNet's skip_layers and its stage lists) share
    # tensors, which safetensors refuses: each is stored once, under its first name in sorted order
    # (load_bundle fills the other names in from the network itself).
    aliases = _aliases(net)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()
             if not any(a < k for a in aliases.get(k, ()))}
    with atomic_write(folder / WEIGHTS_FILE, "wb") as fh:
        fh.write(save(state, metadata={"format": BUNDLE_FORMAT}))
    labels = {str(k): v for k, v in cfg["labels"].items()}
    write_json(folder / CONFIG_FILE, {"format": BUNDLE_FORMAT, "config": {**cfg, "labels": labels},
                                      "record": record})
    return folder


def load_bundle(folder: str | os.PathLike, *, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict, dict]:
    """(network in eval mode, resolved config, training record) from a bundle folder."""
    from safetensors.torch import load_file

    from theraflow.imaging.modelconfig import resolve
    from theraflow.nn.segmentation import build_seg_net

    folder = Path(folder)
    meta_file, weights = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    if not meta_file.is_file() or not weights.is_file():
        raise InputError(f"{folder}: not a trained model (expected {CONFIG_FILE} and {WEIGHTS_FILE}, "
                         "as written by `theraflow seg train`)")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{meta_file}: not valid JSON ({exc})") from None
    if meta.get("format") != BUNDLE_FORMAT:
        raise InputError(f"{meta_file}: unknown bundle format {meta.get('format')!r} (expected {BUNDLE_FORMAT})")
    cfg = resolve(meta["config"], where=str(meta_file))
    net = build_seg_net(cfg["network"], out_channels=len(cfg["labels"]))
    try:
        state = load_file(str(weights), device=str(device))
        missing, unexpected = net.load_state_dict(state, strict=False)
        aliases = _aliases(net)
        left = [k for k in missing if not (aliases.get(k, set()) & state.keys())]
        if left or unexpected:
            raise ValueError(f"missing {left[:5]}, unexpected {list(unexpected)[:5]}")
    except Exception as exc:
        raise InputError(f"{weights}: not safetensors weights that fit the network in {CONFIG_FILE} ({exc})") from None
    return net.to(device).eval(), cfg, meta.get("record", {})


def _aliases(net: torch.nn.Module) -> dict[str, set[str]]:
    """Each state-dict name → the other names of the same tensor (a module reachable twice)."""
    by_ptr: dict[tuple, set[str]] = {}
    for k, v in net.state_dict(keep_vars=True).items():
        by_ptr.setdefault((v.data_ptr(), tuple(v.shape)), set()).add(k)
    return {k: names - {k} for names in by_ptr.values() for k in names}
