"""Metrics of drug–drug interaction predictions, as the DDI literature reports them.

Multi-class (one interaction type per row; an ordered pair with two types is two rows, each
counted once): accuracy, macro-F1 and Cohen's kappa over the predicted types, micro- and
macro-averaged AUPRC of the class probabilities (macro over the types present in the labels),
and the AUPRC of every type. Binary: AUROC, AUPRC, accuracy and F1 at 0.5. Bootstrap
percentile intervals over rows (multi-class: of accuracy, macro-F1 and kappa).
"""

from __future__ import annotations

import numpy as np

from theraflow.dti.metrics import bootstrap_intervals


def multiclass_metrics(y: np.ndarray, prob: np.ndarray, *, per_type: bool = False,
                       classes: list[str] | None = None) -> dict:
    from sklearn.metrics import accuracy_score, average_precision_score, cohen_kappa_score, f1_score

    y = np.asarray(y, dtype=np.int64)
    prob = np.asarray(prob, dtype=np.float64)
    pred = prob.argmax(axis=1)
    present = np.unique(y)
    onehot = np.zeros_like(prob)
    onehot[np.arange(len(y)), y] = 1
    per = {int(c): float(average_precision_score(onehot[:, c], prob[:, c])) for c in present}
    out = {"accuracy": float(accuracy_score(y, pred)),
           "macro_f1": float(f1_score(y, pred, labels=present, average="macro", zero_division=0)),
           "kappa": float(cohen_kappa_score(y, pred)),
           "micro_auprc": float(average_precision_score(onehot.ravel(), prob.ravel())),
           "macro_auprc": float(np.mean(list(per.values()))), "n": int(len(y))}
    if per_type:
        names = classes or [str(i) for i in range(prob.shape[1])]
        out["per_type_auprc"] = {names[c]: round(v, 4) for c, v in per.items()}
    return out


def label_metrics(y: np.ndarray, prob: np.ndarray) -> dict:
    """Accuracy, macro-F1 and kappa only: what the bootstrap resamples (the AUPRCs of 86 types,
    1,000 times over, would cost minutes)."""
    from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

    y = np.asarray(y, dtype=np.int64)
    pred = np.asarray(prob).argmax(axis=1)
    return {"accuracy": float(accuracy_score(y, pred)),
            "macro_f1": float(f1_score(y, pred, labels=np.unique(y), average="macro", zero_division=0)),
            "kappa": float(cohen_kappa_score(y, pred))}


def binary_metrics(y: np.ndarray, prob: np.ndarray) -> dict:
    from sklearn.metrics import accuracy_score, average_precision_score, f1_score, roc_auc_score

    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(prob, dtype=np.float64)
    p = p[:, 1] if p.ndim == 2 else p
    two = len(np.unique(y)) == 2
    return {"auroc": float(roc_auc_score(y, p)) if two else float("nan"),
            "auprc": float(average_precision_score(y, p)) if two else float("nan"),
            "accuracy": float(accuracy_score(y, p >= 0.5)), "f1": float(f1_score(y, p >= 0.5, zero_division=0)),
            "n": int(len(y))}


def evaluate(y: np.ndarray, prob: np.ndarray, *, binary: bool, classes: list[str] | None = None,
             n_boot: int = 1000, seed: int = 0) -> dict:
    """Metrics (with the per-type AUPRC for multi-class data) and their bootstrap 95 % intervals."""
    if binary:
        metrics = binary_metrics(y, prob)
        fn = binary_metrics
    else:
        metrics = multiclass_metrics(y, prob, per_type=True, classes=classes)
        fn = label_metrics
    out = {"metrics": {k: v for k, v in metrics.items() if k != "per_type_auprc"}}
    if "per_type_auprc" in metrics:
        out["per_type_auprc"] = metrics["per_type_auprc"]
    if n_boot:
        out["ci95"] = bootstrap_intervals(fn, y, prob, n_boot=n_boot, seed=seed)
    return out
