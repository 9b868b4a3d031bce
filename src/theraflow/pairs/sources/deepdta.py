"""``deepdta``: a DeepDTA-format folder (Davis, KIBA): ligands, proteins, the affinity matrix ``Y`` and,
when present, the setting-1 folds. ``dataset: davis`` converts Kd (nM) to pKd; ``kiba`` keeps the scores.
``ligands: can|iso`` picks the ligand file. The matrix is a pickle, read without running code."""

from __future__ import annotations

import logging

from theraflow.pairs.source import Loaded, PairSource

log = logging.getLogger(__name__)


def load(task, cfg: dict) -> Loaded:
    import pandas as pd

    from theraflow.pairs.loaders import deepdta_fold_files, load_deepdta, load_deepdta_folds
    from theraflow.pairs.tables import REJECT_COLUMNS

    path = cfg["path"]
    pairs = load_deepdta(path, dataset=cfg.get("dataset") or "davis", ligands=cfg.get("ligands") or "can")
    folds = None
    if any(f.exists() for f in deepdta_fold_files(path)):  # fold files that are there must be usable
        train_folds, test_fold = load_deepdta_folds(path, setting=1, n_pairs=len(pairs))
        folds = {"train": train_folds, "test": test_fold}
    else:
        log.info("%s: no setting-1 fold files; the setting1 split is unavailable", path)
    pairs["line"] = [f"Y entry {i + 1}" for i in range(len(pairs))]
    pairs["label"] = pairs["label"].astype(float)
    return Loaded(pairs, pd.DataFrame(columns=REJECT_COLUMNS), label="regression", folds=folds, files=[str(path)])


SOURCE = PairSource(name="deepdta", description="a DeepDTA-format folder (Davis, KIBA) with its setting-1 folds",
                    load=load, tasks=("dti",), options=("dataset", "ligands"))
