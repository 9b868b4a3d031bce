"""Plots of drug–drug interaction models: a confusion matrix of the most frequent types, ROC/PR for
binary data, and metrics across splits and models."""

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
    labels = [f"type {classes[c]} (n={counts[c]})" for c in shown] + ["other types"]
    fig, ax = plt.subplots(figsize=(0.42 * k + 3, 0.42 * k + 2), dpi=110)
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), [lab.split(" (")[0] for lab in labels], rotation=90, fontsize=7)
    ax.set_yticks(range(k), labels, fontsize=7)
    for i in range(k):
        ax.text(i, i, f"{frac[i, i]:.2f}", ha="center", va="center", fontsize=6,
                color="white" if frac[i, i] > 0.5 else "black")
    ax.set_xlabel("predicted type")
    ax.set_ylabel("true type (most frequent first)")
    fig.colorbar(im, ax=ax, fraction=0.04, label="share of the true type's pairs")
    ax.set_title(title or "confusion matrix", fontsize=9)
    _save(fig, path)


def binary_plot(y: np.ndarray, p: np.ndarray, path: str | Path, *, title: str = "") -> None:
    from sklearn.metrics import precision_recall_curve, roc_curve

    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.8), dpi=110)
    if len(np.unique(y)) == 2:
        fpr, tpr, _ = roc_curve(y, p)
        prec, rec, _ = precision_recall_curve(y, p)
        axes[0].plot(fpr, tpr)
        axes[1].plot(rec, prec)
    axes[0].plot([0, 1], [0, 1], "k--", lw=0.8)
    axes[0].set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    axes[1].set(xlabel="recall", ylabel="precision", title="precision-recall")
    fig.suptitle(title, fontsize=9)
    _save(fig, path)


def metrics_plot(df: pd.DataFrame, metrics: list[str], path: str | Path) -> None:
    """Mean ± sd over seeds of each metric, per split and model (test part)."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.5), dpi=110, squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        g = df.groupby(["split", "model"])[metric].agg(["mean", "std"]).reset_index()
        names = [f"{s}\n{m}" for s, m in zip(g["split"], g["model"])]
        ax.bar(range(len(g)), g["mean"], yerr=g["std"].fillna(0), capsize=3, color="#4363d8")
        ax.set_xticks(range(len(g)), names, fontsize=7)
        ax.set_title(metric)
        ax.set_ylim(0, 1)
    _save(fig, path)
