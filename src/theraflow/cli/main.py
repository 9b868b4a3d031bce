"""The ``theraflow`` command line. Only the CLI configures logging."""

from __future__ import annotations

import argparse
import logging
import sys
from importlib import import_module

from theraflow import __version__
from theraflow.errors import TheraflowError, UserError  # noqa: F401  (UserError re-exported)

# One module per subcommand; each defines register(subparsers) and run(args).
# ``pairs`` registers one command per pair task (theraflow dti, theraflow ddi, and any a plugin adds).
SUBCOMMANDS = ("standardize", "featurize", "gather", "store", "summary", "pairs", "score", "download", "seg",
               "pretrain", "registry")


def _plugin_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                        help="load a plugin that registers tasks, featurizers, encoders ... before anything else "
                             "(repeatable; also THERAFLOW_PLUGINS)")


def load_plugins_from(argv: list[str] | None) -> list[str]:
    """Plugins named by ``--plugin`` (and THERAFLOW_PLUGINS), loaded before the parser is built: the choices
    of every command come from the registries they fill."""
    from theraflow.registry import load_plugins

    pre = argparse.ArgumentParser(add_help=False)
    _plugin_option(pre)
    known, _ = pre.parse_known_args(argv)
    return load_plugins(known.plugin)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="theraflow",
        description="theraflow: molecule featurization, interaction models and imaging stages.",
    )
    parser.add_argument("--version", action="version", version=f"theraflow {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="logging verbosity (default: INFO)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show progress bars (default: only on a terminal)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    _plugin_option(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        import_module(f"theraflow.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        load_plugins_from(argv)
    except TheraflowError as exc:
        print(f"theraflow: error: {exc}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
    )
    from theraflow.progress import set_progress

    set_progress(args.progress)
    try:
        return int(args.func(args) or 0)
    except (TheraflowError, FileNotFoundError, PermissionError) as exc:
        print(f"theraflow {args.command}: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    except ValueError as exc:  # bad option values and configs
        if args.debug:
            raise
        print(f"theraflow {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"theraflow {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"theraflow {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
