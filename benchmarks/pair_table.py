"""Any pair table a user brings, side by side: theraflow's default recipe for the task beside the task's fingerprint
reference and the constant (base-rate) predictor, on the same splits, rows and budget.

    .venv/bin/python benchmarks/pair_table.py --task dti --table my_pairs.csv \\
        --columns smiles=SMILES,sequence=Protein,label=Y --minutes 5 --out benchmarks/results/my_pairs.json
    .venv/bin/python benchmarks/pair_table.py --task ddi --train train.csv --valid valid.csv --test test.csv

With ``--table`` the script makes a ``random`` split and a cold one (molecules unseen in training for a
drug–target task, one drug unseen for a drug–drug task); with ``--train/--valid/--test`` it uses the parts as
given (``valid`` may be left out: it is then carved from train). The label kind is the table's (0/1 →
binary, numbers → regression, anything else → multiclass) unless ``--label`` or ``--threshold`` says
otherwise. Everything runs through the workflow (``theraflow <task> ...`` stages): the data set, the
chemistry stages, the splits, theraflow's training and evaluation; the references are fitted here on the
workflow's split files and the same rows. Selection uses validation carved from training; the test part
is read once, at the end.

The JSON holds ``task``, ``label_kind``, ``n_given``, ``n_scored`` and ``n_rejected`` per split and part (the
rows of each given file, the pairs scored, the pairs rejected with ``rejected_reasons``: every given test
pair is scored or counted as rejected with its reason), and ``side_by_side`` rows ``{"model": "theraflow" |
"fingerprint" | "entity_frequency" | "constant", "split": ..., <metric>: ..., "shortcut_flag": ...}`` —
auroc/auprc/accuracy for binary labels, accuracy/macro_f1/kappa for multiclass, ci/mse for regression (each
with ``<metric>_sd`` over seeds), the minutes, the commit and the date.

``entity_frequency`` is the shortcut audit's baseline (:mod:`theraflow.pairs.shortcut`), measured on every
split whatever ``--models`` says: each pair scored by how its drugs' (targets') training pairs were labelled,
no structure at all. ``shortcut`` says per split whether it comes within the audit's margin of the model
(theraflow's row, else the fingerprint's) or is near perfect alone — ``{split: {"flag": true | false,
"metric": ..., "entity_frequency": ..., "model": ..., "model_value": ..., "sentence": ...}}`` — and every row of
that split carries the flag as ``shortcut_flag``. A flagged split's figures say how well a model recognises
entities it saw labelled, not how well it reads new structures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _common as common  # noqa: E402
import _side_by_side as sbs  # noqa: E402

REPO = HERE.parent
HEADLINE = {"binary": ("auroc", "auprc", "accuracy"), "multiclass": ("accuracy", "macro_f1", "kappa"),
            "regression": ("ci", "mse")}


def parse_args(argv=None):
    from theraflow.registry import LABELS, TASKS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", required=True, choices=TASKS.names())
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--table", help="one pair table (CSV/TSV/Parquet): a random and a cold split are made")
    src.add_argument("--train", help="the train file of a table shipped in parts (with --test, optionally --valid)")
    ap.add_argument("--valid", help="the validation file (default: carved from --train)")
    ap.add_argument("--test", help="the test file")
    ap.add_argument("--columns", default="", help="your columns of the task's fields: field=COLUMN,... "
                                                  "(e.g. smiles=SMILES,sequence=Protein,label=Y)")
    ap.add_argument("--label", choices=LABELS.names(), help="the label kind (default: inferred from the labels)")
    ap.add_argument("--threshold", type=float, help="numeric labels at or above this are 1 (binary)")
    ap.add_argument("--minutes", type=float, default=5.0, help="training budget per run, every model (default 5)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of every model (default: 0)")
    ap.add_argument("--models", nargs="+", default=["theraflow", "fingerprint", "constant"],
                    choices=["theraflow", "fingerprint", "constant"])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples of the intervals (default 200)")
    ap.add_argument("--workdir", default="/tmp/theraflow-pair-table")
    ap.add_argument("--store", default=str(REPO / "resources" / "feature_store"))
    ap.add_argument("--fresh", action="store_true", help="empty the workdir first (default: reuse finished runs)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "pair_table.json"))
    args = ap.parse_args(argv)
    if args.train and not args.test:
        ap.error("--train needs --test (and optionally --valid)")
    if args.table and (args.valid or args.test):
        ap.error("--valid/--test go with --train, not with --table")
    return ap, args


def workflow_config(args) -> tuple[dict, list[str]]:
    """The workflow config of this run and its split names."""
    from theraflow.pairs.split_kinds import not_applicable
    from theraflow.registry import TASKS

    task = TASKS.get(args.task)
    columns = dict(kv.split("=", 1) for kv in args.columns.split(",") if kv)
    ds = {"source": "table", "columns": columns, "on_error": "reject"}
    if args.table:
        ds["path"] = str(Path(args.table).resolve())
        cold = next(k for k in ("cold_drug", "one_unseen", "cold_target") if not not_applicable(task, k))
        splits = [{"kind": "random"}, {"kind": cold}]
    else:
        ds["parts"] = {p: str(Path(getattr(args, p)).resolve()) for p in ("train", "valid", "test") if getattr(args, p)}
        splits = [{"kind": "given"}]
    if args.label:
        ds["label"] = args.label
    if args.threshold is not None:
        ds["threshold"] = args.threshold
    section = {"datasets": {"table": ds}, "splits": splits, "models": [task.default_model], "seeds": args.seeds,
               "max_minutes": args.minutes, "threads": args.cores, "bootstrap": args.bootstrap}
    cfg = {"results": "results", "store": str(Path(args.store).resolve()), args.task: section}
    return cfg, [s["kind"] for s in splits]


def counts(res: Path, split: str) -> tuple[dict, dict, dict, dict]:
    """(given, scored, rejected, reasons) per part, as the workflow's evaluate stage counts them
    (:func:`theraflow.pairs.rejects.split_counts`): a given part counts its file's rows, the rows rejected
    while reading it included; a made split counts its pairs (rows rejected while reading belong to no part);
    a pair whose molecule the chemistry stage rejected counts under its molecule's reason."""
    from theraflow.pairs.rejects import split_counts

    spec = sbs.spec_of(res)
    molecules = res.parent.parent / "chem" / f"{res.parent.name}_{res.name}" / "molecules.parquet"
    c = split_counts(spec, res / "pairs.parquet", res / "splits" / f"{split}.parquet",
                     molecules if molecules.exists() else None)
    rejected = {p: sum(r.values()) for p, r in c["n_rejected"].items()}
    return c["n_given"], c["n_scored"], rejected, c["n_rejected"]


def flatten(row: dict, label: str) -> dict:
    """A side-by-side row with each metric's mean as the plain value and its sd beside it."""
    out = {k: v for k, v in row.items() if not (isinstance(v, dict) and "mean" in v)}
    for k, v in row.items():
        if isinstance(v, dict) and "mean" in v:
            out[k] = v["mean"]
            out[f"{k}_sd"] = v["sd"]
            out.setdefault("per_seed", {})[k] = v["per_seed"]
    return out


def shortcut_by_split(spec, side: list[dict], splits: list[str]) -> dict:
    """Per split, the entity-frequency baseline's test figure beside the model's (theraflow's row, else the
    fingerprint's) with the shortcut audit's rule and sentence; every row of a split gets its ``shortcut_flag``."""
    from theraflow.pairs.shortcut import (
        BASELINE,
        NEAR_PERFECT,
        SHORTCUT_MARGIN,
        shortcut_flag,
        shortcut_sentence,
    )

    metric = spec.label.shortcut_metric
    out = {}
    for s in splits:
        rows = {r["model"]: r for r in side if r.get("split") == s}
        if BASELINE not in rows:
            continue
        base = rows[BASELINE].get(metric)
        against = next((m for m in ("theraflow", "fingerprint") if m in rows), None)
        value = rows[against].get(metric) if against else None
        flag = shortcut_flag(base, value)
        result = {"flag": flag, "metric": metric, BASELINE: base, "model": against, "model_value": value,
                  "margin": SHORTCUT_MARGIN, "near_perfect_at": NEAR_PERFECT}
        result["sentence"] = shortcut_sentence(spec, {"metric": metric, "flag": flag, BASELINE: {"test": {metric: base}},
                                                      "parts": {"test": {"model": value}}})
        out[s] = result
        for r in rows.values():
            r["shortcut_flag"] = flag
    return out


def main(argv=None) -> int:
    ap, args = parse_args(argv)
    cfg, splits = workflow_config(args)
    work = common.prepare_workdir(args, cfg)
    res = work / "results" / args.task / "table"
    model = cfg[args.task]["models"][0]
    runs = {model: {s: args.seeds for s in splits}} if "theraflow" in args.models else {}
    rc, wall, stamp = sbs.train_models(work, res, splits, runs, args.cores)
    if rc == 0:  # the references read the molecules the chemistry stage kept
        rc, more = common.run_workflow(work, [f"results/chem/{args.task}_table/molecules.parquet"], args.cores)
        wall += more
    if rc != 0:
        return rc
    info = json.loads((res / "dataset.json").read_text())
    kind = info["label_kind"]
    rows, n_given, n_scored, n_rejected, reasons = [], {}, {}, {}, {}
    for s in splits:
        n_given[s], n_scored[s], n_rejected[s], reasons[s] = counts(res, s)
        if "theraflow" in args.models:
            rows.append(sbs.neural_row(res, s, model, args.seeds, args.bootstrap, name="theraflow"))
        refs = [m for m in ("fingerprint", "constant") if m in args.models] + ["entity_frequency"]
        if refs:
            rows += sbs.reference_rows(res, s, refs, budget=args.minutes, cores=args.cores,
                                       bootstrap=args.bootstrap, seeds=args.seeds)
        for r in rows:
            r.setdefault("split", s)
    side = [{**flatten(r, kind), **stamp} for r in rows]
    shortcut = shortcut_by_split(sbs.spec_of(res), side, splits)
    report = {
        "task": args.task, "label_kind": kind, "label_kind_reason": info.get("label_kind_reason"),
        "table": args.table or {p: getattr(args, p) for p in ("train", "valid", "test") if getattr(args, p)},
        "columns": args.columns, "threshold": args.threshold, "rows_given": info["rows_given"],
        "rows_rejected_at_reading": info["rejected_rows"], "n_given": n_given, "n_scored": n_scored,
        "n_rejected": n_rejected, "rejected_reasons": reasons, "minutes_per_run": args.minutes,
        "seeds": args.seeds, "workflow_wall_seconds": round(wall, 1),
        "machine": common.machine_info(cores_used=args.cores),
        "protocol": ("one script, the workflow's split files for every model; selection on the validation part "
                     "(carved from training where none is given); the test part read once after training; the "
                     f"same {args.minutes}-minute budget per run on {args.cores} cores; the references see the rows "
                     "theraflow sees (pairs whose molecules the chemistry stage kept)"),
        "shortcut": shortcut,
        "side_by_side": side,
    }
    common.write_json(report, args.out)
    head = HEADLINE[kind]
    print(f"\n{args.task} table, {kind} labels ({info.get('label_kind_reason')}); {info['rows_given']} rows given, "
          f"{info['rejected_rows']} rejected while reading")
    line = f"{'split':<12} {'model':<16} " + " ".join(f"{m:>9}" for m in head) + "  min/run"
    print(line + "\n" + "-" * len(line))
    for r in side:
        print(f"{r['split']:<12} {r['model']:<16} " + " ".join(f"{r.get(m, float('nan')):>9.3f}" for m in head)
              + f"  {r['minutes']:>7.2f}")
    for s, sc in shortcut.items():
        print(f"{s}: {'SHORTCUT FLAGGED: ' if sc['flag'] else 'shortcut audit: '}{sc['sentence']}")
    for s in splits:
        t = n_given[s].get("test", 0)
        print(f"{s}: test pairs given {t}, scored {n_scored[s].get('test', 0)}, rejected {n_rejected[s].get('test', 0)}"
              + (f" ({reasons[s].get('test')})" if reasons[s].get("test") else ""))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
