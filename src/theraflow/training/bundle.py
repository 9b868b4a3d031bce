"""Trained interaction models on disk: ``model.safetensors`` (weights, no pickle) + ``model.json`` (everything
needed to rebuild the model: its config, dimensions, vocabularies, training record) + ``train_drugs.smi``
(the training drugs: what scoring measures the applicability domain against)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import torch

from theraflow.errors import InputError
from theraflow.io import write_json, write_text


def save_bundle(model: torch.nn.Module, meta: dict, outdir: str | Path, fmt: str) -> None:
    from safetensors.torch import save_file

    outdir = Path(outdir)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = outdir / ".model.safetensors.tmp"
    save_file(state, str(tmp), metadata={"format": fmt})
    os.replace(tmp, outdir / "model.safetensors")
    write_json(outdir / "model.json", meta)


def load_bundle(model_dir: str | Path, build: Callable[[dict], torch.nn.Module], *, what: str,
                task: str | None = None, upgrade: Callable[[dict, torch.nn.Module], dict] | None = None):
    """(model in eval mode, meta); ``build(meta)`` makes the untrained model, ``upgrade`` renames the weights
    of older releases. The model keeps its drug vocabulary (``model.drug_vocab``)."""
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    for name in ("model.json", "model.safetensors"):
        if not (model_dir / name).exists():
            raise InputError(f"{model_dir}: no {name}; is this a trained theraflow {what} model directory?")
    try:
        meta = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{model_dir / 'model.json'}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise InputError(f"{model_dir / 'model.json'}: expected a JSON object, found {type(meta).__name__}")
    if task is not None and meta.get("task", "dti") != task:
        raise InputError(f"{model_dir}: not a {what} model (task {meta.get('task', 'dti')!r})")
    model = build(meta)
    weights = model_dir / "model.safetensors"
    try:
        state = {k.removeprefix("model."): v for k, v in load_file(str(weights)).items()}
    except Exception as exc:  # SafetensorError (not safetensors, truncated), OSError
        raise InputError(f"{weights}: not safetensors weights; the file is truncated, corrupt or of another "
                         f"format ({exc})") from None
    if upgrade is not None:
        state = upgrade(state, model)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatch
        raise InputError(f"{model_dir}: weights do not match the model config ({str(exc).splitlines()[1].strip()})") from None
    if missing or unexpected:
        raise InputError(f"{model_dir}: weights do not match the model config "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.eval()
    model.drug_vocab = meta.get("drug_vocab") or []
    return model, meta


def write_train_drugs(smiles, ids, rows, outdir: str | Path) -> None:
    """``train_drugs.smi``: the standardized SMILES and id of each training drug (``rows`` of the tables)."""
    if smiles is None:
        return
    write_text(Path(outdir) / "train_drugs.smi", "".join(f"{smiles[i]} {ids[i]}\n" for i in rows))


def with_vocabulary(dataset, vocab: list[str] | None):
    """A pair data set (``PairSet``, ``DDISet``) whose drugs index ``vocab`` (standardized SMILES; -1 for a drug
    not in it), whatever vocabulary it was built with."""
    from dataclasses import replace

    import numpy as np

    if vocab is None or dataset.graphs.smiles is None:
        return dataset
    row = {smi: i for i, smi in enumerate(vocab)}
    return replace(dataset, drug_index=np.array([row.get(smi, -1) for smi in dataset.graphs.smiles], dtype=np.int64))
