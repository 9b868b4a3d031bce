"""theraflow registry: every name the configs and the commands accept, by registry (plugins included)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("registry", help="list the registered names: tasks, label kinds, sources, split kinds, "
                                        "featurizers, encoders, networks ...", description=__doc__)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from theraflow.cli.common import print_json
    from theraflow.registry import describe_all

    names = describe_all()
    if args.json:
        print_json(names)
    else:
        for key, values in names.items():
            print(f"{key:<20} {', '.join(values)}")
    return 0
