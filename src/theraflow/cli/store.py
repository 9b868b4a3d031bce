"""theraflow store: inspect and maintain a feature store (stats, verify, gc)."""

from __future__ import annotations

from theraflow.cli.common import print_json


def register(sub) -> None:
    p = sub.add_parser("store", help="feature store maintenance: stats | verify | gc", description=__doc__)
    ss = p.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    s = ss.add_parser("stats", help="featurizers, packs, entries and bytes in the store")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    v = ss.add_parser("verify", help="check every pack's checksum and structure; exit 1 if any is corrupt")
    v.add_argument("--repair", action="store_true", help="move corrupt packs to quarantine/ (recomputed later)")
    g = ss.add_parser("gc", help="remove leftovers of crashed writers; optionally stale featurizers; compact")
    g.add_argument("--remove-stale", action="store_true",
                   help="remove featurizer versions this installation can no longer use")
    g.add_argument("--compact", action="store_true", help="merge packs and drop duplicate entries")
    g.add_argument("--tmp-age", type=float, default=3600, help="seconds after which temporary files are leftovers")
    g.add_argument("--dry-run", action="store_true", help="report what would be removed")
    for q in (s, v, g):
        q.add_argument("--store", required=True, help="feature store directory")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from theraflow.chem.featurize import featurizer_is_current
    from theraflow.chem.store import FeatureStore, StoreError

    if not Path(args.store).is_dir():
        raise StoreError(f"{args.store}: no such feature store directory")
    store = FeatureStore(args.store)
    if args.store_command == "stats":
        rows = store.stats(current=featurizer_is_current)
        if args.json:
            print_json(rows)
        elif not rows:
            print(f"{args.store}: empty feature store")
        else:
            print(f"{'fid':<17} {'featurizer':<10} {'ver':<4} {'rdkit':<10} {'current':<8} "
                  f"{'packs':>6} {'entries':>9} {'dupes':>7} {'MB':>9}  params")
            for r in rows:
                print(f"{r['fid']:<17} {r['featurizer']:<10} {r['version']:<4} {r['rdkit']:<10} "
                      f"{str(r['current']):<8} {r['packs']:>6} {r['entries']:>9} {r['duplicates']:>7} "
                      f"{r['bytes'] / 1e6:>9.2f}  {r['params']}")
        return 0
    if args.store_command == "verify":
        problems = store.verify(repair=args.repair)
        n_packs = sum(r["packs"] for r in store.stats()) + (len(problems) if args.repair else 0)
        for p in problems:
            print(f"CORRUPT {p['pack']}: {p['reason']}")
        if problems:
            action = "moved to quarantine/" if args.repair else "run `theraflow store verify --repair`"
            print(f"{len(problems)} corrupt pack(s) of {n_packs}; {action}")
            return 1
        print(f"{args.store}: {n_packs} pack(s), all intact")
        return 0
    report = store.gc(remove_stale=args.remove_stale, current=featurizer_is_current, compact=args.compact,
                      tmp_age_s=args.tmp_age, dry_run=args.dry_run)
    print_json(report)
    return 0
