"""The imaging report: one self-contained HTML file (figures embedded) plus the figures as PNG.

Sections: the model and run, rejected cases, a summary per structure (and per split), the
Dice distribution, the learning curve, the worst cases with their overlays, and the
per-case table.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from theraflow.imaging.measure import summarize
from theraflow.io import read_table, write_bytes
from theraflow.report.html import HtmlReport


def _read(t) -> pd.DataFrame | None:
    if t is None:
        return None
    if isinstance(t, pd.DataFrame):
        return t
    path = Path(t)
    if not path.exists():
        return None
    return read_table(path)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def dice_figure(table: pd.DataFrame, names: list[str]) -> bytes | None:
    """Box plot with the individual cases of Dice per structure (and per split)."""
    cols = [f"dice_{n}" for n in names if f"dice_{n}" in table.columns]
    if not cols or table[cols].isna().all().all():
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = [s for s in ("train", "val") if "split" in table.columns and (table["split"] == s).any()] or [None]
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(cols) * len(splits), 3.6))
    data, ticks, pos = [], [], []
    rng = np.random.default_rng(0)
    i = 0
    for col in cols:
        for s in splits:
            vals = table.loc[table["split"] == s, col] if s else table[col]
            vals = vals.dropna().astype(float).to_numpy()
            data.append(vals)
            pos.append(i)
            ticks.append(col.removeprefix("dice_") + (f"\n({s}, n={len(vals)})" if s else f"\n(n={len(vals)})"))
            ax.scatter(i + rng.uniform(-0.15, 0.15, len(vals)), vals, s=8, alpha=0.6, color="#4363d8", zorder=3)
            i += 1
    ax.boxplot(data, positions=pos, widths=0.5, showfliers=False)
    ax.set_xticks(pos, ticks, fontsize=8)
    ax.set_ylabel("Dice")
    ax.set_ylim(max(0.0, min((d.min() for d in data if len(d)), default=0) - 0.05), 1.0)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("Dice per case")
    fig.tight_layout()
    return _png(fig)


def curve_figure(history: pd.DataFrame) -> bytes | None:
    if history is None or history.empty or "train_loss" not in history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(history["epoch"], history["train_loss"], color="#e6194b", label="training loss (Dice+CE)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if "val_dice" in history and history["val_dice"].notna().any():
        ax2 = ax.twinx()
        v = history.dropna(subset=["val_dice"])
        ax2.plot(v["epoch"], v["val_dice"], "o-", color="#3cb44b", ms=3, label="validation Dice (mean)")
        ax2.set_ylabel("Dice")
        ax2.set_ylim(0, 1)
        lines = ax.get_lines() + ax2.get_lines()
        ax.legend(lines, [ln.get_label() for ln in lines], fontsize=8, loc="center right")
    ax.set_title("Learning curve")
    fig.tight_layout()
    return _png(fig)


def qc_figure(table: pd.DataFrame, qc: dict) -> bytes:
    """Uncertainty score against mean Dice per validation case, with the QC threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    flagged = table["qc_flag"].to_numpy(bool)
    ax.scatter(table.loc[~flagged, "uncertainty"], table.loc[~flagged, "dice_mean"], s=14, color="#4363d8",
               label="not flagged")
    ax.scatter(table.loc[flagged, "uncertainty"], table.loc[flagged, "dice_mean"], s=22, color="#e6194b",
               marker="D", label="QC flag")
    ax.axvline(qc["threshold"], color="#b5462f", ls="--", lw=1, label=f"threshold {qc['threshold']:.3g}")
    ax.axhline(qc["poor_dice_at_most"], color="0.5", ls=":", lw=1, label=f"worst {qc['poor_share']:.0%} Dice")
    ax.set_xlabel("uncertainty (mean mirror-pass spread over the structures)")
    ax.set_ylabel("mean Dice")
    ax.set_title(f"Validation cases: Spearman {qc['spearman_uncertainty_dice']:.2f}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def _qc_section(table: pd.DataFrame) -> tuple[pd.DataFrame, str, bytes | None, dict | None]:
    """Fit the QC threshold on the validation cases, flag every case; the section's HTML and figure."""
    from theraflow.imaging.qc import apply_qc, fit_qc

    if "uncertainty" not in table or table["uncertainty"].isna().all():
        return table, "", None, None
    val = table[table["split"] == "val"] if "split" in table and (table["split"] == "val").any() else None
    n_val = 0 if val is None or "dice_mean" not in val else int(val["dice_mean"].notna().sum())
    if n_val < 5:
        return table, ("<p>Each case has an uncertainty score (mean spread of the mirror passes over its "
                       f"structures) in the table below. A QC threshold is chosen on at least 5 validation cases "
                       f"with labels; this run has {n_val}.</p>"), None, None
    qc = fit_qc(val)
    table = apply_qc(table, qc["threshold"])
    fig = qc_figure(table[table["split"] == "val"].dropna(subset=["dice_mean", "uncertainty"]), qc)
    flagged = table[table["qc_flag"]]
    cols = [c for c in ("id", "split", "uncertainty", "dice_mean") if c in table]
    body = (f"<p>Uncertainty per case is the mean voxel-wise spread of the mirror-image passes over the "
            f"predicted structures (maps in <code>uncertainty/</code> beside the masks). On the {qc['cases']} "
            f"validation cases its Spearman correlation with mean Dice is <b>{qc['spearman_uncertainty_dice']:.2f}"
            f"</b> (p = {qc['spearman_p']:.2g}). The QC threshold, chosen on those cases to single out the worst "
            f"{qc['poor_share']:.0%} by Dice (at most {qc['poor_dice_at_most']:.3f}), is "
            f"<b>{qc['threshold']:.4g}</b>: it flags {qc['flagged']} validation case(s), {qc['poor_flagged']} of "
            f"the {qc['poor_cases']} worst. <span class='warn'>{len(flagged)} case(s) flagged</span> in all: "
            f"look at these first.</p>" + HtmlReport.png(fig, "uncertainty against Dice")
            + HtmlReport.table(flagged[cols].sort_values("uncertainty", ascending=False), floatfmt="{:.4g}"))
    return table, body, fig, qc


def build_report(measurements: Any, out_html: str | os.PathLike, *, labels: dict[int, str],
                 model: str | os.PathLike | None = None, history: Any = None, rejects: Any = None,
                 overlays: Any = None, worst: int = 5, title: str = "theraflow segmentation report",
                 figures_dir: str | os.PathLike | None = None,
                 benchmarks: Sequence[str | os.PathLike] = ()) -> dict[str, Any]:
    """Write the HTML report; return the summary (also embedded in the report). ``benchmarks``: folders of the
    Snakemake benchmark files of the stages behind it (time and estimated energy per stage; the summary's
    ``cost``)."""
    table = _read(measurements)
    if table is None:
        raise FileNotFoundError(f"{measurements}: measurements table not found")
    labels = {int(k): str(v) for k, v in labels.items()}
    names = [v for k, v in labels.items() if k != 0]
    summary = summarize(table, labels)
    hist = _read(history)
    rej = _read(rejects)
    ov = _read(overlays)
    record: dict[str, Any] = {}
    if model is not None and (Path(model) / "model.json").exists():
        record = json.loads((Path(model) / "model.json").read_text()).get("record", {})

    rep = HtmlReport(title, f"{len(table)} cases")

    def table_html(df: pd.DataFrame) -> str:
        return HtmlReport.table(df, floatfmt="{:.4g}", max_rows=1000)

    if record:
        keys = ["network", "parameters", "epochs", "train_cases", "val_cases", "seconds_per_epoch",
                "train_seconds_total", "device", "precision", "selected"]
        rep.add_section("Model", table_html(pd.DataFrame([{k: record.get(k) for k in keys}])))
    cases = f"<p>{len(table)} cases measured" + (f", {len(rej)} rejected" if rej is not None else "") + ".</p>"
    if rej is not None and len(rej):
        cases += "<p>Rejected cases and why:</p>" + table_html(rej)
    rep.add_section("Cases", cases)
    rows = []
    for group in [g for g in ("val", "train", "all") if g in summary]:
        s = summary[group]
        for name in names:
            row = {"cases": group, "structure": name}
            for metric in ("dice", "hd95_mm", "volume_ml"):
                st = s.get(f"{metric}_{name}")
                if st:
                    row[f"{metric} mean"] = st["mean"]
                    row[f"{metric} median"] = st["median"]
                    row[f"{metric} sd"] = st["sd"]
            rows.append(row)
    rep.add_section("Summary", table_html(pd.DataFrame(rows)))
    figs = {}
    table, qc_body, qc_png, qc = _qc_section(table)
    if qc_body:
        rep.add_section("Uncertainty and QC", qc_body)
        if qc_png:
            figs["uncertainty_qc.png"] = qc_png
            summary["qc"] = qc
    dice_png = dice_figure(table, names)
    if dice_png:
        figs["dice_distribution.png"] = dice_png
        rep.add_section("Dice distribution", HtmlReport.png(dice_png, "Dice per case"))
    curve_png = curve_figure(hist)
    if curve_png:
        figs["learning_curve.png"] = curve_png
        rep.add_section("Learning curve", HtmlReport.png(curve_png, "learning curve"))
    if ov is not None and len(ov):
        pngs = dict(zip(ov["id"].astype(str), ov["png"], strict=True))
        if "dice_mean" in table.columns and table["dice_mean"].notna().any():
            pool = table[table["split"] == "val"] if "split" in table.columns and (table["split"] == "val").any() \
                else table
            chosen = pool.sort_values("dice_mean").head(worst)
            heading = f"Worst {len(chosen)} cases by mean Dice" + (" (validation)" if pool is not table else "")
        else:
            chosen = table.head(worst)
            heading = f"First {len(chosen)} cases"
        shown = []
        for r in chosen.to_dict("records"):
            png = pngs.get(str(r["id"]))
            if png and Path(png).exists():
                dice = r.get("dice_mean")
                caption = str(r["id"]) + (f": mean Dice {dice:.3f}" if isinstance(dice, float) and dice == dice else "")
                shown.append(HtmlReport.png(Path(png).read_bytes(), str(r["id"]), caption))
        rep.add_section(heading, "".join(shown))
    rep.add_section("Per-case measurements",
                    "<p class='muted'>volumes in mL; HD95 in mm; Dice on the scan's own grid.</p>"
                    + table_html(table.sort_values("dice_mean") if "dice_mean" in table else table))
    from theraflow.energy import costs_html, run_costs

    costs = run_costs(list(benchmarks), exclude_stages=("report",))
    energy = record.get("train_energy") or {}
    training = [{"model": Path(model).name if model else "", "seconds": record.get("train_seconds_total"),
                 "energy_wh": energy.get("energy_wh"),
                 "method": energy.get("method", "not recorded (trained before theraflow recorded energy)")}] \
        if record else []
    rep.add_section("Time and energy", costs_html(costs, training=training))
    summary["cost"] = {"stages": costs["stages"].to_dict("records"), "totals": costs["totals"],
                       "method": costs["power"].method()}
    rep.add_section("Summary (JSON)", HtmlReport.pre(json.dumps(summary, indent=1, default=str)))
    rep.write(out_html)
    if figures_dir is not None:
        for name, data in figs.items():
            write_bytes(Path(figures_dir) / name, data)
    return summary
