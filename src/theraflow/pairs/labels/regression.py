"""``regression``: a real number per pair (an affinity: pKd, a KIBA score).

Loss: MSE on labels standardized on the training part (the head outputs ``raw · sd + mean``, so the
network learns unit-scale targets on any label scale). Selected on validation MSE. Metrics: the
concordance index (as DeepDTA and GraphDTA report it), MSE, RMSE, Pearson, Spearman, and AUROC/AUPRC
of labels at or above ``binary_threshold`` when one is set. After training the model keeps a fallback
(the training labels' mean and each role's entity offsets) and, with ``training.calibrate``, shrinks its
predictions toward it by a weight fitted on the validation pairs. An ensemble's spread is calibrated on
the validation part (variance scaling + split-conformal multipliers; :mod:`theraflow.explain.calibration`).
"""

from __future__ import annotations

import logging

import numpy as np

from theraflow.pairs.label import LabelKind

log = logging.getLogger(__name__)


class Regression(LabelKind):
    name = "regression"
    field = "number"
    monitor = "val_mse"
    shortcut_metric = "ci"
    mode = "min"
    loss_name = "train_mse"
    summary_metrics = ("ci", "mse", "pearson", "spearman", "auroc", "auprc")
    plot_file = "scatter.png"
    description = "a real number per pair (an affinity)"
    probability = False

    def encode(self, values, classes) -> np.ndarray:
        import pandas as pd

        return pd.to_numeric(values, errors="raise").to_numpy(dtype=np.float32)

    def check_training(self, y_train, y_valid, classes) -> None:
        if not np.isfinite(np.asarray(y_train, dtype=np.float64)).all():
            raise ValueError("training labels must be finite numbers")

    def prepare(self, model, y_train, training, classes) -> dict:
        y = np.asarray(y_train, dtype=np.float64)
        scale = {"mean": float(y.mean()), "sd": float(y.std()) if y.std() > 0 else 1.0}
        model.head.set_output(scale["sd"], scale["mean"])
        return {"label_scale": scale}

    def loss(self, out, y, module):
        import torch

        scale = module.model.head.out_scale  # standardized label units: one optimization on any scale
        return torch.nn.functional.mse_loss(out / scale, y.float() / scale)

    @staticmethod
    def loss_unit(module) -> float:  # the loss is in standardized units: sd² back to label units
        return float(module.model.head.out_scale) ** 2

    def finish(self, model, data, train_idx, valid_idx, training, predict) -> dict | None:
        set_fallback(model, data, train_idx)
        return shrink_to_fallback(model, data, valid_idx, predict) if training.get("calibrate") else None

    def predict(self, out) -> np.ndarray:
        return out.float().cpu().numpy()

    def validation_metrics(self, y, pred) -> dict[str, float]:
        from theraflow.pairs.metrics import regression_metrics

        m = regression_metrics(y, pred)
        return {"val_mse": m["mse"], "val_ci": m["ci"]}

    def evaluate(self, y, pred, *, classes=(), n_boot=1000, threshold=None) -> dict:
        from theraflow.pairs.metrics import bootstrap_intervals, classification_metrics, regression_metrics

        out = {"metrics": regression_metrics(y, pred)}
        out["ci95"] = bootstrap_intervals(regression_metrics, y, pred, n_boot=n_boot) if n_boot else {}
        if threshold is not None:
            yb = (np.asarray(y) >= threshold).astype(int)
            auc = lambda a, b: {k: v for k, v in classification_metrics(a, b).items() if k != "n"}  # noqa: E731
            out["metrics"].update(auc(yb, pred))
            if n_boot:
                out["ci95"].update(bootstrap_intervals(auc, yb, pred, n_boot=n_boot))
            out["binary_threshold"] = threshold
        return out

    def plot(self, y, pred, path, *, title, classes, metrics) -> None:
        from theraflow.pairs.plots import scatter_plot

        scatter_plot(y, pred, path, title=title, metrics=metrics)

    def constant(self, y_train, n, classes) -> np.ndarray:
        return np.full(n, float(np.mean(y_train)), dtype=np.float64)

    def calibrate(self, pred_valid, y_valid, pred_test, y_test, classes) -> dict:
        from theraflow.explain.calibration import calibration_summary

        return {"kind": "regression spread", **calibration_summary(pred_valid, y_valid, pred_test, y_test)}

    def calibration_figure(self, summary, path=None, *, title=""):
        from theraflow.explain.calibration import coverage_figure

        return coverage_figure(summary, path, title=title or "Interval coverage on held-out pairs")


def set_fallback(model, data, train_idx: np.ndarray) -> None:
    """The model's fallback from the training labels: their mean, and each role's entity mean offsets
    (rows of the model's vocabularies; see :class:`~theraflow.nn.pair.PairModel`)."""
    import torch

    y = data.label[train_idx].astype(np.float64)
    mean = float(y.mean())
    with torch.no_grad():
        model.fallback_mean.fill_(mean)
        for role in model.role_names:
            table = getattr(model, f"fallback_{role}")
            ent = data.vocab_rows(role, train_idx)
            n = len(table) - 1
            ok = (ent >= 0) & (ent < n)
            sums = np.bincount(ent[ok], weights=y[ok] - mean, minlength=n)
            counts = np.bincount(ent[ok], minlength=n)
            table[:n] = torch.from_numpy(np.divide(sums, counts, out=np.zeros(n), where=counts > 0))
            table[n] = 0.0


def shrink_to_fallback(model, data, valid_idx: np.ndarray, predict) -> dict:
    """Fit the shrinkage weight w in [0, 1] of ``fallback + w · (score - fallback)`` on the validation
    pairs (least squares) and set it on the model.

    Where the validation part holds what a split keeps out of training (drugs never seen in a
    cold-drug split), w measures how far the network's departures from what the training labels
    alone say (mean, entity offsets) carry over to such pairs, and shrinks them by as much. Only
    shrinking: a free intercept or a stretch fitted on a few validation drugs does not carry over to
    other new drugs (measured on Davis cold splits). Rankings within a target keep their order. On
    pairs like the training ones w ≈ 1."""
    import torch

    model.shrink.fill_(1.0)
    pred = predict(model, data, valid_idx).astype(np.float64)
    with torch.no_grad():
        base = model.fallback(torch.from_numpy(data.vocab_rows(model.role_names[0], valid_idx)),
                              torch.from_numpy(data.vocab_rows(model.role_names[1], valid_idx))).double().numpy()
    y = data.label[valid_idx].astype(np.float64)
    d = pred - base
    w = float(np.clip(((y - base) * d).sum() / (d * d).sum(), 0.0, 1.0)) if (d * d).sum() > 0 else 0.0
    model.shrink.fill_(w)
    shrunk = base + w * d
    result = {"w": w, "valid_mse_before": float(((pred - y) ** 2).mean()),
              "valid_mse_after": float(((shrunk - y) ** 2).mean()),
              "valid_mse_fallback": float(((base - y) ** 2).mean())}
    log.info("calibration on %d validation pairs: predictions shrunk toward the training fallback by w = %.3f "
             "(validation MSE %.4f -> %.4f; fallback alone %.4f)", len(y), w, result["valid_mse_before"],
             result["valid_mse_after"], result["valid_mse_fallback"])
    return result


LABEL = Regression()
