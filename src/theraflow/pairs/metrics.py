"""Metrics of interaction models for every label kind, with bootstrap intervals.

Regression: concordance index, MSE, RMSE, Pearson, Spearman (and AUROC/AUPRC of labels at or above a
threshold). Binary: AUROC, AUPRC, accuracy, F1 at 0.5, Brier score. Multiclass (one class per row; a
pair listed with two classes is two rows, each counted once): accuracy, macro-F1, Cohen's kappa,
micro- and macro-averaged AUPRC of the class probabilities and the AUPRC of every class. Bootstrap
percentile intervals resample rows (multiclass: of accuracy, macro-F1 and kappa only — the AUPRCs of
86 classes, 1,000 times over, would cost minutes).

The concordance index (CI) is the one DeepDTA and GraphDTA report: over all pairs of
samples whose true values differ, the fraction ordered the same way by the
predictions, a tie in the predictions counting one half. :func:`concordance_index`
computes it in O(n log n) from Kendall's tau-b (scipy's merge-sort implementation) and
the tie counts: with Nc/Nd the concordant/discordant pairs,

    CI = 1/2 + (Nc - Nd) / (2 * pairs not tied in y)

:func:`concordance_index_reference` is the O(n^2) definition, for tests.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

NAMES = {"ci": "CI", "mse": "MSE", "rmse": "RMSE", "pearson": "Pearson", "spearman": "Spearman", "auroc": "AUROC",
         "auprc": "AUPRC", "accuracy": "accuracy", "f1": "F1", "brier": "Brier", "macro_f1": "macro-F1",
         "kappa": "kappa", "micro_auprc": "micro-AUPRC", "macro_auprc": "macro-AUPRC"}


def metric_name(key: str) -> str:
    """How a metric is written for a reader."""
    return NAMES.get(key, key)


def _tied_pairs(values: np.ndarray) -> float:
    _, counts = np.unique(values, return_counts=True)
    return float((counts * (counts - 1) // 2).sum())


def concordance_index(y_true, y_pred) -> float:
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError("y_true and y_pred must be 1-D arrays of the same length")
    n = len(y)
    n0 = n * (n - 1) / 2
    untied_y = n0 - _tied_pairs(y)
    if untied_y == 0:
        return float("nan")
    untied_p = n0 - _tied_pairs(p)
    if untied_p == 0:
        return 0.5
    from scipy import stats  # here, not at import: scoring workers load models without scipy (1 s)

    tau_b = stats.kendalltau(y, p, variant="b").statistic
    nc_minus_nd = tau_b * np.sqrt(untied_y * untied_p)
    return float(0.5 + nc_minus_nd / (2 * untied_y))


def concordance_index_reference(y_true, y_pred) -> float:
    """The O(n^2) definition (DeepDTA's get_cindex)."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    num = den = 0.0
    for i in range(len(y)):
        for j in range(i):
            if y[i] == y[j]:
                continue
            hi, lo = (i, j) if y[i] > y[j] else (j, i)
            den += 1
            num += 1.0 if p[hi] > p[lo] else 0.5 if p[hi] == p[lo] else 0.0
    return num / den if den else float("nan")


def regression_metrics(y_true, y_pred) -> dict[str, float]:
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    from scipy import stats

    mse = float(np.mean((y - p) ** 2))
    constant = np.all(p == p[0]) or np.all(y == y[0])
    return {
        "ci": concordance_index(y, p),
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "pearson": float("nan") if constant else float(stats.pearsonr(y, p).statistic),
        "spearman": float("nan") if constant else float(stats.spearmanr(y, p).statistic),
        "n": int(len(y)),
    }


def classification_metrics(y_true, score) -> dict[str, float]:
    """AUROC and AUPRC for binary labels (0/1) and real-valued scores (a regression model's values)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(y_true)
    s = np.asarray(score, dtype=np.float64)
    classes = set(np.unique(y).tolist())
    if not classes <= {0, 1}:
        raise ValueError(f"binary labels must be 0/1, got values {sorted(classes)[:5]}")
    if len(classes) < 2:
        return {"auroc": float("nan"), "auprc": float("nan"), "n": int(len(y))}
    return {"auroc": float(roc_auc_score(y, s)), "auprc": float(average_precision_score(y, s)),
            "n": int(len(y))}


def bootstrap_intervals(metric_fn: Callable[[np.ndarray, np.ndarray], dict[str, float]], y_true, y_pred,
                        n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> dict[str, list[float]]:
    """Percentile bootstrap (1 - alpha) intervals of every metric ``metric_fn`` returns."""
    y = np.asarray(y_true)
    p = np.asarray(y_pred)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        for k, v in metric_fn(y[idx], p[idx]).items():
            if k != "n":
                draws.setdefault(k, []).append(v)
    return {k: [float(np.nanpercentile(v, 100 * alpha / 2)), float(np.nanpercentile(v, 100 * (1 - alpha / 2)))]
            for k, v in draws.items()}


def binary_metrics(y, p) -> dict[str, float]:
    """AUROC, AUPRC, accuracy and F1 at 0.5, Brier score of probabilities ``p`` of label 1."""
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        brier_score_loss,
        f1_score,
        roc_auc_score,
    )

    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(p, dtype=np.float64)
    p = p[:, 1] if p.ndim == 2 else p
    two = len(np.unique(y)) == 2
    return {"auroc": float(roc_auc_score(y, p)) if two else float("nan"),
            "auprc": float(average_precision_score(y, p)) if two else float("nan"),
            "accuracy": float(accuracy_score(y, p >= 0.5)), "f1": float(f1_score(y, p >= 0.5, zero_division=0)),
            "brier": float(brier_score_loss(y, p, pos_label=1)) if len(y) else float("nan"), "n": int(len(y))}


def multiclass_metrics(y, prob, *, per_class: bool = False, classes: list[str] | None = None) -> dict:
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
    if per_class:
        names = classes or [str(i) for i in range(prob.shape[1])]
        out["per_class_auprc"] = {names[c]: round(v, 4) for c, v in per.items()}
    return out


def label_metrics(y, prob) -> dict[str, float]:
    """Accuracy, macro-F1 and kappa of class probabilities: what a multiclass bootstrap resamples."""
    from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

    y = np.asarray(y, dtype=np.int64)
    pred = np.asarray(prob).argmax(axis=1)
    return {"accuracy": float(accuracy_score(y, pred)),
            "macro_f1": float(f1_score(y, pred, labels=np.unique(y), average="macro", zero_division=0)),
            "kappa": float(cohen_kappa_score(y, pred))}
