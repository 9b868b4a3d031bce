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


def add_train_arguments(t) -> None:
    """The options of an interaction task's ``train`` stage (dti, ddi)."""
    t.add_argument("--pairs", required=True)
    t.add_argument("--split", required=True)
    t.add_argument("--molecules", required=True, help="standardized drugs (molecules.parquet of the chem stages)")
    t.add_argument("--store", required=True)
    t.add_argument("--model-config", required=True, help="models/<name>/config.yaml")
    t.add_argument("--outdir", required=True)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--max-minutes", type=float)
    t.add_argument("--max-epochs", type=int)
    t.add_argument("--threads", type=int)
    t.add_argument("--no-resume", action="store_true", help="start over even if a checkpoint exists")


def add_evaluate_arguments(e) -> None:
    """The options of an interaction task's ``evaluate`` stage (dti, ddi)."""
    e.add_argument("--model", required=True, help="trained model directory")
    e.add_argument("--pairs", required=True)
    e.add_argument("--split", required=True)
    e.add_argument("--molecules", required=True)
    e.add_argument("--store", required=True)
    e.add_argument("--outdir", required=True)
    e.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (0: none)")


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


def train_kwargs(args) -> dict:
    """The keyword arguments of a ``train_stage`` from the ``train`` options."""
    from theraflow.progress import _enabled

    return {"pairs_path": args.pairs, "split_path": args.split, "molecules_path": args.molecules,
            "store": args.store, "model_config": args.model_config, "outdir": args.outdir, "seed": args.seed,
            "max_minutes": args.max_minutes, "max_epochs": args.max_epochs, "threads": args.threads,
            "progress": _enabled, "resume": not args.no_resume}
