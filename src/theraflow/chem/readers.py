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

The formats are the entries of :data:`theraflow.registry.READERS`, declared once in
:mod:`theraflow.chem.formats` (names, file suffixes, record kind); their objects are the record
readers below (:func:`smi_records`, :func:`csv_records`, ...). ``FORMATS`` and suffix detection
are derived from that registry.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
import zlib
from array import array
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from theraflow.io import GZIP_ERRORS, InputError, gzip_error
from theraflow.registry import READERS

log = logging.getLogger(__name__)

RECORD_COLUMNS = ["record", "id", "input", "kind"]
REJECT_COLUMNS = ["id", "record", "input", "stage", "reason"]
ID_CANDIDATES = ("id", "name", "compound_id", "mol_id", "molecule_id", "title")
DEFAULT_MAX_INPUT_LENGTH = 20_000


def __getattr__(name: str):
    if name == "FORMATS":  # derived on each use, so formats a plugin registers are included
        return tuple(READERS.names())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def suffix_formats() -> dict[str, str]:
    """{file suffix: format name}, from the ``suffixes`` each format declares."""
    out: dict[str, str] = {}
    for name in READERS.names():
        for suffix in READERS.info(name).get("suffixes", ()):
            out.setdefault(suffix.lower(), name)
    return out


def detect_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = Path(name).suffix
    by_suffix = suffix_formats()
    try:
        return by_suffix[suffix]
    except KeyError:
        raise InputError(
            f"{path}: cannot tell the molecule format from the suffix {suffix!r}; "
            f"use one of {', '.join(sorted(by_suffix))} (optionally .gz) or pass a format"
        ) from None


def record_kind(fmt: str) -> str:
    """What a record's text is in format ``fmt``: "smiles" or "molblock"."""
    return READERS.info(fmt).get("kind", "smiles")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a molecule file")


def _read_bytes(path: Path) -> bytes:
    _check_file(path)
    data = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except GZIP_ERRORS as exc:
            raise gzip_error(path, exc) from None
    return data


def _decode(raw: bytes) -> tuple[str | None, str]:
    """(text, "") or (None, reason) for bytes that are not UTF-8."""
    try:
        return raw.decode("utf-8"), ""
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        return None, f"not valid UTF-8 (byte 0x{bad} at position {exc.start + 1})"


class _Collector:
    """Builds the records and rejects tables; assigns ids; catches duplicate ids.

    ``duplicates`` (record → record first seen with the same id) replaces the
    collector's own bookkeeping when records are read one shard at a time.
    """

    def __init__(self, path: Path, kind: str, max_input_length: int,
                 duplicates: dict[int, int] | None = None) -> None:
        self.path = path
        self.kind = kind
        self.max_len = max_input_length
        self.stem = path.name.split(".")[0] or "mol"
        self.records: list[tuple[int, str, str, str]] = []
        self.rejects: list[tuple[str, int, str, str, str]] = []
        self.first_seen: dict[str, int] = {}
        self.duplicates = duplicates

    def add(self, record: int, mol_id: str | None, text: str | None, problem: str = "",
            shown: str | None = None) -> None:
        mol_id = _final_id(mol_id, self.stem, record)
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
        if self.duplicates is not None:
            seen = self.duplicates.get(record)
        else:
            seen = self.first_seen.get(mol_id)
            if seen is None:
                self.first_seen[mol_id] = record
        if seen is not None:
            self.rejects.append((mol_id, record, _clip(shown), "read",
                                 f"duplicate id {mol_id!r} (first seen at record {seen})"))
            return
        self.records.append((record, mol_id, text.strip() if self.kind == "smiles" else text, self.kind))

    def tables(self, allow_empty: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
        if not self.records and not self.rejects and not allow_empty:
            raise InputError(f"{self.path}: contains no records")
        recs = pd.DataFrame(self.records, columns=RECORD_COLUMNS)
        recs["record"] = recs["record"].astype("int64")
        rej = pd.DataFrame(self.rejects, columns=REJECT_COLUMNS)
        rej["record"] = rej["record"].astype("int64")
        if len(rej):
            log.info("%s: %d records read, %d rejected while reading", self.path, len(recs), len(rej))
        return recs, rej


def _final_id(mol_id: str | None, stem: str, record: int) -> str:
    return (mol_id or "").strip() or f"{stem}-{record:06d}"


def _clip(text: str, limit: int = 500) -> str:
    text = text.replace("\r", "").replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


# A raw record: (record number, id as given or None, text or None, read problem, text to show)
Raw = tuple[int, "str | None", "str | None", str, "str | None"]


def _smi_lines(path: Path) -> Iterator[bytes]:
    """The lines of a SMILES file (plain or gzip), read as a stream: a shard job or an id scan
    holds one line at a time, not the library. Splits like ``bytes.splitlines`` (\\n, \\r\\n, \\r)."""
    _check_file(path)
    gz = path.name.lower().endswith(".gz")
    try:
        with (gzip.open if gz else open)(path, "rb") as fh:
            for line in fh:
                yield from line.splitlines()
    except GZIP_ERRORS as exc:
        if not gz or not isinstance(exc, (EOFError, zlib.error, gzip.BadGzipFile)):
            raise
        raise gzip_error(path, exc) from None


def _raw_smi(path: Path) -> Iterator[Raw]:
    record = 0
    anything = False
    for line_no, raw in enumerate(_smi_lines(path), start=1):
        if line_no == 1:
            first_text, _ = _decode(raw)
            if first_text is not None and first_text.split() and first_text.split()[0].lower() in ("smiles", "smi"):
                anything = True
                continue  # a header line
        if not raw.strip():
            continue
        anything = True
        record += 1
        text, problem = _decode(raw)
        if problem:
            yield record, None, None, f"line {line_no}: {problem}", raw.decode("utf-8", "backslashreplace")
            continue
        parts = text.split(None, 1)
        yield record, (parts[1].strip() if len(parts) > 1 else None), (parts[0] if parts else ""), "", None
    if not anything:
        raise InputError(f"{path}: the file is empty; expected one SMILES (and optional id) per line")
    if record == 0:
        raise InputError(f"{path}: has a header line but no molecules")


def _find_column(df: pd.DataFrame, wanted: str | None, path: Path, what: str,
                 candidates: tuple[str, ...] = ()) -> str | None:
    lower = {str(c).lower(): c for c in df.columns}
    if wanted:
        if wanted in df.columns:
            return wanted
        if wanted.lower() in lower:
            return lower[wanted.lower()]
        hint = " (set the SMILES column name)" if what == "SMILES" else ""
        raise InputError(
            f"{path}: no {what} column {wanted!r}; the columns are "
            f"{', '.join(map(str, df.columns)) or '(none)'}{hint}"
        )
    for c in candidates:
        if c in lower:
            return lower[c]
    return None


def _raw_table(path: Path, fmt: str, smiles_column: str, id_column: str | None,
               chunksize: int = 100_000) -> Iterator[Raw]:
    import io

    if fmt == "parquet":
        import pyarrow.parquet as pq

        if not path.exists():
            raise InputError(f"{path}: file not found")
        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:
            raise InputError(f"{path}: cannot be read as Parquet ({exc})") from None
        header = pd.DataFrame(columns=pf.schema_arrow.names)
        smiles_col = _find_column(header, smiles_column, path, "SMILES")
        id_col = _find_column(header, id_column, path, "id", ID_CANDIDATES)
        if pf.metadata.num_rows == 0:
            raise InputError(f"{path}: has a header but no records")
        cols = [c for c in (smiles_col, id_col) if c is not None]
        chunks = (b.to_pandas() for b in pf.iter_batches(batch_size=chunksize, columns=cols))
    else:
        data = _read_bytes(path)
        if not data.strip():
            raise InputError(f"{path}: the file is empty; expected a header with a {smiles_column!r} column")
        sep = "\t" if fmt == "tsv" else ","
        try:
            header = pd.read_csv(io.BytesIO(data), sep=sep, nrows=0, encoding="utf-8",
                                 encoding_errors="surrogateescape")
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputError(f"{path}: not a valid {fmt.upper()} table ({exc})") from None
        smiles_col = _find_column(header, smiles_column, path, "SMILES")
        id_col = _find_column(header, id_column, path, "id", ID_CANDIDATES)
        cols = [c for c in (smiles_col, id_col) if c is not None]
        try:
            chunks = pd.read_csv(io.BytesIO(data), sep=sep, dtype=object, keep_default_na=False, usecols=cols,
                                 encoding="utf-8", encoding_errors="surrogateescape", chunksize=chunksize)
        except pd.errors.ParserError as exc:
            raise InputError(f"{path}: not a valid {fmt.upper()} table ({exc})") from None
    record = 0
    try:
        for df in chunks:
            ids = df[id_col].tolist() if id_col is not None else [None] * len(df)
            for smi, mol_id in zip(df[smiles_col].tolist(), ids):
                record += 1
                smi = "" if smi is None or (isinstance(smi, float) and smi != smi) else str(smi)
                mol_id = None if mol_id is None or (isinstance(mol_id, float) and mol_id != mol_id) else str(mol_id)
                bad = _surrogate_problem(smi) or (mol_id is not None and _surrogate_problem(mol_id))
                if bad:
                    shown = smi.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                    if mol_id is not None:
                        mol_id = mol_id.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                    yield record, mol_id, None, f"row {record + 1}: {bad}", shown
                    continue
                yield record, mol_id, smi, "", None
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: not a valid {fmt.upper()} table after record {record} ({exc})") from None
    if record == 0:
        raise InputError(f"{path}: has a header but no records")


_WHITESPACE = re.compile(r"\s")
_WHITESPACE_NAMES = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", " ": "a space"}


def smiles_whitespace_problem(smiles: str) -> str:
    """Why a SMILES with whitespace inside it cannot be used ("" when it has none).

    RDKit's parser stops at the first whitespace (what follows is a name in a SMILES
    line), so "C\nC" from a quoted CSV field would silently become methane. Whitespace
    at either end is not a problem: callers strip it.
    """
    text = smiles.strip()
    found = _WHITESPACE.search(text)
    if found is None:
        return ""
    pos, ch = found.start(), found.group()
    what = _WHITESPACE_NAMES.get(ch, f"whitespace U+{ord(ch):04X}")
    return (f"SMILES holds {what} at position {pos + 1}; RDKit would read only {text[:pos]!r} "
            "and drop the rest (one SMILES per field, no whitespace inside it)")


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


def _raw_sdf(path: Path, id_property: str | None) -> Iterator[Raw]:
    data = _read_bytes(path)
    if not data.strip():
        raise InputError(f"{path}: the file is empty; expected SDF records separated by $$$$")
    for record, raw in enumerate(_sdf_blocks(data), start=1):
        text, problem = _decode(raw)
        if problem:
            yield record, None, None, f"SDF record {record}: {problem}", raw.decode("utf-8", "backslashreplace")
            continue
        lines = text.splitlines()
        mol_id = (lines[0].strip() if lines else "") or None
        if id_property:
            mol_id = _sd_tag(text, id_property) or None
        end = text.find("M  END")
        block = text[: end + len("M  END")] + "\n" if end >= 0 else text
        yield record, mol_id, block, "", None


def _sd_tag(text: str, name: str) -> str:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(">") and f"<{name}>" in line and i + 1 < len(lines):
            return lines[i + 1].strip()
    return ""


# ------------------------------------------------------------------ the record readers
# The objects of the READERS entries (see theraflow.chem.formats): one signature for every format.
def smi_records(path: Path, *, smiles_column: str = "smiles", id_column: str | None = None,
                sdf_id_property: str | None = None) -> Iterator[Raw]:
    """Raw records of a SMILES file (``smi``); the column options do not apply."""
    return _raw_smi(path)


def csv_records(path: Path, *, smiles_column: str = "smiles", id_column: str | None = None,
                sdf_id_property: str | None = None) -> Iterator[Raw]:
    """Raw records of a comma-separated table (``csv``)."""
    return _raw_table(path, "csv", smiles_column, id_column)


def tsv_records(path: Path, *, smiles_column: str = "smiles", id_column: str | None = None,
                sdf_id_property: str | None = None) -> Iterator[Raw]:
    """Raw records of a tab-separated table (``tsv``)."""
    return _raw_table(path, "tsv", smiles_column, id_column)


def parquet_records(path: Path, *, smiles_column: str = "smiles", id_column: str | None = None,
                    sdf_id_property: str | None = None) -> Iterator[Raw]:
    """Raw records of a Parquet table (``parquet``)."""
    return _raw_table(path, "parquet", smiles_column, id_column)


def sdf_records(path: Path, *, smiles_column: str = "smiles", id_column: str | None = None,
                sdf_id_property: str | None = None) -> Iterator[Raw]:
    """Raw records of an SD file (``sdf``): molblocks, ids from the title line or ``sdf_id_property``."""
    return _raw_sdf(path, sdf_id_property)


def _raw_records(path: Path, fmt: str, smiles_column: str, id_column: str | None,
                 sdf_id_property: str | None) -> Iterator[Raw]:
    reader = READERS.get(fmt)
    return reader(path, smiles_column=smiles_column, id_column=id_column, sdf_id_property=sdf_id_property)


def _resolve_format(path: Path, format: str | None) -> str:
    fmt = format or detect_format(path)
    if fmt not in READERS:
        raise InputError(f"{path}: unknown format {fmt!r}; expected one of {', '.join(READERS.names())}")
    return fmt


def scan_ids(path: str | Path, *, format: str | None = None, smiles_column: str = "smiles",
             id_column: str | None = None, sdf_id_property: str | None = None) -> tuple[int, dict[int, int]]:
    """(number of records, {record: first record with the same id} for duplicate ids).

    Keeps 8 bytes per record (a hash of its id), so a shard job can check ids across a
    library of millions without holding the library.
    """
    path = Path(path)
    fmt = _resolve_format(path, format)
    stem = path.name.split(".")[0] or "mol"
    hashes = array("q")
    for record, mol_id, *_ in _raw_records(path, fmt, smiles_column, id_column, sdf_id_property):
        digest = hashlib.blake2b(_final_id(mol_id, stem, record).encode("utf-8", "surrogatepass"), digest_size=8)
        hashes.append(int.from_bytes(digest.digest(), "little", signed=True))
    h = np.frombuffer(hashes, dtype=np.int64) if len(hashes) else np.zeros(0, np.int64)
    # about 26 bytes per record at the peak (np.unique with its index arrays took ~140)
    order = np.argsort(h, kind="stable")  # equal hashes stay in record order
    hs = h[order]
    same = hs[1:] == hs[:-1]
    del hs
    repeat = np.flatnonzero(same) + 1  # sorted positions whose hash the previous one has
    if not len(repeat):
        return len(h), {}
    run_start = np.flatnonzero(np.concatenate(([True], ~same)))
    first = order[run_start[np.searchsorted(run_start, repeat, side="right") - 1]]
    return len(h), {int(d) + 1: int(f) + 1 for d, f in zip(order[repeat], first)}


def count_records(path: str | Path, **options) -> int:
    return scan_ids(path, **options)[0]


def read_molecule_shard(path: str | Path, start: int, stop: int, *, format: str | None = None,
                        smiles_column: str = "smiles", id_column: str | None = None,
                        sdf_id_property: str | None = None,
                        max_input_length: int = DEFAULT_MAX_INPUT_LENGTH,
                        scan: tuple[int, dict[int, int]] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Records ``start`` ≤ record < ``stop`` (1-based) of a molecule file, ids checked against
    the whole file; returns (records, rejects, number of records in the file)."""
    path = Path(path)
    fmt = _resolve_format(path, format)
    n_total, duplicates = scan or scan_ids(path, format=fmt, smiles_column=smiles_column, id_column=id_column,
                                           sdf_id_property=sdf_id_property)
    col = _Collector(path, record_kind(fmt), max_input_length, duplicates)
    for record, mol_id, text, problem, shown in _raw_records(path, fmt, smiles_column, id_column, sdf_id_property):
        if record < start:
            continue
        if record >= stop:
            break
        col.add(record, mol_id, text, problem, shown)
    recs, rej = col.tables(allow_empty=True)
    return recs, rej, n_total


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
    fmt = _resolve_format(path, format)
    col = _Collector(path, record_kind(fmt), max_input_length)
    for record, mol_id, text, problem, shown in _raw_records(path, fmt, smiles_column, id_column, sdf_id_property):
        col.add(record, mol_id, text, problem, shown)
    return col.tables()
