"""``multiclass``: one of several classes per pair (DrugBank's 86 interaction types).

A pair listed with two classes is two rows, each scored on its own (a model can be right on one of
them: the ceiling of accuracy on such pairs is 1/2). Loss: cross-entropy over the classes (optional
label smoothing, and ``class_weights: inverse_sqrt`` to weigh rare classes up). Selected on validation
accuracy. Metrics: accuracy, macro-F1, Cohen's kappa, micro- and macro-averaged AUPRC and the AUPRC of
every class. Probabilities are calibrated on the validation part (temperature scaling; expected
calibration error of the top class, reliability diagram, conformal prediction sets).
"""

from __future__ import annotations

import numpy as np

from theraflow.pairs.label import LabelKind


def _natural(c: str):
    try:
        return (0, float(c), c)
    except ValueError:
        return (1, 0.0, c)


class Multiclass(LabelKind):
    name = "multiclass"
    field = "class"
    monitor = "val_accuracy"
    shortcut_metric = "accuracy"
    mode = "max"
    summary_metrics = ("accuracy", "macro_f1", "kappa", "micro_auprc", "macro_auprc")
    plot_file = "confusion.png"
    description = "one of several classes per pair (interaction types)"

    def classes(self, values, declared=None) -> tuple[str, ...]:
        from theraflow.pairs.tables import class_text

        if declared:
            return tuple(class_text(c) for c in declared)
        return tuple(sorted({class_text(v) for v in values}, key=_natural))

    def encode(self, values, classes) -> np.ndarray:
        from theraflow.pairs.tables import class_text

        index = {c: i for i, c in enumerate(classes)}
        out = np.array([index.get(class_text(v), -1) for v in values], dtype=np.int64)
        if (out < 0).any():
            bad = next(v for v, o in zip(values, out) if o < 0)
            raise ValueError(f"label {bad!r} is not one of the classes ({', '.join(list(classes)[:10])} ...)")
        return out

    def n_outputs(self, classes) -> int:
        return len(classes)

    def check_training(self, y_train, y_valid, classes) -> None:
        if len(classes) < 2:
            raise ValueError(f"a multiclass model needs two classes or more, got {list(classes)}")

    def prepare(self, model, y_train, training, classes) -> dict:
        return {"class_weight": class_weights(np.asarray(y_train), len(classes), training.get("class_weights", "none"))}

    def loss(self, out, y, module):
        import torch

        weight = getattr(module, "class_weight", None)
        return torch.nn.functional.cross_entropy(out, y, weight=None if weight is None else weight.to(out.device),
                                                 label_smoothing=float(module.training_cfg.get("label_smoothing")
                                                                       or 0.0))

    def predict(self, out) -> np.ndarray:
        import torch

        return torch.softmax(out.float(), dim=-1).cpu().numpy()

    def validation_metrics(self, y, pred) -> dict[str, float]:
        from theraflow.pairs.metrics import label_metrics

        m = label_metrics(y, pred)
        p = np.clip(np.asarray(pred, dtype=np.float64)[np.arange(len(y)), np.asarray(y, dtype=np.int64)], 1e-7, 1)
        return {"val_accuracy": m["accuracy"], "val_macro_f1": m["macro_f1"], "val_loss": float(-np.log(p).mean())}

    def evaluate(self, y, pred, *, classes=(), n_boot=1000, threshold=None) -> dict:
        from theraflow.pairs.metrics import bootstrap_intervals, label_metrics, multiclass_metrics

        metrics = multiclass_metrics(y, pred, per_class=True, classes=list(classes))
        out = {"metrics": {k: v for k, v in metrics.items() if k != "per_class_auprc"},
               "per_class_auprc": metrics["per_class_auprc"]}
        if n_boot:
            out["ci95"] = bootstrap_intervals(label_metrics, y, pred, n_boot=n_boot)
        return out

    def prediction_columns(self, pred, classes) -> dict:
        pred = np.asarray(pred)
        return {"predicted": [classes[i] for i in pred.argmax(axis=1)], "probability": pred.max(axis=1),
                "probabilities.npy": pred.astype(np.float16)}  # rows of predictions.parquet, the model's classes

    def read_predictions(self, frame, model_dir) -> np.ndarray:
        from theraflow.errors import InputError

        path = model_dir / "probabilities.npy"
        if not path.exists():
            raise InputError(f"{path}: no class probabilities beside predictions.parquet")
        prob = np.load(path, allow_pickle=False).astype(np.float64)
        return prob / prob.sum(axis=1, keepdims=True)

    def plot(self, y, pred, path, *, title, classes, metrics) -> None:
        from theraflow.pairs.plots import confusion_plot

        confusion_plot(y, np.asarray(pred).argmax(axis=1), list(classes), path, title=title)

    def constant(self, y_train, n, classes) -> np.ndarray:
        freq = np.bincount(np.asarray(y_train, dtype=np.int64), minlength=len(classes)).astype(np.float64)
        return np.tile(freq / freq.sum(), (n, 1))

    def score(self, pred, classes):
        pred = np.asarray(pred)
        top = pred.argmax(axis=1)
        return pred.max(axis=1).astype(np.float64), [classes[i] for i in top]

    def calibrate(self, pred_valid, y_valid, pred_test, y_test, classes) -> dict:
        from theraflow.explain.classification import classification_calibration_summary

        return classification_calibration_summary(pred_valid, y_valid, pred_test, y_test)  # its "kind": binary/multiclass

    def calibration_figure(self, summary, path=None, *, title=""):
        from theraflow.explain.classification import reliability_figure

        return reliability_figure(summary, path, title=title or "Reliability on held-out pairs")


def class_weights(labels: np.ndarray, n_classes: int, kind: str):
    """Per-class loss weights from the training labels: None for ``none``; for ``inverse_sqrt``
    1/sqrt(count) (a class absent from training gets the rarest present class's weight), scaled so
    that the mean weight over training rows is 1 (the loss keeps its scale)."""
    import torch

    if kind in (None, "none"):
        return None
    if kind != "inverse_sqrt":
        raise ValueError(f"class_weights: {kind!r}; expected none or inverse_sqrt")
    counts = np.bincount(labels[labels >= 0], minlength=n_classes).astype(np.float64)
    w = 1.0 / np.sqrt(np.where(counts > 0, counts, counts[counts > 0].min()))
    w /= (w * counts).sum() / counts.sum()
    return torch.tensor(w, dtype=torch.float32)


LABEL = Multiclass()
