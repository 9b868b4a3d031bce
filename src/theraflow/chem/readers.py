"""Molecule input files: CSV/TSV/Parquet tables, SMILES files and SDF.

:func:`read_molecules` returns two tables:

- records: ``record`` (1-based position in the file), ``id``, ``input`` (SMILES, or
  the MDL molblock for SDF), ``kind`` ("smiles" or "molblock");
- rejects: ``id``, ``record``, ``input``, ``stage`` ("read"), ``reason`` for records
  that cannot even be read (bytes that are not UTF-8, an empty SMILES, an input
  longer than ``max_input_length``, an id seen before).

A file that cannot be used at all (missing, empty, header only, no SMILES column)
raises :class:`~theraflow.io.InputError` naming the file and what was expected.
IDs are kept; a record without one gets ``<file stem>-<record number>``, the same on
every run.
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path
from typing import Iterator

import pandas as pd

from theraflow.io import InputError

log = logging.getLogger(__name__)

RECORD_COLUMNS = ["record", "id", "input", "kind"]
REJECT_COLUMNS = ["id", "record", "input", "stage", "reason"]
FORMATS = ("smi", "csv", "tsv", "parquet", "sdf")
_SUFFIX_FORMAT = {
    ".smi": "smi", ".smiles": "smi", ".ism": "smi", ".can": "smi",
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "tsv",
    ".parquet": "parquet", ".pq": "parquet",
    ".sdf": "sdf", ".sd": "sdf", ".mol": "sdf",
}
ID_CANDIDATES = ("id", "name", "compound_id", "mol_id", "molecule_id", "title")
DEFAULT_MAX_INPUT_LENGTH = 20_000


def detect_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = Path(name).suffix
    try:
        return _SUFFIX_FORMAT[suffix]
    except KeyError:
        raise InputError(
            f"{path}: cannot tell the molecule format from the suffix {suffix!r}; "
            f"use one of {', '.join(sorted(_SUFFIX_FORMAT))} (optionally .gz) or pass a format"
        ) from None


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a molecule file")
    data = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise InputError(f"{path}: not a valid gzip file ({exc})") from None
    return data


def _decode(raw: bytes) -> tuple[str | None, str]:
    """(text, "") or (None, reason) for bytes that are not UTF-8."""
    try:
        return raw.decode("utf-8"), ""
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        return None, f"not valid UTF-8 (byte 0x{bad} at position {exc.start + 1})"


class _Collector:
    """Builds the records and rejects tables; assigns ids; catches duplicate ids."""

    def __init__(self, path: Path, kind: str, max_input_length: int) -> None:
        self.path = path
        self.kind = kind
        self.max_len = max_input_length
        self.stem = path.name.split(".")[0] or "mol"
        self.records: list[tuple[int, str, str, str]] = []
        self.rejects: list[tuple[str, int, str, str, str]] = []
        self.first_seen: dict[str, int] = {}

    def add(self, record: int, mol_id: str | None, text: str | None, problem: str = "",
            shown: str | None = None) -> None:
        mol_id = (mol_id or "").strip() or f"{self.stem}-{record:06d}"
        shown = shown if shown is not None else (text or "")
        if problem:
            self.rejects.append((mol_id, record, _clip(shown), "read", problem))
            return
        if text is None or not text.strip():
            what = "SMILES" if self.kind == "smiles" else "molblock"
            self.rejects.append((mol_id, record, _clip(shown), "read", f"empty {what}"))
            return
        if len(text) > self.max_len:
            self.rejects.append((mol_id, record, _clip(shown), "read",
                                 f"input is {len(text)} characters long (limit {self.max_len})"))
            return
        seen = self.first_seen.get(mol_id)
        if seen is not None:
            self.rejects.append((mol_id, record, _clip(shown), "read",
                                 f"duplicate id {mol_id!r} (first seen at record {seen})"))
            return
        self.first_seen[mol_id] = record
        self.records.append((record, mol_id, text.strip() if self.kind == "smiles" else text, self.kind))

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        if not self.records and not self.rejects:
            raise InputError(f"{self.path}: contains no records")
        recs = pd.DataFrame(self.records, columns=RECORD_COLUMNS)
        recs["record"] = recs["record"].astype("int64")
        rej = pd.DataFrame(self.rejects, columns=REJECT_COLUMNS)
        rej["record"] = rej["record"].astype("int64")
        if len(rej):
            log.info("%s: %d records read, %d rejected while reading", self.path, len(recs), len(rej))
        return recs, rej


def _clip(text: str, limit: int = 500) -> str:
    text = text.replace("\r", "").replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_smi(path: Path, col: _Collector) -> None:
    data = _read_bytes(path)
    if not data.strip():
        raise InputError(f"{path}: the file is empty; expected one SMILES (and optional id) per line")
    lines = data.splitlines()
    first_text, _ = _decode(lines[0])
    start = 0
    if first_text is not None and first_text.split() and first_text.split()[0].lower() in ("smiles", "smi"):
        start = 1  # a header line
    body = [(n, raw) for n, raw in enumerate(lines[start:], start=start + 1) if raw.strip()]
    if not body:
        raise InputError(f"{path}: has a header line but no molecules")
    for record, (line_no, raw) in enumerate(body, start=1):
        text, problem = _decode(raw)
        if problem:
            col.add(record, None, None, f"line {line_no}: {problem}",
                    shown=raw.decode("utf-8", "backslashreplace"))
            continue
        parts = text.split(None, 1)
        smiles = parts[0] if parts else ""
        mol_id = parts[1].strip() if len(parts) > 1 else None
        col.add(record, mol_id, smiles)


def _find_column(df: pd.DataFrame, wanted: str | None, path: Path, what: str,
                 candidates: tuple[str, ...] = ()) -> str | None:
    lower = {str(c).lower(): c for c in df.columns}
    if wanted:
        if wanted in df.columns:
            return wanted
        if wanted.lower() in lower:
            return lower[wanted.lower()]
        if what == "SMILES":
            raise InputError(
                f"{path}: no {what} column {wanted!r}; the columns are "
                f"{', '.join(map(str, df.columns)) or '(none)'} (set the SMILES column name)"
            )
        raise InputError(f"{path}: no {what} column {wanted!r}; the columns are {', '.join(map(str, df.columns))}")
    for c in candidates:
        if c in lower:
            return lower[c]
    return None


def _read_table(path: Path, fmt: str, col: _Collector, smiles_column: str, id_column: str | None) -> None:
    if fmt == "parquet":
        if not path.exists():
            raise InputError(f"{path}: file not found")
        try:
            df = pd.read_parquet(path)
        except Exception as exc:
            raise InputError(f"{path}: cannot be read as Parquet ({exc})") from None
        df = df.astype(object).where(df.notna(), None)
    else:
        data = _read_bytes(path)
        if not data.strip():
            raise InputError(f"{path}: the file is empty; expected a header with a {smiles_column!r} column")
        import io

        try:
            df = pd.read_csv(io.BytesIO(data), sep="\t" if fmt == "tsv" else ",", dtype=object,
                             keep_default_na=False, encoding="utf-8", encoding_errors="surrogateescape")
        except pd.errors.ParserError as exc:
            raise InputError(f"{path}: not a valid {fmt.upper()} table ({exc})") from None
    smiles_col = _find_column(df, smiles_column, path, "SMILES")
    id_col = _find_column(df, id_column, path, "id", ID_CANDIDATES)
    if len(df) == 0:
        raise InputError(f"{path}: has a header but no records")
    ids = df[id_col].tolist() if id_col is not None else [None] * len(df)
    for record, (smi, mol_id) in enumerate(zip(df[smiles_col].tolist(), ids), start=1):
        smi = "" if smi is None else str(smi)
        mol_id = None if mol_id is None else str(mol_id)
        bad = _surrogate_problem(smi) or (mol_id is not None and _surrogate_problem(mol_id))
        if bad:
            shown = smi.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            shown_id = None
            if mol_id is not None:
                shown_id = mol_id.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            col.add(record, shown_id, None, f"row {record + 1}: {bad}", shown=shown)
            continue
        col.add(record, mol_id, smi)


def _surrogate_problem(text: str) -> str:
    for pos, ch in enumerate(text):
        if "\udc80" <= ch <= "\udcff":
            return f"not valid UTF-8 (byte 0x{ord(ch) - 0xDC00:02x} at position {pos + 1})"
    return ""


def _sdf_blocks(data: bytes) -> Iterator[bytes]:
    block: list[bytes] = []
    for line in data.splitlines(keepends=True):
        if line.rstrip(b"\r\n") == b"$$$$":
            yield b"".join(block)
            block = []
        else:
            block.append(line)
    if b"".join(block).strip():
        yield b"".join(block)  # last record without a terminator


def _read_sdf(path: Path, col: _Collector, id_property: str | None) -> None:
    data = _read_bytes(path)
    if not data.strip():
        raise InputError(f"{path}: the file is empty; expected SDF records separated by $$$$")
    for record, raw in enumerate(_sdf_blocks(data), start=1):
        text, problem = _decode(raw)
        if problem:
            col.add(record, None, None, f"SDF record {record}: {problem}",
                    shown=raw.decode("utf-8", "backslashreplace"))
            continue
        lines = text.splitlines()
        title = lines[0].strip() if lines else ""
        mol_id = title or None
        if id_property:
            mol_id = _sd_tag(text, id_property) or None
        end = text.find("M  END")
        block = text[: end + len("M  END")] + "\n" if end >= 0 else text
        col.add(record, mol_id, block)


def _sd_tag(text: str, name: str) -> str:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(">") and f"<{name}>" in line and i + 1 < len(lines):
            return lines[i + 1].strip()
    return ""


def read_molecules(
    path: str | Path,
    *,
    format: str | None = None,
    smiles_column: str = "smiles",
    id_column: str | None = None,
    sdf_id_property: str | None = None,
    max_input_length: int = DEFAULT_MAX_INPUT_LENGTH,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a molecule file into (records, rejects) tables; see the module docstring."""
    path = Path(path)
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        raise InputError(f"{path}: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    col = _Collector(path, "molblock" if fmt == "sdf" else "smiles", max_input_length)
    if fmt == "smi":
        _read_smi(path, col)
    elif fmt == "sdf":
        _read_sdf(path, col, sdf_id_property)
    else:
        _read_table(path, fmt, col, smiles_column, id_column)
    return col.tables()
