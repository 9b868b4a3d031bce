"""theraflow ddi: drug–drug interaction stages (dataset, split, train, evaluate, table, score)."""

from __future__ import annotations

import argparse

from theraflow.cli.common import add_evaluate_arguments, add_train_arguments, parse_columns, train_kwargs


def register(sub) -> None:
    p = sub.add_parser("ddi", help="drug–drug interaction models: dataset | split | train | evaluate | table | score",
                       description=__doc__)
    ss = p.add_subparsers(dest="ddi_command", metavar="STAGE", required=True)

    d = ss.add_parser("dataset", help="load DDI pairs into pairs.parquet, drugs.csv, types.tsv, rejects.tsv")
    d.add_argument("--source", choices=["drugbank", "table", "demo"], required=True,
                   help="drugbank: the DrugBank DDI folder; table: your pair table; demo: the offline synthetic set")
    d.add_argument("--path", help="DrugBank DDI folder or pair table")
    d.add_argument("--column", action="append", metavar="FIELD=NAME", default=[],
                   help="table columns: drug1, drug2, smiles1, smiles2, label")
    d.add_argument("--drugs", help="table: a drug table (id, smiles) when the pair table has ids only")
    d.add_argument("--classes", nargs="+", help="table: the declared interaction types (default: binary 0/1)")
    d.add_argument("--on-error", choices=["stop", "reject"], default="reject",
                   help="a bad row: write it to rejects.tsv and go on (default), or stop naming it")
    d.add_argument("--outdir", required=True)

    s = ss.add_parser("split", help="one split with manifest and leakage audit (no pair straddles train and test)")
    s.add_argument("--pairs", required=True)
    s.add_argument("--kind", required=True, choices=["random", "one_unseen", "both_unseen"])
    s.add_argument("--name", help="split name (default: the kind)")
    s.add_argument("--outdir", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--test-frac", type=float, default=0.1)
    s.add_argument("--valid-frac", type=float, default=0.1)

    t = ss.add_parser("train", help="train a model on a split (the shared training runtime)")
    add_train_arguments(t)

    e = ss.add_parser("evaluate", help="predictions, metrics with bootstrap intervals, confusion matrix")
    add_evaluate_arguments(e)

    tb = ss.add_parser("table", help="metrics table (per run and mean ± sd over seeds) and plot")
    tb.add_argument("metrics", nargs="+", help="metrics.json files")
    tb.add_argument("-o", "--output", required=True, help="metrics.tsv")
    tb.add_argument("--plot", help="PNG of test metrics per split and model")

    sc = ss.add_parser("score", help="rank the interactions of candidate drugs with a panel",
                       description="For each candidate and panel drug, in both orders: the most likely types with "
                                   "probabilities, ensemble spread, applicability domain and the type sentence.")
    sc.add_argument("candidates", help=".smi file or table (id, smiles[, name])")
    sc.add_argument("--panel", required=True, help=".smi file or table (id, smiles[, name]), e.g. drugs.csv of a dataset")
    sc.add_argument("--model", action="append", required=True, help="trained model directory (repeat: an ensemble)")
    sc.add_argument("--store", help="feature store")
    sc.add_argument("--top-k", type=int, default=3, help="types per pair and order (default 3)")
    sc.add_argument("--ad-threshold", type=float, default=0.3, help="flag candidates below this similarity")
    sc.add_argument("-o", "--output", required=True, help="scores table (.tsv/.csv/.parquet)")
    sc.add_argument("--rejects", help="molecules that could not be scored (default: beside the output)")
    sc.add_argument("--report", help="also write an HTML report here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from theraflow.ddi import stages
    from theraflow.io import write_table

    cmd = args.ddi_command
    if cmd == "dataset":
        if args.source != "demo" and not args.path:
            raise ValueError("--path is required for this source")
        cfg = {"source": args.source, "path": args.path, "columns": parse_columns(args.column, ('drug1', 'drug2', 'smiles1', 'smiles2', 'label')), "drugs": args.drugs,
               "classes": args.classes, "on_error": args.on_error}
        info = stages.prepare_dataset(cfg, args.outdir)
        print(f"{info['pairs']} pairs, {info['drugs']} drugs, {info['types']} types; "
              f"{info['rejected_rows']} row(s) rejected (rejects.tsv)")
    elif cmd == "split":
        m = stages.split_stage(args.pairs, args.kind, args.outdir, name=args.name, seed=args.seed,
                               test_frac=args.test_frac, valid_frac=args.valid_frac)
        print(f"split {m['name']}: {m['counts']}")
    elif cmd == "train":
        meta = stages.train_stage(**train_kwargs(args))
        print(f"trained {meta['epochs_trained']} epochs in {meta['train_seconds']} s; "
              f"best validation accuracy {meta['best_val_accuracy']}")
    elif cmd == "evaluate":
        res = stages.evaluate_stage(model_dir=args.model, pairs_path=args.pairs, split_path=args.split,
                                    molecules_path=args.molecules, store=args.store, outdir=args.outdir,
                                    n_boot=args.bootstrap)
        for part, r in res["parts"].items():
            m = r["metrics"]
            shown = "  ".join(f"{k} {v:.3f}" for k, v in m.items() if k != "n")
            print(f"{part}: {shown}  (n={m['n']})")
    elif cmd == "table":
        summary = stages.metrics_table(args.metrics, args.output, args.plot)
        print(summary.to_string(index=False))
    elif cmd == "score":
        from theraflow.ddi.scoring import read_drug_table, score_pairs

        scores, rejects = score_pairs(read_drug_table(args.candidates), read_drug_table(args.panel), args.model,
                                      store=args.store, top_k=args.top_k, ad_threshold=args.ad_threshold)
        out = Path(args.output)
        write_table(scores, out)
        rej = Path(args.rejects) if args.rejects else out.with_name(out.stem + ".rejects.tsv")
        write_table(rejects, rej)
        if args.report:
            from theraflow.report.ddi import build_ddi_report

            build_ddi_report(scores, rejects, args.model, args.report)
        top = scores[scores["rank"] == 1].head(5)
        for r in top.itertuples():
            print(f"{r.candidate} / {r.panel_drug} ({r.order}): type {r.type} p={r.probability:.2f} — {r.sentence}")
        print(f"{len(scores)} rows in {out}; {len(rejects)} molecule(s) rejected ({rej})")
    return 0
