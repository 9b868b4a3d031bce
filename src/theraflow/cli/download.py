"""theraflow download: fetch a public data set, checked against recorded sha256 sums."""

from __future__ import annotations


def register(sub) -> None:
    from theraflow.registry import DOWNLOADS

    p = sub.add_parser("download", help="download a data set (sha256-checked; a mirror directory first)",
                       description=__doc__)
    p.add_argument("source", choices=DOWNLOADS.choices(), help="data set")
    p.add_argument("--dest", required=True, help="destination directory")
    p.add_argument("--mirror", help="directory holding the files already (checked before any download)")
    p.add_argument("--base-url", help="download from here instead of the source's public URL")
    p.add_argument("--trust-on-first-use", action="store_true",
                   help="for sources without recorded sha256: pin the hashes of this download")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per connection")
    p.set_defaults(func=run)


def run(args) -> int:
    from theraflow.download import fetch

    report = fetch(args.source, args.dest, mirror=args.mirror, base_url=args.base_url,
                   trust_on_first_use=args.trust_on_first_use, timeout=args.timeout)
    print(f"{report['source']} in {report['dest']}: {len(report['present'])} present, "
          f"{len(report['from_mirror'])} from mirror, {len(report['downloaded'])} downloaded")
    return 0
