"""theraflow featurize: standardized molecules → graphs in the feature store."""

from __future__ import annotations

from theraflow.cli.common import parse_params, write_stats
from theraflow.registry import FEATURIZERS


def register(sub) -> None:
    p = sub.add_parser("featurize", help="featurize standardized molecules into the feature store",
                       description=__doc__)
    p.add_argument("input", help="standardized table (from `theraflow standardize`, Parquet)")
    p.add_argument("-o", "--output", required=True, help="index table: id, smiles, store key, sizes")
    p.add_argument("--rejects", required=True, help="molecules the featurizer could not handle")
    p.add_argument("--store", required=True, help="feature store directory (created if missing)")
    p.add_argument("--featurizer", default="default", choices=FEATURIZERS.choices(),
                   help="featurizer: a module of theraflow.chem.featurizers, whose docstring lists its columns "
                        "(default: default)")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="featurizer parameter (repeatable)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--stats", help="write counts, store hits/misses and seconds as JSON here")
    p.set_defaults(func=run)


def run(args) -> int:
    import logging

    import torch

    from theraflow.chem.shards import featurize_file

    torch.set_num_threads(max(1, args.threads))
    stats = featurize_file(args.input, args.output, args.rejects, store=args.store,
                           featurizer=args.featurizer, params=parse_params(args.param))
    logging.getLogger("theraflow.featurize").info(
        "featurized %d of %d molecules (store hits %d, misses %d) in %.1f s",
        stats["featurized"], stats["molecules"], stats["hits"], stats["misses"], stats["seconds"])
    write_stats(args.stats, stats)
    return 0
