"""Reference predictors that benchmarks run beside theraflow's models, on the same splits.

- :class:`ConstantPredictor`: the training part's mean label for every pair — the floor a model
  must beat on every split (its MSE is the label variance around that mean);
- :class:`FingerprintGBT`: gradient-boosted trees (LightGBM) on each pair's drug Morgan bits and
  its target's amino-acid and dipeptide composition (:mod:`theraflow.descriptors`), early-stopped
  on the validation part, within a wall-time budget.

Both fit on the ``train`` part, select on ``valid`` and never read ``test``; each records a
learning curve (validation CI and MSE against seconds) for the benchmark plots.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from theraflow.dti.metrics import regression_metrics

log = logging.getLogger(__name__)


@dataclass
class ConstantPredictor:
    """Predicts the mean training label."""

    mean: float = float("nan")
    curve: list[dict] = field(default_factory=list)

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None, **_) -> ConstantPredictor:
        self.mean = float(train["label"].mean())
        if valid is not None and len(valid):
            m = regression_metrics(valid["label"].to_numpy(), self.predict(valid))
            self.curve = [{"seconds": 0.0, "valid_ci": m["ci"], "valid_mse": m["mse"]}]
        return self

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        return np.full(len(pairs), self.mean, dtype=np.float64)


def pair_descriptors(pairs: pd.DataFrame, *, radius: int = 2, bits: int = 1024) -> np.ndarray:
    """[n_pairs, bits + 420] float32: the drug's Morgan bits, then its target's residue composition.

    Each unique SMILES and sequence is described once and gathered per pair.
    """
    from theraflow.descriptors import morgan_bits, residue_composition

    smiles, drug_row = np.unique(pairs["smiles"].astype(str).to_numpy(), return_inverse=True)
    seqs, target_row = np.unique(pairs["sequence"].fillna("").astype(str).to_numpy(), return_inverse=True)
    fp = morgan_bits(list(smiles), radius=radius, bits=bits).astype(np.float32)
    comp = residue_composition(list(seqs))
    return np.hstack([fp[drug_row], comp[target_row]])


@dataclass
class FingerprintGBT:
    """LightGBM regression on :func:`pair_descriptors`; ``max_seconds`` bounds the boosting time."""

    radius: int = 2
    bits: int = 1024
    n_estimators: int = 20_000
    learning_rate: float = 0.05
    num_leaves: int = 63
    min_child_samples: int = 10
    subsample: float = 0.8
    colsample_bytree: float = 0.5
    early_stopping: int = 200
    eval_every: int = 25
    curve: list[dict] = field(default_factory=list)
    best_iteration: int = 0
    _booster: object = None

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, *, max_seconds: float | None = None, threads: int = 2,
            seed: int = 0) -> FingerprintGBT:
        import lightgbm as lgb

        t0 = time.monotonic()
        xt, xv = (pair_descriptors(p, radius=self.radius, bits=self.bits) for p in (train, valid))
        yt, yv = train["label"].to_numpy(np.float64), valid["label"].to_numpy(np.float64)
        params = {"objective": "regression", "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                  "min_child_samples": self.min_child_samples, "bagging_fraction": self.subsample, "bagging_freq": 1,
                  "feature_fraction": self.colsample_bytree, "num_threads": threads, "seed": seed,
                  "deterministic": True, "force_row_wise": True, "verbose": -1}
        dtrain = lgb.Dataset(xt, yt, free_raw_data=False)
        dvalid = lgb.Dataset(xv, yv, reference=dtrain)
        self.curve = []

        def watch(env) -> None:
            it = env.iteration + 1
            elapsed = time.monotonic() - t0
            if it % self.eval_every == 0:
                m = regression_metrics(yv, env.model.predict(xv, num_iteration=it))
                self.curve.append({"seconds": round(elapsed, 2), "iteration": it, "valid_ci": m["ci"],
                                   "valid_mse": m["mse"]})
            if max_seconds is not None and elapsed > max_seconds:
                log.info("fingerprint GBT: %.0f-second budget reached at iteration %d", max_seconds, it)
                raise lgb.callback.EarlyStopException(env.model.best_iteration or it, env.evaluation_result_list)

        booster = lgb.train(params, dtrain, num_boost_round=self.n_estimators, valid_sets=[dvalid],
                            callbacks=[lgb.early_stopping(self.early_stopping, verbose=False), watch])
        self._booster = booster
        self.best_iteration = int(booster.best_iteration or booster.current_iteration())
        return self

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        if self._booster is None:
            raise RuntimeError("FingerprintGBT.predict before fit")
        x = pair_descriptors(pairs, radius=self.radius, bits=self.bits)
        return self._booster.predict(x, num_iteration=self.best_iteration)
