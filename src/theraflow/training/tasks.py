"""What a training run of the pair tasks needs on top of the runtime: its recipe (defaults, the model
config's, the run's overrides), its train/valid indices, the fingerprint a checkpoint must carry to be
resumed, and the call of :func:`theraflow.training.fit`. The LightningModule itself is
:class:`theraflow.pairs.module.PairModule`."""

from __future__ import annotations

import hashlib

import numpy as np


def training_options(defaults: dict, model_cfg: dict, overrides: dict | None) -> dict:
    """The recipe: defaults, then the model config's ``training``, then run overrides; unknown keys refused."""
    t = {**defaults, **(model_cfg.get("training") or {}), **(overrides or {})}
    unknown = set(t) - set(defaults)
    if unknown:
        raise ValueError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    return t


def split_parts(parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the train and valid pairs; both must be there."""
    parts = np.asarray(parts)
    train_idx, valid_idx = np.nonzero(parts == "train")[0], np.nonzero(parts == "valid")[0]
    if len(train_idx) == 0 or len(valid_idx) == 0:
        raise ValueError("training needs pairs in both the 'train' and the 'valid' part of the split")
    return train_idx, valid_idx


def recipe_fingerprint(model_cfg: dict, training: dict, seed: int, dims: dict, train_idx: np.ndarray,
                       valid_idx: np.ndarray, **extra) -> dict:
    """What a checkpoint must have been written under to be resumed (budget and threads may change)."""
    split = hashlib.sha256(np.asarray(train_idx, np.int64).tobytes() + b"|" + np.asarray(valid_idx, np.int64).tobytes())
    recipe = {k: v for k, v in training.items() if k not in ("max_minutes", "threads")}
    return {"model": model_cfg, "training": recipe, "seed": seed, "dims": dims, "pairs": split.hexdigest(), **extra}


def run_overrides(max_minutes: float | None = None, max_epochs: int | None = None,
                  threads: int | None = None) -> dict:
    """The recipe keys a run (CLI, rule) overrides: only those given."""
    return {k: v for k, v in {"max_minutes": max_minutes, "max_epochs": max_epochs, "threads": threads}.items()
            if v is not None}


def fit_task(module, train_data, valid_data, outdir, training: dict, *, seed: int, monitor: str, mode: str,
             fingerprint: dict, resume: bool = True, progress: bool | None = None, callbacks: list | None = None):
    """:func:`theraflow.training.fit` with an interaction task's recipe (``training``); resumable mid-epoch."""
    from theraflow.training import Recipe, fit

    t = training
    recipe = Recipe(max_epochs=t["max_epochs"], monitor=monitor, mode=mode, max_minutes=t["max_minutes"],
                    patience=t["patience"], eval_every=t["eval_every"], grad_clip=t["grad_clip"], seed=seed,
                    ema=t["ema"])
    module.train_batches = train_data
    return fit(module, train_data, valid_data, outdir, recipe=recipe, fingerprint=fingerprint, resume=resume,
               progress=progress, callbacks=callbacks, history_file="history.csv", mid_epoch_resume=True)
