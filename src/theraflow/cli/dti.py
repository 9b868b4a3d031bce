"""theraflow dti: drug–target interaction stages (dataset, split, train, evaluate, calibrate, table)."""

from __future__ import annotations

import argparse

from theraflow.cli.common import add_evaluate_arguments, add_train_arguments, parse_columns, train_kwargs


def register(sub) -> None:
    p = sub.add_parser("dti", help="drug–target interaction models: dataset | split | train | evaluate | calibrate | table",
                       description=__doc__)
    ss = p.add_subparsers(dest="dti_command", metavar="STAGE", required=True)

    d = ss.add_parser("dataset", help="load a pair data set into pairs.parquet + drugs.csv")
    d.add_argument("--source", choices=["deepdta", "table", "rdkit_demo"], required=True)
    d.add_argument("--path", help="DeepDTA directory or pair table")
    d.add_argument("--dataset", default="davis", choices=["davis", "kiba"], help="DeepDTA label convention")
    d.add_argument("--ligands", default="can", choices=["can", "iso"], help="DeepDTA ligand file")
    d.add_argument("--column", action="append", metavar="FIELD=NAME", default=[],
                   help="pair table column names: drug_id, smiles, target_id, sequence, label")
    d.add_argument("--on-error", choices=["stop", "reject"], default="stop",
                   help="a bad row of a pair table: stop naming it (default), or write it to rejects.tsv and go on")
    d.add_argument("--outdir", required=True)

    s = ss.add_parser("split", help="make one split with manifest and leakage audit")
    s.add_argument("--pairs", required=True)
    s.add_argument("--folds", help="folds.json written by `dti dataset` (for setting1)")
    s.add_argument("--kind", required=True,
                   choices=["setting1", "random", "cold_drug", "cold_target", "cold_both", "scaffold"])
    s.add_argument("--name", help="split name (default: the kind)")
    s.add_argument("--outdir", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--test-frac", type=float, default=0.1)
    s.add_argument("--valid-frac", type=float, default=0.1)
    s.add_argument("--valid-fold", type=int, default=None, help="setting1: use this train fold as validation")

    t = ss.add_parser("train", help="train a model on a split (PyTorch Lightning)")
    add_train_arguments(t)

    e = ss.add_parser("evaluate", help="predictions, metrics with bootstrap intervals, scatter plot")
    add_evaluate_arguments(e)
    e.add_argument("--binary-threshold", type=float, help="also report AUROC/AUPRC with labels >= this active")

    c = ss.add_parser("calibrate", help="calibrate an ensemble's spread on validation, measure coverage on test")
    c.add_argument("--model", action="append", required=True, dest="models", metavar="DIR",
                   help="an evaluated model (its predictions.parquet); give each seed of the ensemble")
    c.add_argument("-o", "--output", required=True, help="calibration.json")
    c.add_argument("--plot", help="coverage plot (PNG)")

    tb = ss.add_parser("table", help="metrics table (per run and mean ± sd over seeds) and plot")
    tb.add_argument("metrics", nargs="+", help="metrics.json files")
    tb.add_argument("-o", "--output", required=True, help="metrics.tsv")
    tb.add_argument("--plot", help="PNG of test metrics per split and model")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from theraflow.dti import stages

    cmd = args.dti_command
    if cmd == "dataset":
        cfg = {"source": args.source, "path": args.path, "dataset": args.dataset, "ligands": args.ligands,
               "columns": parse_columns(args.column, ('drug_id', 'smiles', 'target_id', 'sequence', 'label')), "on_error": args.on_error}
        if args.source != "rdkit_demo" and not args.path:
            raise ValueError("--path is required for this source")
        info = stages.prepare_dataset(cfg, args.outdir)
        print(f"{info['pairs']} pairs, {info['drugs']} drugs, {info['targets']} targets; "
              f"{info['rejected_rows']} row(s) rejected (rejects.tsv)")
    elif cmd == "split":
        m = stages.split_stage(args.pairs, args.folds, args.kind, args.outdir, name=args.name, seed=args.seed,
                               test_frac=args.test_frac, valid_frac=args.valid_frac, valid_fold=args.valid_fold)
        print(f"split {m['name']}: {m['counts']}")
    elif cmd == "train":
        meta = stages.train_stage(**train_kwargs(args))
        print(f"trained {meta['epochs_trained']} epochs in {meta['train_seconds']} s; "
              f"best validation MSE {meta['best_epoch_val_mse']}")
    elif cmd == "evaluate":
        res = stages.evaluate_stage(model_dir=args.model, pairs_path=args.pairs, split_path=args.split,
                                    molecules_path=args.molecules, store=args.store, outdir=args.outdir,
                                    n_boot=args.bootstrap, binary_threshold=args.binary_threshold)
        for part, r in res["parts"].items():
            m = r["metrics"]
            print(f"{part}: CI {m['ci']:.3f}  MSE {m['mse']:.3f}  Pearson {m['pearson']:.3f}  (n={m['n']})")
    elif cmd == "calibrate":
        from theraflow.explain.calibration import calibrate_ensemble

        s = calibrate_ensemble(args.models, args.output, args.plot)
        cal = s["calibration"]
        print(f"sd_cal^2 = ({cal['scale']:.3f} sd)^2 + {cal['floor']:.3f}^2 (fitted on {cal['pairs']} validation "
              f"pairs); on {s['test_pairs']} test pairs 80 % intervals cover {s['coverage']['0.8']:.3f}, 95 % cover "
              f"{s['coverage']['0.95']:.3f}; Spearman(|error|, spread) {s['spearman_abs_error_sd']:.3f}")
    elif cmd == "table":
        summary = stages.metrics_table(args.metrics, args.output, args.plot)
        print(summary.to_string(index=False))
    return 0
