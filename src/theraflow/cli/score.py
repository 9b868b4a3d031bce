"""theraflow score: screen a molecule library against targets with trained models.

  run      the whole screen in one command (shards in parallel, gather, report)
  count    records of a library and its shards (what the workflow's score_count checkpoint runs)
  shard    one shard (what the workflow's score_shard rule runs)
  gather   merge shards into ranked tables per target, top-k, summary
  distill  a small first-pass model from a finished screen (for two-stage screens of millions)
  report   the self-contained HTML report
  explain  atom attributions of chosen scores (integrated gradients), with drawings
"""

from __future__ import annotations

import argparse

from theraflow.cli.common import add_index_option, add_read_options, read_options


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", action="append", required=True, dest="models", metavar="DIR",
                   help="trained model directory (repeat for an ensemble, e.g. one per seed)")
    p.add_argument("--targets", help="the partners: FASTA or table (target_id[, sequence]) for targets, .smi or table "
                                     "(id, smiles) for panel drugs; default: those the models trained on")
    p.add_argument("--store", help="feature store directory")
    p.add_argument("--ad-threshold", type=float, default=0.3,
                   help="flag molecules whose max Tanimoto to the training drugs is below this (default 0.3)")
    from theraflow.registry import ENGINES

    p.add_argument("--engine", choices=ENGINES.choices(), default="torch",
                   help="what runs the models: torch (as trained), onnx (ONNX Runtime), onnx_int8 (int8 weights); "
                        "default torch")


def _first_pass(p: argparse.ArgumentParser) -> None:
    p.add_argument("--first-pass", metavar="DIR",
                   help="a first-pass model (`theraflow score distill`): it scores every molecule, and only the "
                        "--first-pass-keep share of each shard it ranks highest goes on to the models")
    p.add_argument("--first-pass-keep", type=float, default=0.1, metavar="F",
                   help="share of each shard the first pass passes on to the models (default 0.1)")


def register(sub) -> None:
    p = sub.add_parser("score", help="screen a library against targets: run | shard | gather | distill | report",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ss = p.add_subparsers(dest="score_command", metavar="ACTION", required=True)

    r = ss.add_parser("run", help="the whole screen: shards, gather, report")
    r.add_argument("library", help="molecule file (.smi, .csv, .tsv, .parquet, .sdf, optionally .gz)")
    r.add_argument("--outdir", required=True)
    r.add_argument("--chunk-size", type=int, default=50_000, help="records per shard")
    r.add_argument("--max-shards", type=int, default=None,
                   help="at most this many shards: a larger library gets larger shards (default: no limit)")
    r.add_argument("--workers", type=int, default=1, help="shards scored in parallel")
    r.add_argument("--gather-fan-in", type=int, default=None, metavar="N",
                   help="more shards than N are merged in groups of at most N before the gather (default 64)")
    r.add_argument("--top-k", type=int, default=50)
    r.add_argument("--no-report", action="store_true")
    r.add_argument("--no-resume", action="store_true",
                   help="score every shard again, even those an earlier run of this screen finished")
    _common(r)
    _first_pass(r)
    add_read_options(r)

    n = ss.add_parser("count", help="count a library's records (its shards follow from the chunk size)")
    n.add_argument("library", help="molecule file")
    n.add_argument("--chunk-size", type=int, default=50_000, help="records per shard")
    n.add_argument("--max-shards", type=int, default=None,
                   help="at most this many shards: a larger library gets larger shards (default: no limit)")
    n.add_argument("-o", "--output", required=True, help="library.json: records, chunk size, shards, file identity")
    add_index_option(n)
    add_read_options(n)

    s = ss.add_parser("shard", help="score one shard")
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--library", help="raw molecule file (read + standardize this shard)")
    src.add_argument("--standardized", help="a standardized shard table from `theraflow standardize`")
    s.add_argument("--shard", type=int, default=0)
    s.add_argument("--chunk-size", type=int, default=50_000)
    add_index_option(s)
    s.add_argument("--out-scores", required=True, help="the scores, an Arrow IPC file (pandas.read_feather reads it)")
    s.add_argument("--out-rejects", required=True)
    s.add_argument("--out-stats", required=True)
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--out-first-pass", help="with --first-pass: every molecule's first-pass score (Parquet)")
    _common(s)
    _first_pass(s)
    add_read_options(s)

    m = ss.add_parser("merge", help="merge a group of shard score files into one (a screen of many shards)")
    m.add_argument("--scores", nargs="+", required=True, help="shard score files, in shard order")
    m.add_argument("--out-scores", required=True, help="the merged file (the shard format)")
    m.add_argument("--out-stats", required=True, help="its stats: shards, rows, seconds, peak RSS")

    g = ss.add_parser("gather", help="merge shard scores")
    g.add_argument("--scores", nargs="+", required=True,
                   help="shard score files, or the files `score merge` made of their groups (in order)")
    g.add_argument("--merge-stats", nargs="*", default=[], help="stats of the `score merge` jobs, if any")
    g.add_argument("--stats", nargs="+", default=[], help="shard stats files")
    g.add_argument("--rejects", nargs="*", default=[], help="rejects tables of every stage")
    g.add_argument("--chem-stats", nargs="*", default=[], help="stats of separate standardization jobs")
    g.add_argument("--first-pass", nargs="*", default=[], metavar="FILE",
                   help="the shards' first-pass tables of a two-stage screen (written to first_pass.parquet)")
    g.add_argument("--outdir", required=True)
    g.add_argument("--top-k", type=int, default=50)

    d = ss.add_parser("distill", help="train a small first-pass model on a finished screen's scores")
    d.add_argument("--screen", required=True, help="directory of a finished screen (its ranked tables teach)")
    d.add_argument("-o", "--outdir", required=True, help="the first-pass model's directory")
    d.add_argument("--max-minutes", type=float, default=15.0, help="training budget (default 15)")
    d.add_argument("--max-epochs", type=int, default=40)
    d.add_argument("--hidden", type=int, nargs="+", default=[512, 256], help="hidden layer widths")
    d.add_argument("--keep", type=float, default=0.1,
                   help="the first-pass cut the card's held-out figures are measured at (default 0.1)")
    d.add_argument("--seed", type=int, default=0)

    rp = ss.add_parser("report", help="write the HTML report of a gathered screen")
    rp.add_argument("--screen", required=True, help="directory written by `score gather` or `score run`")
    rp.add_argument("--model", action="append", required=True, dest="models", metavar="DIR")
    rp.add_argument("--library", help="the library file (for its sha256 in the provenance)")
    rp.add_argument("--targets", help="the targets file (for its sha256)")
    rp.add_argument("--chem-summary", help="summary.json of the chemistry stages, if they ran separately")
    rp.add_argument("--config", help="the run's config file (its hash goes in the provenance)")
    rp.add_argument("--calibration", help="calibration.json of the ensemble (`theraflow <task> calibrate`); "
                    "default: fitted from the models' predictions.parquet when they have them")
    rp.add_argument("--benchmarks", action="append", default=[], metavar="DIR",
                    help="a folder of Snakemake benchmark files of the stages behind the screen (repeat): time and "
                         "estimated energy per stage in the report")
    rp.add_argument("--title", default="theraflow screening report")
    rp.add_argument("-o", "--output", required=True, help="report.html")
    rp.add_argument("--grid-rows", type=int, default=200, metavar="N",
                    help="rows per target in the report's hit grid: the top N by score and the top N inside the "
                         "applicability domain (the page's weight follows N, not the library; default 200)")
    rp.add_argument("--ad-threshold", type=float, default=0.3,
                    help="similarity to the training molecules below which a molecule is outside the domain")
    rp.add_argument("--explain-top", type=int, default=5, metavar="N",
                    help="draw atom attributions for the top N of each target (0: none; default 5)")

    e = ss.add_parser("explain", help="atom attributions of scores (integrated gradients) with drawings")
    e.add_argument("pairs", help="table with id, smiles, target_id (a screen's topk.tsv works)")
    e.add_argument("--model", action="append", required=True, dest="models", metavar="DIR",
                   help="trained model directory (repeat for an ensemble: attributions are averaged)")
    e.add_argument("--targets", help="FASTA or table (target_id[, sequence]) for targets known by sequence only")
    e.add_argument("--top", type=int, metavar="N", help="only the first N rows of each target (by rank)")
    e.add_argument("--steps", type=int, default=32, help="integration steps of the first try, doubled (at most 256) until the atom "
                   "weights add up to the score within 0.01 (default 32)")
    e.add_argument("-o", "--outdir", required=True, help="writes attributions.tsv and png/")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from theraflow.cli.common import fail_if_nothing_kept

    cmd = args.score_command
    if cmd == "run":
        from theraflow.pairs.screen import score_library

        summary = score_library(args.library, args.models, args.outdir, targets=args.targets, store=args.store,
                                chunk_size=args.chunk_size, max_shards=args.max_shards, workers=args.workers,
                                top_k=args.top_k,
                                ad_threshold=args.ad_threshold, read_options=read_options(args),
                                resume=not args.no_resume, engine=args.engine, first_pass=args.first_pass,
                                first_pass_keep=args.first_pass_keep)
        fail_if_nothing_kept(args.library, summary["records"], summary["kept"],
                             Path(args.outdir) / "rejects.tsv", summary.get("rejected_by_stage"))
        if not args.no_report:
            from theraflow.report.scoring import build_scoring_report

            build_scoring_report(args.outdir, args.models, Path(args.outdir) / "report.html", library=args.library,
                                 targets=args.targets, ad_threshold=args.ad_threshold)
        reused = f" ({summary['shards_reused']} of {summary['shards']} shards from an earlier run)" \
            if summary["shards_reused"] else ""
        first = summary.get("first_pass")
        staged = (f"first pass (distilled) scored {first['scored']}, passed on {first['passed']}; " if first else "")
        print(f"{staged}scored {summary['kept']} of {summary['records']} molecules against "
              f"{len(summary['targets'])} target(s): {summary['pairs']} pairs{reused}; results in {args.outdir}")
    elif cmd == "count":
        from theraflow.pairs.screen import count_library

        info = count_library(args.library, args.output, chunk_size=args.chunk_size,
                             read_options={k: v for k, v in read_options(args).items() if k != "max_input_length"},
                             index_dir=args.index_dir, max_shards=args.max_shards)
        print(f"{info['records']} records: {info['shards']} shard(s) of at most {info['chunk_size']}")
    elif cmd == "shard":
        import torch  # here only: count, merge and gather start without it

        from theraflow.pairs.screen import score_shard

        torch.set_num_threads(max(1, args.threads))
        st = score_shard(args.models, out_scores=args.out_scores, out_rejects=args.out_rejects,
                         out_stats=args.out_stats, library=args.library, shard=args.shard,
                         chunk_size=args.chunk_size, standardized=args.standardized, targets=args.targets,
                         store=args.store, ad_threshold=args.ad_threshold, read_options=read_options(args),
                         index_dir=args.index_dir, engine=args.engine, first_pass=args.first_pass,
                         first_pass_keep=args.first_pass_keep, out_first_pass=args.out_first_pass)
        print(f"shard {args.shard}: {st['kept']} molecules x {st['targets']} targets in {st['seconds']} s")
    elif cmd == "merge":
        from theraflow.pairs.screen import merge_shards

        st = merge_shards(args.scores, args.out_scores, args.out_stats)
        print(f"merged {st['shards']} shard(s): {st['rows']} rows in {st['seconds']} s")
    elif cmd == "gather":
        from theraflow.pairs.screen import gather_scores

        summary = gather_scores(args.scores, args.outdir, top_k=args.top_k, stats_files=args.stats,
                                chem_stats_files=args.chem_stats, reject_files=args.rejects,
                                merge_stats_files=args.merge_stats, first_pass_files=args.first_pass)
        print(f"gathered {summary['shards']} shard(s), {len(summary['targets'])} target(s)")
        fail_if_nothing_kept("the library", summary["records"], summary["kept"],
                             Path(args.outdir) / "rejects.tsv" if args.rejects else None,
                             summary.get("rejected_by_stage"))
    elif cmd == "distill":
        from theraflow.pairs.distill import distill

        meta = distill(args.screen, args.outdir, hidden=args.hidden, max_epochs=args.max_epochs,
                       max_minutes=args.max_minutes, keep=args.keep, seed=args.seed)
        v = meta["validation"]
        print(f"first-pass model in {args.outdir}: {meta['training']['epochs']} epochs on "
              f"{meta['training']['molecules']} molecules; held out ({v['molecules']}): Spearman min "
              f"{v['spearman_min']}, top-1 % passed on at a {v['keep']:.0%} cut: min {v['top1pct_recall_min']}")
    elif cmd == "report":
        from theraflow.report.scoring import build_scoring_report

        path = build_scoring_report(args.screen, args.models, args.output, library=args.library,
                                    targets=args.targets, chem_summary=args.chem_summary, config=args.config,
                                    title=args.title, explain_top=args.explain_top, calibration=args.calibration,
                                    grid_rows=args.grid_rows, ad_threshold=args.ad_threshold,
                                    benchmarks=args.benchmarks)
        print(f"wrote {path}")
    elif cmd == "explain":
        from theraflow.explain.attributions import explain_stage

        res = explain_stage(args.pairs, args.models, args.outdir, top=args.top, steps=args.steps,
                            targets=args.targets)
        print(f"explained {res['pairs']} pair(s): {res['table']} and drawings in {args.outdir}/png")
    return 0
