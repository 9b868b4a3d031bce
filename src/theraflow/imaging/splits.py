"""Train/validation splits of a datalist: a fixed split or k-fold, reproducible from config."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

SPLIT_DEFAULTS = {"mode": "fixed", "val_fraction": 0.2, "val_count": None, "folds": 5, "fold": 0,
                  "order": "sorted", "seed": 0}


def assign_split(ids: Sequence[str], *, mode: str = "fixed", val_fraction: float = 0.2, val_count: int | None = None,
                 folds: int = 5, fold: int = 0, order: str = "sorted", seed: int = 0) -> pd.DataFrame:
    """A table (id, split) with split ``train`` or ``val``.

    ``fixed``: the cases in ``order`` (``sorted`` by id, or ``shuffled`` with ``seed``); the last
    ``val_count`` (default ``round(val_fraction * n)``) are validation. ``kfold``: the ordered cases are
    cut into ``folds`` contiguous folds after shuffling with ``seed`` and fold ``fold`` is validation.
    """
    ids = sorted(str(i) for i in ids)
    if len(set(ids)) != len(ids):
        raise ValueError("split: case ids are not unique")
    n = len(ids)
    rng = np.random.default_rng(seed)
    if mode == "fixed":
        ordered = ids if order == "sorted" else [ids[i] for i in rng.permutation(n)]
        if order not in ("sorted", "shuffled"):
            raise ValueError(f"split.order must be sorted or shuffled, got {order!r}")
        k = int(val_count) if val_count is not None else int(round(val_fraction * n))
        if not 0 <= k < n:
            raise ValueError(f"split: {k} validation cases out of {n} leaves none to train on")
        val = set(ordered[n - k:]) if k else set()
    elif mode == "kfold":
        if not 2 <= folds <= n or not 0 <= fold < folds:
            raise ValueError(f"split: fold {fold} of {folds} is not possible with {n} cases")
        ordered = [ids[i] for i in rng.permutation(n)]
        val = set(np.array_split(np.array(ordered, dtype=object), folds)[fold].tolist())
    else:
        raise ValueError(f"split.mode must be fixed or kfold, got {mode!r}")
    return pd.DataFrame({"id": ids, "split": ["val" if i in val else "train" for i in ids]})
