"""theraflow gather: shard outputs → one molecules table, one rejects table, a summary."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("gather", help="join shard outputs and write the run summary", description=__doc__)
    p.add_argument("--name", default="", help="name of the molecule set (for the summary)")
    p.add_argument("--standardized", nargs="+", required=True, help="standardized shard tables")
    p.add_argument("--features", nargs="+", required=True, help="feature index shard tables")
    p.add_argument("--rejects", nargs="+", required=True, help="rejects tables of every stage")
    p.add_argument("--stats", nargs="+", required=True, help="stats JSON files of every job")
    p.add_argument("--molecules", required=True, help="output: molecules table")
    p.add_argument("--rejects-out", required=True, help="output: all rejects, sorted by record")
    p.add_argument("--summary", required=True, help="output: summary JSON")
    p.add_argument("--print", action="store_true", help="print the summary")
    p.set_defaults(func=run)


def run(args) -> int:
    from theraflow.chem.shards import format_summary, gather
    from theraflow.cli.common import fail_if_nothing_kept

    summary = gather(standardized=args.standardized, features=args.features, rejects=args.rejects,
                     stats=args.stats, molecules_out=args.molecules, rejects_out=args.rejects_out,
                     summary_out=args.summary, name=args.name)
    if args.print:
        print(format_summary(summary))
    fail_if_nothing_kept(f"molecule set {args.name}" if args.name else "the molecule set", summary["records"],
                         summary["kept"], args.rejects_out, summary.get("rejected_by_reason"))
    return 0
