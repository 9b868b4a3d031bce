"""Plots of interaction models, per label kind: predicted against measured (regression), ROC, precision-recall
and a reliability diagram (binary), a confusion matrix of the most frequent classes (multiclass), and the
test metrics of every split and model (one point per seed, the mean marked)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> None:
    from theraflow.io import atomic_write

    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", bbox_inches="tight")
    _plt().close(fig)


def confusion_plot(y: np.ndarray, pred: np.ndarray, classes: list[str], path: str | Path, *, top: int = 15,
                   title: str = "") -> None:
    """Row-normalized confusion matrix of the ``top`` most frequent true types; the rest pooled as "other"."""
    plt = _plt()
    y, pred = np.asarray(y), np.asarray(pred)
    counts = np.bincount(y, minlength=len(classes))
    shown = [int(c) for c in np.argsort(-counts)[:top] if counts[c] > 0]
    pos = {c: i for i, c in enumerate(shown)}
    k = len(shown) + 1  # + other
    m = np.zeros((k, k))
    for t, p in zip(y, pred):
        m[pos.get(int(t), k - 1), pos.get(int(p), k - 1)] += 1
    rows = m.sum(axis=1, keepdims=True)
    frac = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    labels = [f"{classes[c]} (n={counts[c]})" for c in shown] + ["other classes"]
    fig, ax = plt.subplots(figsize=(0.42 * k + 3, 0.42 * k + 2), dpi=110)
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), [lab.split(" (")[0] for lab in labels], rotation=90, fontsize=7)
    ax.set_yticks(range(k), labels, fontsize=7)
    for i in range(k):
        ax.text(i, i, f"{frac[i, i]:.2f}", ha="center", va="center", fontsize=6,
                color="white" if frac[i, i] > 0.5 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (most frequent first)")
    fig.colorbar(im, ax=ax, fraction=0.04, label="share of the true class's pairs")
    ax.set_title(title or "confusion matrix", fontsize=9)
    _save(fig, path)


def binary_plot(y: np.ndarray, p: np.ndarray, path: str | Path, *, title: str = "", metrics: dict | None = None) -> None:
    """ROC, precision-recall and a reliability diagram (observed share of 1s per bin of predicted probability)."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_curve, roc_curve

    plt = _plt()
    y, p = np.asarray(y, dtype=np.int64), np.asarray(p, dtype=np.float64)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.9), dpi=110)
    if len(np.unique(y)) == 2:
        fpr, tpr, _ = roc_curve(y, p)
        prec, rec, _ = precision_recall_curve(y, p)
        axes[0].plot(fpr, tpr, color="#4363d8")
        axes[1].plot(rec, prec, color="#4363d8")
        axes[1].axhline(float(y.mean()), color="0.6", ls=":", lw=1, label=f"base rate {y.mean():.2f}")
        axes[1].legend(fontsize=7, loc="lower left")
        frac, mean_p = calibration_curve(y, p, n_bins=10, strategy="quantile")
        axes[2].plot(mean_p, frac, "o-", ms=3, color="#4363d8", label="model")
    axes[0].plot([0, 1], [0, 1], "k--", lw=0.8)
    axes[2].plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect calibration")
    m = metrics or {}
    axes[0].set(xlabel="false positive rate", ylabel="true positive rate",
                title="ROC" + (f" (AUROC {m['auroc']:.3f})" if "auroc" in m else ""))
    axes[1].set(xlabel="recall", ylabel="precision", title="precision-recall"
                + (f" (AUPRC {m['auprc']:.3f})" if "auprc" in m else ""), ylim=(0, 1.02))
    axes[2].set(xlabel="predicted probability (decile bins)", ylabel="observed share of label 1",
                title="reliability", xlim=(0, 1), ylim=(0, 1))
    axes[2].legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=9)
    _save(fig, path)


def scatter_plot(y_true, y_pred, path: str | Path, *, title: str = "", metrics: dict | None = None) -> None:
    """Predicted vs measured with the identity line; hexbins when there are many points."""
    plt = _plt()
    y, p = np.asarray(y_true, float), np.asarray(y_pred, float)
    fig, ax = plt.subplots(figsize=(5, 5), dpi=120)
    lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    pad = 0.05 * (hi - lo or 1)
    if len(y) > 2000:
        hb = ax.hexbin(y, p, gridsize=50, bins="log", cmap="viridis", mincnt=1)
        fig.colorbar(hb, ax=ax, label="pairs (log)")
    else:
        ax.scatter(y, p, s=8, alpha=0.5, edgecolor="none")
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=1, label="y = x")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel("measured")
    ax.set_ylabel("predicted")
    if metrics:
        ax.text(0.03, 0.97, "\n".join(f"{k.upper()} {metrics[k]:.3f}" for k in ("ci", "mse", "pearson", "auroc")
                                       if k in metrics),
                transform=ax.transAxes, va="top", fontsize=9,
                bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8})
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, path)


UNIT_METRICS = {"ci", "auroc", "auprc", "accuracy", "f1", "macro_f1", "kappa", "micro_auprc", "macro_auprc",
                "pearson", "spearman", "brier"}


def metrics_plot(df: pd.DataFrame, metrics: list[str], path: str | Path) -> None:
    """The test part's metrics per split and model: one point per seed, the mean marked."""
    plt = _plt()
    metrics = [m for m in metrics if m in df and df[m].notna().any()]
    fig, axes = plt.subplots(1, max(1, len(metrics)), figsize=(4.2 * max(1, len(metrics)), 3.8), dpi=110,
                             squeeze=False)
    groups = list(df.groupby(["split", "model"], sort=False))
    for ax, metric in zip(axes[0], metrics):
        for i, (_, g) in enumerate(groups):
            ax.scatter([i] * len(g), g[metric], color="#4363d8", alpha=0.6, s=14)
            ax.hlines(g[metric].mean(), i - 0.3, i + 0.3, color="k")
        ax.set_xticks(range(len(groups)), [f"{s}\n{m}" for (s, m), _ in groups], fontsize=7)
        ax.set_title(f"test {metric}")
        if metric in UNIT_METRICS and metric not in ("pearson", "spearman", "kappa"):
            ax.set_ylim(0, 1.02)
    if not metrics:
        axes[0][0].text(0.5, 0.5, "no test metrics", ha="center")
    _save(fig, path)
