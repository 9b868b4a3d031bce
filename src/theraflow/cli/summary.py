"""theraflow summary: print the summaries of finished runs."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("summary", help="print run summaries (kept, rejected, time, store hits/misses)",
                       description=__doc__)
    p.add_argument("paths", nargs="+", help="summary.json files, or results directories to search")
    p.set_defaults(func=run)


def run(args) -> int:
    from theraflow.chem.shards import format_summary, load_summary
    from theraflow.errors import UserError

    files: list[Path] = []
    for p in map(Path, args.paths):
        if p.is_dir():
            files.extend(sorted(p.glob("chem/*/summary.json")))
        elif p.exists():
            files.append(p)
        else:
            raise UserError(f"{p}: no such file or directory")
    if not files:
        raise UserError(f"no summary.json found under {', '.join(args.paths)}; has the workflow run?")
    for f in files:
        print(format_summary(load_summary(f)))
        print()
    return 0
