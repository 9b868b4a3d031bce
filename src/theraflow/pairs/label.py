"""Label kinds: what a pair's label is, and everything that follows from it.

A label kind (one module per kind under :mod:`theraflow.pairs.labels`, ``LABEL = ...``) owns

- how labels are read from a table (``field``: a number, 0/1, one of declared classes) and encoded;
- the head's width (``n_outputs``), the **loss** (the LightningModule calls ``loss``; it does not know
  which task it trains — as chemprop's predictors carry their loss), what training sets up from the
  training labels (``prepare``: the label scale of a regression, class weights) and after it
  (``finish``: a regression's fallback and shrinkage);
- the **metrics**, the validation metric that **selects** the model (``monitor``, ``mode``), the columns
  of the summary table, the per-run **plot**;
- how an ensemble's predictions are **calibrated** on the validation part and measured on the test part.

Predictions (``predict``) are a value per pair (regression), the probability of label 1 (binary) or
class probabilities [n, k] (multiclass).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class LabelKind:
    name: str = ""
    field: str = ""  # the pair-table field kind of the label column ("number", "binary", "class")
    monitor: str = ""  # the validation metric that selects the model
    mode: str = "max"
    shortcut_metric: str = ""  # the test metric (higher is better) the shortcut audit compares (pairs.shortcut)
    loss_name: str = "train_loss"  # the history's training-loss column
    summary_metrics: tuple[str, ...] = ()  # columns of the summary table and plot (those present)
    plot_file: str = ""  # the per-run plot evaluate writes
    description: str = ""
    probability: bool = True  # are predictions probabilities (in [0, 1])?

    # ------------------------------------------------------------------ labels
    def classes(self, values, declared=None) -> tuple[str, ...]:
        return ()

    def encode(self, values, classes) -> np.ndarray:
        raise NotImplementedError

    def n_outputs(self, classes) -> int:
        return 1

    # ------------------------------------------------------------------ training
    def check_training(self, y_train: np.ndarray, y_valid: np.ndarray, classes) -> None:
        """Refuse labels this kind cannot train on (with the reason)."""

    def prepare(self, model, y_train: np.ndarray, training: dict, classes) -> dict:
        """Set up the model from the training labels; returns what the loss needs (a context)."""
        return {}

    def loss(self, out, y, context: dict, training: dict):
        raise NotImplementedError

    def finish(self, model, data, train_idx, valid_idx, training: dict, predict) -> dict | None:
        """After training, with the selected weights: anything fitted on the training/validation labels."""
        return None

    # ------------------------------------------------------------------ predictions and metrics
    def predict(self, out) -> np.ndarray:
        raise NotImplementedError

    def validation_metrics(self, y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
        raise NotImplementedError

    def evaluate(self, y: np.ndarray, pred: np.ndarray, *, classes=(), n_boot: int = 1000,
                 threshold: float | None = None) -> dict:
        raise NotImplementedError

    def prediction_columns(self, pred: np.ndarray, classes) -> dict[str, Any]:
        """Columns of predictions.parquet (and arrays to keep beside it)."""
        return {"prediction": pred}

    def read_predictions(self, frame, model_dir: Path) -> np.ndarray:
        return frame["prediction"].to_numpy(dtype=np.float64)

    def plot(self, y: np.ndarray, pred: np.ndarray, path, *, title: str, classes, metrics: dict) -> None:
        raise NotImplementedError

    def constant(self, y_train: np.ndarray, n: int, classes) -> np.ndarray:
        """The reference that reads nothing but the training labels (mean, base rate, class frequencies)."""
        raise NotImplementedError

    def score(self, pred: np.ndarray, classes) -> tuple[np.ndarray, list | None]:
        """One number per pair to rank by in a screen (and the class it is about, for multiclass)."""
        return np.asarray(pred, dtype=np.float64), None

    # ------------------------------------------------------------------ calibration of an ensemble
    def calibrate(self, pred_valid: np.ndarray, y_valid: np.ndarray, pred_test: np.ndarray, y_test: np.ndarray,
                  classes) -> dict:
        """Fit on validation predictions [models, n, ...], measure on the test part; a JSON summary."""
        raise NotImplementedError

    def calibration_figure(self, summary: dict, path=None, *, title: str = ""):
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<label kind {self.name}>"
