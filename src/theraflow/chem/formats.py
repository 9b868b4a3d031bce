"""The molecule file formats :mod:`theraflow.chem.readers` streams, declared once in
:data:`theraflow.registry.READERS`.

This module is light (the standard library and :mod:`theraflow.registry` only): the CLI's
``--format`` choices, suffix detection and the config schema read the names and ``info`` here
without importing pandas or RDKit. Each entry's object is a record reader of
:mod:`theraflow.chem.readers`: ``reader(path, *, smiles_column, id_column, sdf_id_property)``
yielding raw records. ``info``:

- ``suffixes``: file name endings that mean this format (a further ``.gz`` is allowed);
- ``kind``: what a record's text is, ``"smiles"`` or ``"molblock"``;
- ``description``: one line for help texts.

A plugin adds a format with ``READERS.register(name, reader, suffixes=(...), kind=..., description=...)``.
"""

from __future__ import annotations

from theraflow.registry import READERS

READERS.declare(
    "smi", "theraflow.chem.readers:smi_records",
    suffixes=(".smi", ".smiles", ".ism", ".can"), kind="smiles",
    description="SMILES file: one SMILES per line, optionally followed by an id; an optional 'smiles' header line",
)
READERS.declare(
    "csv", "theraflow.chem.readers:csv_records",
    suffixes=(".csv",), kind="smiles",
    description="comma-separated table with a header; SMILES and id columns by name",
)
READERS.declare(
    "tsv", "theraflow.chem.readers:tsv_records",
    suffixes=(".tsv", ".tab", ".txt"), kind="smiles",
    description="tab-separated table with a header; SMILES and id columns by name",
)
READERS.declare(
    "parquet", "theraflow.chem.readers:parquet_records",
    suffixes=(".parquet", ".pq"), kind="smiles",
    description="Parquet table; SMILES and id columns by name, read in batches",
)
READERS.declare(
    "sdf", "theraflow.chem.readers:sdf_records",
    suffixes=(".sdf", ".sd", ".mol"), kind="molblock",
    description="MDL SD file: molblocks separated by $$$$; id from the title line or an SD tag",
)
