"""theraflow <task>: the stages of a pair task — one command family for every registered task.

Each task (``theraflow dti``, ``theraflow ddi``, and any a plugin registers) has the same stages:
dataset | split | train | evaluate | calibrate | table | score. Choices (tasks, sources, label kinds,
split kinds, columns) come from the registries.
"""

from __future__ import annotations

import argparse

from theraflow.cli.common import parse_columns


def register(sub) -> None:
    from theraflow.registry import LABELS, SOURCES, SPLITS, TASKS

    for name in TASKS.names():
        task = TASKS.get(name)
        p = sub.add_parser(name, help=f"{task.description}: dataset | split | train | evaluate | calibrate | table "
                                      "| score", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=run, task=name)
        ss = p.add_subparsers(dest="stage", metavar="STAGE", required=True)
        sources = [s for s in SOURCES.names() if SOURCES.get(s).serves(name)]

        d = ss.add_parser("dataset", help="read a pair data set into pairs.parquet, molecules.csv, classes.tsv, "
                                          "rejects.tsv, dataset.json")
        d.add_argument("--source", choices=sources, default="table",
                       help="; ".join(f"{s}: {SOURCES.get(s).description}" for s in sources))
        d.add_argument("--path", help="the source's folder or table")
        for part in ("train", "valid", "test"):
            d.add_argument(f"--{part}", metavar="FILE", help=f"table source: the {part} file of a set shipped in parts")
        d.add_argument("--split-column", help="table source: a column naming each row's part (train/valid/test)")
        d.add_argument("--label", choices=[k for k in LABELS.names() if k in task.labels],
                       help="the label kind (default: the source's, else inferred from the labels and said in the log)")
        d.add_argument("--threshold", type=float, help="labels at or above this are 1, the rest 0 (binary)")
        d.add_argument("--classes", nargs="+", help="the declared classes of a multiclass label, in order")
        d.add_argument("--column", action="append", metavar="FIELD=NAME", default=[],
                       help=f"your table's column of a field ({', '.join(task.fields())})")
        d.add_argument("--drugs", help="a molecule table (id, smiles) for a table naming molecules by id only")
        for opt in sorted({o for s in sources for o in SOURCES.get(s).options} - {"parts", "split_column", "columns",
                                                                                    "drugs", "classes"}):
            d.add_argument(f"--{opt.replace('_', '-')}", help=f"source option {opt}")
        d.add_argument("--replicates", choices=["median", "mean"], default=None,
                       help="a pair measured on several rows (regression): its label is their median (default) or mean")
        d.add_argument("--max-replicate-spread", type=_spread, default=None, metavar="UNITS",
                       help="regression replicates spreading more than this contradict: every row of the pair is a "
                            "rejects row (default 1.0, one log unit; 'none': no limit)")
        d.add_argument("--on-error", choices=["stop", "reject"], default="reject",
                       help="a bad row: write it to rejects.tsv with its reason and go on (default), or stop naming it")
        d.add_argument("--outdir", required=True)

        s = ss.add_parser("split", help="make one split with its manifest and leakage audit")
        s.add_argument("--pairs", required=True)
        s.add_argument("--folds", help="folds.json (setting1; default: beside the pairs)")
        s.add_argument("--kind", required=True, choices=SPLITS.names())
        s.add_argument("--name", help="split name (default: the kind)")
        s.add_argument("--outdir", required=True)
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--test-frac", type=float, default=0.1)
        s.add_argument("--valid-frac", type=float, default=0.1)
        s.add_argument("--valid-fold", type=int, default=None, help="setting1: use this train fold as validation")

        t = ss.add_parser("train", help="train a model on a split (the shared training runtime)")
        t.add_argument("--pairs", required=True)
        t.add_argument("--split", required=True)
        t.add_argument("--molecules", help="standardized molecules (molecules.parquet of the chemistry stages)")
        t.add_argument("--store", help="feature store")
        t.add_argument("--model-config", required=True, help="models/<name>/config.yaml")
        t.add_argument("--outdir", required=True)
        t.add_argument("--seed", type=int, default=0)
        t.add_argument("--max-minutes", type=float)
        t.add_argument("--max-epochs", type=int)
        t.add_argument("--threads", type=int)
        t.add_argument("--no-resume", action="store_true", help="start over even if a checkpoint exists")

        e = ss.add_parser("evaluate", help="predictions, metrics with bootstrap intervals, the label kind's plot")
        e.add_argument("--model", required=True, help="trained model directory")
        e.add_argument("--pairs", required=True)
        e.add_argument("--split", required=True)
        e.add_argument("--molecules")
        e.add_argument("--store")
        e.add_argument("--outdir", required=True)
        e.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (0: none)")
        e.add_argument("--binary-threshold", type=float,
                       help="regression: also report AUROC/AUPRC with labels at or above this counted active")

        c = ss.add_parser("calibrate", help="calibrate an ensemble on its validation part, measure on its test part")
        c.add_argument("--model", action="append", required=True, dest="models", metavar="DIR",
                       help="an evaluated model (its predictions.parquet); give each seed of the ensemble")
        c.add_argument("-o", "--output", required=True, help="calibration.json")
        c.add_argument("--plot", help="the coverage (regression) or reliability (classification) plot, PNG")

        tb = ss.add_parser("table", help="metrics table (per run, mean ± sd over seeds) and plot")
        tb.add_argument("metrics", nargs="+", help="metrics.json files")
        tb.add_argument("-o", "--output", required=True, help="metrics.tsv")
        tb.add_argument("--plot", help="PNG of the test metrics per split and model")

        sc = ss.add_parser("score", help=f"score molecules against {task.partner}s (both orders for ordered pairs of "
                                         "two molecules)")
        sc.add_argument("molecules", help=".smi file or table (id, smiles[, name])")
        sc.add_argument("--partners", help=f"the {task.partner}s: FASTA or table (proteins), .smi or table "
                                           "(molecules); default: those the models trained on")
        sc.add_argument("--model", action="append", required=True, dest="models", metavar="DIR",
                        help="trained model directory (repeat: an ensemble)")
        sc.add_argument("--store", help="feature store")
        sc.add_argument("--top-k", type=int, default=3, help="multiclass: classes per pair (default 3)")
        sc.add_argument("--ad-threshold", type=float, default=0.3, help="flag molecules below this similarity")
        sc.add_argument("-o", "--output", required=True, help="scores table (.tsv/.csv/.parquet)")
        sc.add_argument("--rejects", help="molecules that could not be scored (default: beside the output)")
        sc.add_argument("--report", help="also write an HTML report here")


def _spread(text: str) -> float | str:
    if text.strip().lower() in ("none", "null"):
        return "none"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (or 'none')") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def dataset_config(args) -> dict:
    from theraflow.registry import SOURCES, TASKS

    task = TASKS.get(args.task)
    cfg = {"source": args.source, "path": args.path, "label": args.label, "threshold": args.threshold,
           "classes": args.classes, "on_error": args.on_error, "drugs": args.drugs,
           "split_column": args.split_column,
           "columns": parse_columns(args.column, tuple(task.fields()))}
    parts = {p: getattr(args, p) for p in ("train", "valid", "test") if getattr(args, p)}
    if parts:
        cfg["parts"] = parts
    replicates = {}
    if getattr(args, "replicates", None):
        replicates["aggregate"] = args.replicates
    if getattr(args, "max_replicate_spread", None) is not None:
        replicates["max_spread"] = None if args.max_replicate_spread == "none" else args.max_replicate_spread
    if replicates:
        cfg["replicates"] = replicates
    for opt in SOURCES.get(args.source).options:
        value = getattr(args, opt, None)
        if value is not None and opt not in cfg:
            cfg[opt] = value
    return {k: v for k, v in cfg.items() if v not in (None, {}, [])}


def run(args: argparse.Namespace) -> int:
    from theraflow.pairs import stages
    from theraflow.progress import _enabled

    stage = args.stage
    if getattr(args, "pairs", None):  # split, train, evaluate: the data set must be one of this task
        from theraflow.errors import InputError

        made_for = stages.dataset_info(args.pairs).get("task_name")
        if made_for and made_for != args.task:
            raise InputError(f"{args.pairs}: a {made_for} data set, not {args.task}; "
                             f"use `theraflow {made_for} {stage}`")
    if stage == "dataset":
        info = stages.prepare_dataset(args.task, dataset_config(args), args.outdir)
        why = ", ".join(f"{k} {v}" for k, v in (info.get("rejected_reasons") or {}).items())
        print(f"{info['pairs']} pairs ({info['label_kind']} labels: {info['label_kind_reason']}); "
              f"{info['rejected_rows']} row(s) rejected (rejects.tsv{': ' + why if why else ''}); "
              f"{info.get('n_replicates_merged', 0)} replicate row(s) merged")
    elif stage == "split":
        m = stages.split_stage(args.pairs, args.kind, args.outdir, name=args.name, folds_path=args.folds,
                               seed=args.seed, test_frac=args.test_frac, valid_frac=args.valid_frac,
                               valid_fold=args.valid_fold)
        print(f"split {m['name']}: {m['counts']}")
    elif stage == "train":
        meta = stages.train_stage(pairs_path=args.pairs, split_path=args.split, molecules_path=args.molecules,
                                  store=args.store, model_config=args.model_config, outdir=args.outdir,
                                  seed=args.seed, max_minutes=args.max_minutes, max_epochs=args.max_epochs,
                                  threads=args.threads, progress=_enabled, resume=not args.no_resume)
        e = meta.get("train_energy") or {}
        wh = f"{e['energy_wh']:.3g} Wh" if e.get("energy_wh") is not None else "energy not measured"
        print(f"trained {meta['epochs_trained']} epochs in {meta['train_seconds']} s ({wh}: {e.get('method', '')}); "
              f"best {meta['monitor']} {meta['best_val']}")
    elif stage == "evaluate":
        res = stages.evaluate_stage(model_dir=args.model, pairs_path=args.pairs, split_path=args.split,
                                    molecules_path=args.molecules, store=args.store, outdir=args.outdir,
                                    n_boot=args.bootstrap, binary_threshold=args.binary_threshold)
        from theraflow.pairs.rejects import counts_line, metrics_counts

        for part, r in res["parts"].items():
            shown = "  ".join(f"{k} {v:.3f}" for k, v in r["metrics"].items() if k != "n")
            print(f"{part}: {shown}  (n={r['metrics']['n']}; {res['counts'][part]['rejected']} pair(s) not scored)")
        for part, c in metrics_counts(res).items():
            print(counts_line(part, c["n_given"], c["n_scored"], c["n_rejected"], c["n_merged"]))
    elif stage == "calibrate":
        s = stages.calibrate_stage(args.models, args.output, args.plot)
        print(calibration_line(s))
    elif stage == "table":
        print(stages.metrics_table(args.metrics, args.output, args.plot).to_string(index=False))
    elif stage == "score":
        from pathlib import Path

        from theraflow.io import write_table
        from theraflow.pairs.scoring import read_drug_table, read_partners, score_pairs

        scores, rejects = score_pairs(read_drug_table(args.molecules), args.models,
                                      partners=read_partners(args.partners, args.task) if args.partners else None,
                                      store=args.store, top_k=args.top_k, ad_threshold=args.ad_threshold)
        out = Path(args.output)
        write_table(scores, out)
        rej = Path(args.rejects) if args.rejects else out.with_name(out.stem + ".rejects.tsv")
        write_table(rejects, rej)
        if args.report:
            from theraflow.report.pairs import build_pair_scores_report

            build_pair_scores_report(scores, rejects, args.models, args.report)
        print(f"{len(scores)} rows in {out}; {len(rejects)} molecule(s) rejected ({rej})")
    return 0


def calibration_line(s: dict) -> str:
    if s.get("label_kind") == "regression":
        cal = s["calibration"]
        return (f"sd_cal^2 = ({cal['scale']:.3f} sd)^2 + {cal['floor']:.3f}^2 (fitted on {cal['pairs']} validation "
                f"pairs); on {s['test_pairs']} test pairs 80 % intervals cover {s['coverage']['0.8']:.3f}, 95 % cover "
                f"{s['coverage']['0.95']:.3f}; Spearman(|error|, spread) {s['spearman_abs_error_sd']:.3f}")
    b, a = s["before"], s["after"]
    return (f"{s['calibration']['method']} calibration fitted on {s['validation_pairs']} validation pairs; on "
            f"{s['test_pairs']} test pairs ECE {b['ece']:.3f} -> {a['ece']:.3f}, log-loss {b['log_loss']:.3f} -> "
            f"{a['log_loss']:.3f}")
