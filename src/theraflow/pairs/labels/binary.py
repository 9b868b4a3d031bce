"""``binary``: 0 or 1 per pair (active or not, interacts or not).

Loss: binary cross-entropy on one logit. Selected on validation AUROC. Metrics: AUROC, AUPRC, accuracy
and F1 at 0.5, Brier score. Predictions are probabilities of label 1 in [0, 1]. An ensemble's (or one
model's) probabilities are calibrated on the validation part (Platt or isotonic; expected calibration
error before and after, reliability diagram, conformal prediction sets; :mod:`theraflow.explain.classification`).
"""

from __future__ import annotations

import numpy as np

from theraflow.pairs.label import LabelKind


class Binary(LabelKind):
    name = "binary"
    field = "binary"
    monitor = "val_auroc"
    shortcut_metric = "auroc"
    mode = "max"
    summary_metrics = ("auroc", "auprc", "accuracy", "f1", "brier")
    plot_file = "roc.png"
    description = "0 or 1 per pair (active / inactive, interacts / does not)"

    def classes(self, values, declared=None) -> tuple[str, ...]:
        return ("0", "1")

    def encode(self, values, classes) -> np.ndarray:
        from theraflow.pairs.tables import class_text

        text = [class_text(v) for v in values]
        bad = sorted({t for t in text if t not in ("0", "1")})
        if bad:
            raise ValueError(f"binary labels must be 0 or 1, got {', '.join(map(repr, bad[:5]))}")
        return np.array([int(t) for t in text], dtype=np.int64)

    def check_training(self, y_train, y_valid, classes) -> None:
        for part, y in (("training", y_train), ("validation", y_valid)):
            present = set(np.unique(y).tolist())
            if present != {0, 1}:
                raise ValueError(f"the {part} part holds only label {present.pop() if present else '(none)'}: "
                                 "a binary model needs both 0s and 1s there (AUROC selects the model)")

    def loss(self, out, y, module):
        import torch

        smooth = float(module.training_cfg.get("label_smoothing") or 0.0)
        target = y.float() * (1 - smooth) + 0.5 * smooth
        return torch.nn.functional.binary_cross_entropy_with_logits(out, target)

    def predict(self, out) -> np.ndarray:
        import torch

        return torch.sigmoid(out.float()).cpu().numpy()

    def validation_metrics(self, y, pred) -> dict[str, float]:
        from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

        y = np.asarray(y, dtype=np.int64)
        p = np.clip(np.asarray(pred, dtype=np.float64), 1e-7, 1 - 1e-7)
        return {"val_auroc": float(roc_auc_score(y, p)), "val_auprc": float(average_precision_score(y, p)),
                "val_loss": float(log_loss(y, p, labels=[0, 1]))}

    def evaluate(self, y, pred, *, classes=(), n_boot=1000, threshold=None) -> dict:
        from theraflow.pairs.metrics import binary_metrics, bootstrap_intervals

        out = {"metrics": binary_metrics(y, pred)}
        out["ci95"] = bootstrap_intervals(binary_metrics, y, pred, n_boot=n_boot) if n_boot else {}
        return out

    def prediction_columns(self, pred, classes) -> dict:
        return {"prediction": pred, "predicted": np.where(np.asarray(pred) >= 0.5, "1", "0")}

    def plot(self, y, pred, path, *, title, classes, metrics) -> None:
        from theraflow.pairs.plots import binary_plot

        binary_plot(y, pred, path, title=title, metrics=metrics)

    def constant(self, y_train, n, classes) -> np.ndarray:
        return np.full(n, float(np.mean(y_train)), dtype=np.float64)

    def calibrate(self, pred_valid, y_valid, pred_test, y_test, classes) -> dict:
        from theraflow.explain.classification import classification_calibration_summary

        return classification_calibration_summary(pred_valid, y_valid, pred_test, y_test)  # its "kind": binary/multiclass

    def calibration_figure(self, summary, path=None, *, title=""):
        from theraflow.explain.classification import reliability_figure

        return reliability_figure(summary, path, title=title or "Reliability on held-out pairs")


LABEL = Binary()
