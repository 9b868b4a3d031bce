"""theraflow summary: print the summaries of finished runs."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("summary", help="print run summaries (kept, rejected, time, store hits/misses)",
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
            outside = sum(v["outside_domain"] for v in s["targets"].values())
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
    return "\n".join(lines)
