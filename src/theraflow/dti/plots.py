"""Plots for interaction models: predicted vs measured, and metrics across splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def scatter_plot(y_true, y_pred, path: str | Path, *, title: str = "", metrics: dict | None = None) -> None:
    """Predicted vs measured with the identity line; hexbins when there are many points."""
    from theraflow.io import atomic_write

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
        ax.text(0.03, 0.97, "\n".join(f"{k.upper()} {metrics[k]:.3f}" for k in ("ci", "mse", "pearson") if k in metrics),
                transform=ax.transAxes, va="top", fontsize=9,
                bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8})
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png")
    plt.close(fig)


def metrics_plot(df, path: str | Path) -> None:
    """Test CI and MSE per split and model, one point per seed, mean marked."""
    from theraflow.io import atomic_write

    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=120)
    groups = list(df.groupby(["split", "model"]))
    for ax, metric in zip(axes, ("ci", "mse")):
        for i, ((split, model), g) in enumerate(groups):
            ax.scatter([i] * len(g), g[metric], color="tab:blue", alpha=0.6)
            ax.hlines(g[metric].mean(), i - 0.3, i + 0.3, color="k")
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([f"{s}\n{m}" for (s, m), _ in groups], fontsize=8)
        ax.set_title(f"test {metric.upper()}")
    fig.tight_layout()
    with atomic_write(Path(path), "wb") as fh:
        fig.savefig(fh, format="png")
    plt.close(fig)
