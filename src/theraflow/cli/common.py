"""Helpers shared by the subcommand modules."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml


def add_read_options(p: argparse.ArgumentParser) -> None:
    from theraflow.registry import READERS  # the formats of theraflow.chem.formats (no pandas, no RDKit)

    g = p.add_argument_group("reading molecule files")
    g.add_argument("--format", choices=READERS.choices(),
                   help="input format (default: from the file suffix: "
                        + "; ".join(f"{n} {' '.join(READERS.info(n).get('suffixes', ()))}" for n in READERS.names())
                        + ")")
    g.add_argument("--smiles-column", default="smiles", help="SMILES column of CSV/TSV/Parquet (default: smiles)")
    g.add_argument("--id-column", default=None,
                   help="id column (default: the first of id, name, compound_id, ... present)")
    g.add_argument("--sdf-id-property", default=None, help="SD tag holding the id (default: the title line)")
    g.add_argument("--max-input-length", type=int, default=20_000,
                   help="reject SMILES/molblocks longer than this many characters")


def read_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "format": args.format,
        "smiles_column": args.smiles_column,
        "id_column": args.id_column,
        "sdf_id_property": args.sdf_id_property,
        "max_input_length": args.max_input_length,
    }


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """``key=value`` pairs; values are parsed as YAML scalars (true, 3, 0.5, text)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--param expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def write_stats(path: str | None, stats: dict) -> None:
    if path:
        from theraflow.io import write_json

        write_json(Path(path), stats)


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True, default=str))


def parse_columns(items: list[str], fields: tuple[str, ...]) -> dict:
    """``--column FIELD=NAME`` options as {field: column}."""
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--column expects FIELD=NAME, got {item!r}")
        k, v = item.split("=", 1)
        if k not in fields:
            raise ValueError(f"--column: unknown field {k!r} (one of {', '.join(fields)})")
        out[k] = v
    return out
