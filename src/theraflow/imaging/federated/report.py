"""The federated run's report: held-out Dice per round (the global model, and each site's returned weights where
measured), each site's training loss, the time and energy per round, who answered, and what was received.

Reads what the coordinator wrote (``server/history.tsv``, ``sites.tsv``, ``received.jsonl``, ``summary.json``)
and the sites plan (``sites.json``, for case counts and acquisitions); writes ``report.html`` and ``rounds.png``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from theraflow.io import InputError, atomic_write


def _figure(history: pd.DataFrame, sites: pd.DataFrame):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    ax = axes[0]
    dice_cols = [c for c in history.columns if c.startswith("dice_")]
    if "dice" in history:
        ax.plot(history["round"], history["dice"], "o-", color="black", lw=2, label="global model (mean)")
        for c in dice_cols:
            ax.plot(history["round"], history[c], "--", lw=1, label=f"global: {c[5:]}")
    if len(sites) and "site_model_dice" in sites:
        for site, rows in sites.groupby("site"):
            ax.plot(rows["round"], rows["site_model_dice"], ".:", alpha=0.7, label=f"site {site}'s weights")
    ax.set(xlabel="round", ylabel="Dice on the held-out cases", title="Held-out Dice per round", ylim=(0, 1))
    ax.legend(fontsize=7)
    ax = axes[1]
    if len(sites):
        for site, rows in sites.groupby("site"):
            ax.plot(rows["round"], rows["train_loss"], "o-", ms=3, label=f"site {site}")
    ax.set(xlabel="round", ylabel="training loss (last local epoch)", title="Each site's training loss")
    ax.legend(fontsize=7)
    ax = axes[2]
    rounds = history[history["round"] > 0]
    ax.bar(rounds["round"], rounds["seconds"], color="#4c72b0", label="seconds")
    ax.set(xlabel="round", ylabel="seconds (wall, the round)", title="Time and the sites' energy per round")
    if "energy_wh" in rounds and rounds["energy_wh"].notna().any():
        twin = ax.twinx()
        twin.plot(rounds["round"], rounds["energy_wh"], "o-", color="#dd8452", label="Wh (sites)")
        twin.set_ylabel("Wh, the sites' training (codecarbon estimate)")
    from matplotlib.ticker import MaxNLocator

    for a in axes:
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def build_report(run: str | os.PathLike, output: str | os.PathLike | None = None,
                 sites_plan: str | os.PathLike | None = None) -> Path:
    """Write ``report.html`` (and ``rounds.png``) for the federated run folder ``run``; return the page."""
    import io

    from theraflow.report.html import HtmlReport, esc

    run = Path(run)
    server = run / "server"
    if not (server / "history.tsv").exists():
        raise InputError(f"{server}: no history.tsv (expected a federated run's coordinator folder)")
    history = pd.read_csv(server / "history.tsv", sep="\t")
    sites = pd.read_csv(server / "sites.tsv", sep="\t") if (server / "sites.tsv").exists() else pd.DataFrame()
    plan = json.loads((run / "plan.json").read_text()) if (run / "plan.json").exists() else {}
    made = json.loads(Path(sites_plan).read_text()) if sites_plan else None
    received = [json.loads(x) for x in (server / "received.jsonl").read_text().splitlines()] \
        if (server / "received.jsonl").exists() else []
    last = history.iloc[-1]
    rep = HtmlReport("theraflow federated segmentation",
                     f"{plan.get('strategy', '?')}, {int(last['round'])} rounds of {plan.get('local_epochs', '?')} "
                     f"local epochs across {plan.get('sites', '?')} sites")
    kpis = [("held-out Dice (last round)", f"{last['dice']:.3f}" if "dice" in last and pd.notna(last["dice"]) else "—"),
            ("rounds", int(last["round"])), ("sites", plan.get("sites", "?")),
            ("replies refused", sum(1 for r in received if r.get("refused"))),
            ("time", f"{history['seconds'].sum() / 60:.1f} min"),
            ("sites' energy", f"{history['energy_wh'].sum():.2f} Wh" if "energy_wh" in history else "—")]
    if "epsilon" in history and history["epsilon"].notna().any():
        kpis.append(("differential privacy", f"ε = {history['epsilon'].dropna().iloc[-1]:.2f} at δ = "
                                             f"{history['delta'].dropna().iloc[-1]:g}"))
    fig = _figure(history, sites)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    with atomic_write(run / "rounds.png", "wb") as fh:
        fh.write(buf.getvalue())
    rep.add_section("Summary", HtmlReport.kpis(kpis) + HtmlReport.png(
        buf.getvalue(), "Dice, loss, time and energy per round",
        "Left: the global model's Dice on the held-out cases (no site holds them) after each round; dotted, each "
        "site's returned weights on the same cases. Middle: each site's training loss. Right: each round's wall "
        "time and the energy the sites reported for their training.", palette=True))
    rep.add_section("Rounds", HtmlReport.table(history))
    if len(sites):
        rep.add_section("Per site and round", HtmlReport.table(sites.drop(columns=["node"], errors="ignore")))
    if made:
        rows = pd.DataFrame([{k: s[k] for k in ("site", "cases", "share", "scale", "gamma", "noise")}
                             for s in made["sites"]])
        rep.add_section("Sites", "<p>Each site's cases and the acquisition its images were given "
                                 "(theraflow.imaging.federated.sites).</p>" + HtmlReport.table(rows))
    lines = [f"round {r['round']}: node {r['node']}: " + (f"REFUSED ({r['refused']})" if r.get("refused") else
             ", ".join(f"{k}: {v.get('tensors', '')} tensors, {v.get('bytes', 0) / 1e6:.2f} MB" if v["kind"] == "ArrayRecord"
                       else f"{k}: {sorted(v.get('metrics', {}))}" for k, v in r["records"].items()))
             for r in received]
    rep.add_section("What the coordinator received", "<p>Every reply, as the coordinator logged it "
                    "(server/received.jsonl): the network's tensors and the names of the numbers, nothing "
                    "else.</p>" + HtmlReport.pre("\n".join(lines) or "(nothing)"))
    rep.add_section("Plan", HtmlReport.pre(json.dumps({k: v for k, v in plan.items() if k != "model"}, indent=1))
                    + f"<p>Model config: {esc(plan.get('model', {}).get('name', ''))}</p>")
    return rep.write(output or run / "report.html")
