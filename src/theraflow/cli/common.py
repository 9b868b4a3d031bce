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


def add_index_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index-dir", metavar="DIR",
                   help="keep the library's index here (made once per version of the file: record count, duplicate "
                        "ids, where each block of records starts), so that a shard reads only its own records")


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


def fail_if_nothing_kept(source: str | Path, records: int, kept: int, rejects: str | Path | None,
                         by_reason: dict | None = None) -> None:
    """Stop (non-zero exit) when every record of ``source`` was rejected: a run that produced nothing usable
    must not look like a success. The rejects table was written first and stays; the message names it."""
    if kept or not records:
        return
    from theraflow.errors import InputError

    why = ""
    if by_reason:
        top = sorted(by_reason.items(), key=lambda kv: -kv[1])[:3]
        why = " (" + "; ".join(f"{reason}: {n}" for reason, n in top) + (", ..." if len(by_reason) > 3 else "") + ")"
    kept_in = f"; the rejects, with a reason for each, are in {rejects}" if rejects else ""
    raise InputError(f"{source}: nothing usable is left: all {records} record(s) were rejected{why}{kept_in}")


def reason_counts(rejects: str | Path) -> dict[str, int]:
    """How often each reason (its generic part, before the first ':') occurs in a rejects table."""
    from theraflow.io import read_table

    table = read_table(rejects, **({} if str(rejects).endswith(".parquet") else {"dtype": str, "keep_default_na": False}))
    if table.empty or "reason" not in table.columns:
        return {}
    generic = table["reason"].astype(str).str.split(":").str[0].str.strip()
    if "stage" in table.columns:
        generic = table["stage"].astype(str) + ": " + generic
    return {k: int(v) for k, v in generic.value_counts().items()}


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
