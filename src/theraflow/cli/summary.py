"""theraflow summary: print the summaries of finished runs."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("summary", help="print run summaries (kept, rejected, store hits/misses; time and estimated "
                                       "energy per stage)",
                       description=__doc__)
    p.add_argument("paths", nargs="+", help="summary.json files, or results directories to search")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    import pandas as pd

    from theraflow.chem.shards import format_summary, load_summary
    from theraflow.errors import UserError

    shown = 0
    for p in map(Path, args.paths):
        if not p.exists():
            raise UserError(f"{p}: no such file or directory")
        chem = sorted(p.glob("chem/*/summary.json")) if p.is_dir() else [p]
        for f in chem:
            print(format_summary(load_summary(f)))
            print()
            shown += 1
        if not p.is_dir():
            continue
        for f in sorted(p.glob("*/*/metrics.tsv")):
            if not (f.parent / "dataset.json").exists():
                continue
            print(pair_summary(f))
            print()
            shown += 1
        for f in sorted(p.glob("score/*/summary.json")):
            s = json.loads(f.read_text())
            targets = s["targets"].values() if isinstance(s["targets"], dict) else s["targets"]  # earlier: by id
            outside = sum(v["outside_domain"] for v in targets)
            print(f"theraflow screen — {f.parent.name}")
            print(f"  records {s['records']}, scored {s['kept']}, rejected {s['rejected']}; "
                  f"{len(s['targets'])} target(s), {s['pairs']} pairs ({outside} outside the domain)")
            print(f"  feature store: {s['store_hits']} hits, {s['store_misses']} misses")
            print(f"  report: {f.parent / 'report.html'}")
            print()
            shown += 1
        for f in sorted(p.glob("imaging/*/measurements.tsv")):
            df = pd.read_csv(f, sep="\t")
            print(f"theraflow segmentation — {f.parent.name}")
            line = f"  {len(df)} cases segmented"
            if "dice_mean" in df.columns and df["dice_mean"].notna().any():
                val = df[df["split"] == "val"] if "split" in df.columns and (df["split"] == "val").any() else df
                part = "validation" if val is not df else "all"
                line += f"; mean Dice ({part}, {len(val)} cases) {val['dice_mean'].mean():.3f}"
                dice = [c for c in df.columns if c.startswith("dice_") and c != "dice_mean"]
                line += "".join(f", {c.removeprefix('dice_')} {val[c].mean():.3f}" for c in dice)
            print(line)
            print(f"  report: {f.parent / 'report.html'}")
            print()
            shown += 1
        bench = p / "logs" / "benchmarks"
        if bench.is_dir():
            from theraflow.energy import format_costs, run_costs

            print(format_costs(run_costs(bench, root=bench),
                               f"theraflow run cost — time and estimated energy per stage ({bench})"))
            print()
            shown += 1
    if not shown:
        raise UserError(f"no run summaries found under {', '.join(args.paths)}; has the workflow run?")
    return 0


def pair_summary(metrics_tsv: Path) -> str:
    """A pair task's data set: pairs given, kept, rejected; each split and model's test metrics (the label
    kind's), mean over seeds, with the pairs of the test part that could not be scored."""
    import json

    import pandas as pd

    from theraflow.pairs.metrics import metric_name
    from theraflow.registry import LABELS

    info = json.loads((metrics_tsv.parent / "dataset.json").read_text())
    kind = info.get("label_kind", "regression")
    df = pd.read_csv(metrics_tsv, sep="\t")
    test = df[df["part"] == "test"]
    lines = [f"theraflow {info.get('task_name', metrics_tsv.parent.parent.name)} — {metrics_tsv.parent.name} "
             f"({kind} labels; {info.get('rows_given', info.get('pairs', '?'))} rows given, {info.get('pairs', '?')} "
             f"pairs kept, {info.get('rejected_rows', 0)} rejected; test part, mean over seeds)"]
    metrics = [m for m in LABELS.get(kind).summary_metrics if m in test and test[m].notna().any()][:4]
    for (split, model), g in test.groupby(["split", "model"], sort=False):
        shown = "  ".join(f"{metric_name(m)} {g[m].mean():.3f}" for m in metrics)
        lost = f"; {int(g['pairs_rejected'].max())} test pair(s) not scored" if "pairs_rejected" in g and \
            g["pairs_rejected"].max() > 0 else ""
        lines.append(f"  {split:<12} {model:<22} {shown}  ({len(g)} seed(s){lost})")
    lines += count_lines(metrics_tsv, info)
    # this data set's stages (dataset, split, train, evaluate ...): results/logs/benchmarks/<task>/<ds>
    results = metrics_tsv.parents[2]
    bench = results / "logs" / "benchmarks" / metrics_tsv.parent.relative_to(results)
    if bench.is_dir():
        from theraflow.energy import run_costs

        c = run_costs(bench)
        t = c["totals"]
        per = ", ".join(f"{r['stage'].split()[-1]} {r['cpu_seconds']:.0f} s" for _, r in c["stages"].iterrows())
        lines.append(f"  time and energy: {t['jobs']} job(s), {t['job_seconds']:.0f} s of job time, "
                     f"{t['cpu_seconds']:.0f} CPU s ({per}), {t['energy_wh']:.3g} Wh estimated (method below)")
    return "\n".join(lines)


def count_lines(metrics_tsv: Path, info: dict) -> list[str]:
    """Where the rows went: the dataset stage's rejects by reason, then per split every part's rows given,
    scored and rejected by reason (metrics.summary.tsv, from each run's metrics.json)."""
    import pandas as pd

    from theraflow.pairs.rejects import counts_line, parse_reasons

    lines = []
    if info.get("rejected_reasons"):
        why = ", ".join(f"{k} {v:,}" for k, v in info["rejected_reasons"].items())
        lines.append(f"  rows rejected by the dataset stage: {info.get('rejected_rows', 0):,} ({why})")
    merged = info.get("n_replicates_merged")
    if merged:
        rule = (info.get("replicates") or {}).get("aggregate", "median")
        lines.append(f"  replicates merged: {merged:,} row(s) into the pair they repeat ({rule} label)")
    for role, f in (info.get("shared_sequences") or {}).items():
        lines.append(f"  {f['ids']:,} {role} ids share {f['sequences']:,} sequence(s) (e.g. {', '.join(f['example'])}): "
                     f"kept apart as the table names them")
    summary = metrics_tsv.with_name(metrics_tsv.stem + ".summary.tsv")
    if not summary.exists():
        return lines
    df = pd.read_csv(summary, sep="\t")
    if "n_given" not in df:
        return lines
    df = df[df["n_given"].notna()]
    order = {"train": 0, "valid": 1, "test": 2}
    if "shortcut_flag" in df:  # splits whose labels an entity-frequency rule predicts nearly as well as the model
        flagged = df[df["shortcut_flag"].fillna(False).astype(bool) & df["part"].isin(["test", "valid"])]
        for split, g in flagged.groupby("split", sort=False):
            r = g.sort_values("part", key=lambda s: s.map(order)).iloc[-1]
            lines.append(f"  {split}: SHORTCUT — an entity-frequency rule scores {r['shortcut_metric']} "
                         f"{r['shortcut_baseline']:.3f} on the {r['part']} part, close to the model: its figures say "
                         "little about new chemistry (metrics.json 'shortcut')")
    for split, g in df.groupby("split", sort=False):
        first = g[g["model"] == g["model"].iat[0]].sort_values("part", key=lambda s: s.map(order))
        lines.append(f"  {split}: pairs per part")
        for _, r in first.iterrows():
            lines.append("    " + counts_line(r["part"], int(r["n_given"]), int(r["n_scored"]),
                                              parse_reasons(r.get("rejected_reasons")),
                                              int(r["n_merged"]) if pd.notna(r.get("n_merged")) else 0))
    return lines
