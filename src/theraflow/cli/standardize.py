"""theraflow standardize: RDKit standardization with a rejects table."""

from __future__ import annotations

import argparse

from theraflow.cli.common import (
    add_index_option,
    add_read_options,
    fail_if_nothing_kept,
    read_options,
    reason_counts,
    write_stats,
)


def register(sub) -> None:
    p = sub.add_parser("standardize", help="standardize molecules (RDKit rdMolStandardize)",
                       description=__doc__)
    p.add_argument("input", help="molecule file (.smi, .csv, .tsv, .parquet, .sdf, optionally .gz)")
    p.add_argument("-o", "--output", required=True, help="standardized table (.parquet/.csv/.tsv)")
    p.add_argument("--rejects", required=True, help="rejects table (id, record, input, stage, reason)")
    p.add_argument("--stats", help="write counts and seconds as JSON here")
    p.add_argument("--shard", default="0/1", metavar="I/N",
                   help="standardize only shard I (0-based) of N contiguous shards (default: 0/1, all)")
    add_index_option(p)
    g = p.add_argument_group("standardization")
    B = argparse.BooleanOptionalAction
    g.add_argument("--largest-fragment", action=B, default=True, help="keep the largest organic fragment")
    g.add_argument("--neutralize", action=B, default=True, help="neutralize charges where possible")
    g.add_argument("--normalize", action=B, default=False, help="normalize functional groups")
    g.add_argument("--canonical-tautomer", action=B, default=False, help="replace by the canonical tautomer")
    g.add_argument("--require-carbon", action=B, default=True, help="reject records without carbon")
    g.add_argument("--inchikey", action=B, default=True, help="compute InChIKeys")
    g.add_argument("--max-heavy-atoms", type=int, default=150, help="reject larger molecules")
    g.add_argument("--min-heavy-atoms", type=int, default=1, help="reject smaller molecules")
    add_read_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import time

    from theraflow.chem.standardize import StandardizeOptions, standardize_file

    options = StandardizeOptions(
        largest_fragment=args.largest_fragment, neutralize=args.neutralize, normalize=args.normalize,
        canonical_tautomer=args.canonical_tautomer, require_carbon=args.require_carbon,
        max_heavy_atoms=args.max_heavy_atoms, min_heavy_atoms=args.min_heavy_atoms, inchikey=args.inchikey,
    )
    try:
        shard, n_shards = (int(v) for v in args.shard.split("/"))
    except ValueError:
        raise ValueError(f"--shard expects I/N (for example 0/4), got {args.shard!r}") from None
    t0 = time.perf_counter()
    counts = standardize_file(args.input, args.output, args.rejects, options=options, shard=shard,
                              n_shards=n_shards, index_dir=args.index_dir, **read_options(args))
    write_stats(args.stats, {"stage": "standardize", **counts, "seconds": time.perf_counter() - t0})
    if n_shards == 1:  # a shard of a library may hold only bad records; `gather` checks the whole library
        fail_if_nothing_kept(args.input, counts["records"], counts["kept"], args.rejects,
                             reason_counts(args.rejects) if not counts["kept"] else None)
    return 0
