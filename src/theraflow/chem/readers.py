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
import logging
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


def _sd_tag(text: str, name: str) -> str:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(">") and f"<{name}>" in line and i + 1 < len(lines):
            return lines[i + 1].strip()
    return ""



# ------------------------------------------------------------------ blocks
# Every built-in format reads its file as consecutive *blocks*: runs of whole records, cut where a record
# ends (after a newline for SMILES files, after a newline outside quotes for CSV/TSV, after a $$$$ line for
# SDF; a row group for Parquet). The whole-file reader parses every block; a shard parses only the blocks
# that hold its records, found through the library's index (theraflow.chem.library_index). Both call the
# same parse function on the same bytes, so a shard holds exactly the records, ids and rejects that the
# whole-file reader gives for its range.

BLOCK_BYTES = 4 << 20  # a text block holds the whole records that end within about this many bytes


@dataclass(frozen=True)
class Block:
    """A run of whole records: ``offset``/``length`` in bytes of the (decompressed) file for a text format,
    row-group number / rows for Parquet; its first record (1-based) and first line; how many records."""

    offset: int
    length: int
    first_record: int
    first_line: int
    n_records: int


class _Incomplete(Exception):
    """A block ended inside a quoted CSV field: it is parsed again together with the next block."""


def is_gzip(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def _byte_blocks(path: Path, cut, start: int = 0, block_bytes: int | None = None,
                 shown: Path | None = None) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of consecutive runs of whole records, from byte ``start`` of the file's (decompressed)
    stream to its end, read as a stream; ``cut(buf)`` is where the last whole record in ``buf`` ends (0: none)."""
    _check_file(path)
    gz = is_gzip(path)
    try:
        with (gzip.open if gz else open)(path, "rb") as fh:
            if start:
                fh.seek(start)
            buf, offset = b"", start
            while True:
                chunk = fh.read(block_bytes or BLOCK_BYTES)
                if not chunk:
                    break
                buf = buf + chunk if buf else chunk
                pos = cut(buf)
                if pos:
                    yield offset, buf[:pos]
                    offset += pos
                    buf = buf[pos:]
            if buf:
                yield offset, buf
    except GZIP_ERRORS as exc:
        if not gz or not isinstance(exc, (EOFError, zlib.error, gzip.BadGzipFile)):
            raise
        raise gzip_error(shown or path, exc) from None


def _read_range(path: Path, offset: int, length: int, shown: Path) -> bytes:
    """``length`` bytes from ``offset`` of a file's (decompressed) stream."""
    gz = is_gzip(path)
    try:
        with (gzip.open if gz else open)(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(length)
    except GZIP_ERRORS as exc:
        if not gz or not isinstance(exc, (EOFError, zlib.error, gzip.BadGzipFile)):
            raise
        raise gzip_error(shown, exc) from None
    if len(data) != length:
        raise InputError(f"{shown}: ends at byte {offset + len(data)}, before the {length} bytes from {offset} "
                         "that its index lists; the file changed after it was indexed")
    return data


def _cut_lines(buf: bytes) -> int:
    return buf.rfind(b"\n") + 1


def _cut_quoted(buf: bytes) -> int:
    """After the last newline outside double quotes (quotes counted from the block's start, a record start)."""
    quotes_after = 0
    end = len(buf)
    total = buf.count(b'"')
    while True:
        nl = buf.rfind(b"\n", 0, end)
        if nl < 0:
            return 0
        quotes_after += buf.count(b'"', nl + 1, end)
        if (total - quotes_after) % 2 == 0:
            return nl + 1
        end = nl


_SDF_END = re.compile(rb"(?:^|(?<=[\r\n]))\$\$\$\$\r?\n", re.M)


def _cut_sdf(buf: bytes) -> int:
    """After the last ``$$$$`` line (a record terminator) whose newline is in ``buf``."""
    last = 0
    for m in _SDF_END.finditer(buf, max(0, len(buf) - (1 << 20))):
        last = m.end()
    if last:
        return last
    for m in _SDF_END.finditer(buf):  # a record longer than the 1 MiB looked at first
        last = m.end()
    return last


class BlockFormat:
    """A molecule file format read in blocks (see above). Calling it reads the whole file's raw records."""

    kind = "smiles"
    name = ""

    def context(self, path: Path, source: Path, opts: dict) -> dict:
        """What every block of this file needs (a CSV header, the columns), read from the head of ``source``;
        ``start``: where the first block begins; raises InputError for a file that cannot be used at all."""
        return {"start": 0}

    def blocks(self, path: Path, source: Path, ctx: dict) -> Iterator[tuple[Block, list[Raw]]]:
        """Every block of the file with its raw records, in order."""
        record, line = 1, 1
        pending: tuple[int, bytes] | None = None
        chunks = _byte_blocks(source, self.cut, ctx["start"], shown=path)
        nxt = next(chunks, None)
        while nxt is not None:
            offset, data = nxt
            if pending is not None:
                offset, data = pending[0], pending[1] + data
                pending = None
            nxt = next(chunks, None)
            try:
                raws, lines = self.parse(path, data, ctx, record, line, final=nxt is None)
            except _Incomplete:
                pending = (offset, data)
                continue
            yield Block(offset, len(data), record, line, len(raws)), raws
            record += len(raws)
            line += lines

    def read(self, path: Path, source: Path, ctx: dict, block: Block) -> list[Raw]:
        """The raw records of one block of an indexed file."""
        data = _read_range(source, block.offset, block.length, path)
        raws, _ = self.parse(path, data, ctx, block.first_record, block.first_line, final=True)
        if len(raws) != block.n_records:
            raise InputError(f"{path}: the block at byte {block.offset} holds {len(raws)} records where its index "
                             f"lists {block.n_records}; the file changed after it was indexed")
        return raws

    def no_records(self, path: Path, source: Path, ctx: dict) -> None:
        raise InputError(f"{path}: contains no records")

    def __call__(self, path: Path, *, smiles_column: str = "smiles", id_column: str | None = None,
                 sdf_id_property: str | None = None) -> Iterator[Raw]:
        path = Path(path)
        ctx = self.context(path, path, dict(smiles_column=smiles_column, id_column=id_column,
                                            sdf_id_property=sdf_id_property))
        n = 0
        for _, raws in self.blocks(path, path, ctx):
            n += len(raws)
            yield from raws
        if n == 0:
            self.no_records(path, path, ctx)


def _first_nonblank(source: Path, shown: Path) -> bytes | None:
    """The start of the file's first block that holds more than whitespace (None: only whitespace)."""
    for _, data in _byte_blocks(source, _cut_lines, shown=shown):
        if data.strip():
            return data
    return None


class SmiFormat(BlockFormat):
    """SMILES file (``smi``): one SMILES per line, optionally followed by an id; an optional header line."""

    name = "smi"
    cut = staticmethod(_cut_lines)

    def parse(self, path, data, ctx, first_record, first_line, final):
        out: list[Raw] = []
        record = first_record - 1
        lines = data.splitlines()
        for line_no, raw in enumerate(lines, start=first_line):
            if line_no == 1:
                first_text, _ = _decode(raw)
                if first_text is not None and first_text.split() and first_text.split()[0].lower() in ("smiles",
                                                                                                      "smi"):
                    continue  # a header line
            if not raw.strip():
                continue
            record += 1
            text, problem = _decode(raw)
            if problem:
                out.append((record, None, None, f"line {line_no}: {problem}", raw.decode("utf-8", "backslashreplace")))
                continue
            parts = text.split(None, 1)
            out.append((record, (parts[1].strip() if len(parts) > 1 else None), (parts[0] if parts else ""), "",
                        None))
        return out, len(lines)

    def no_records(self, path, source, ctx):
        if _first_nonblank(source, path) is None:
            raise InputError(f"{path}: the file is empty; expected one SMILES (and optional id) per line")
        raise InputError(f"{path}: has a header line but no molecules")


def _header_end(head: bytes) -> int:
    """Where a table's header record ends: after the first newline outside quotes that follows a line holding
    more than whitespace (pandas skips blank lines before the header); 0 when ``head`` holds no such newline."""
    pos = 0
    while True:
        nl = head.find(b"\n", pos)
        if nl < 0:
            return 0
        pos = nl + 1
        if head[:pos].strip() and head.count(b'"', 0, pos) % 2 == 0:
            return pos


class TableFormat(BlockFormat):
    """Comma- or tab-separated table with a header; SMILES and id columns by name."""

    cut = staticmethod(_cut_quoted)

    def __init__(self, name: str, sep: str) -> None:
        self.name, self.sep = name, sep

    def context(self, path, source, opts):
        import io

        head, end = b"", 0
        for _, data in _byte_blocks(source, _cut_quoted, shown=path):
            head += data
            end = _header_end(head)
            if end:
                head = head[:end]
                break
        if not head.strip():
            raise InputError(f"{path}: the file is empty; expected a header with a {opts['smiles_column']!r} column")
        try:
            header = pd.read_csv(io.BytesIO(head), sep=self.sep, nrows=0, encoding="utf-8",
                                 encoding_errors="surrogateescape")
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputError(f"{path}: not a valid {self.name.upper()} table ({exc})") from None
        smiles_col = _find_column(header, opts["smiles_column"], path, "SMILES")
        id_col = _find_column(header, opts["id_column"], path, "id", ID_CANDIDATES)
        return {"start": len(head), "header": head, "header_lines": head.count(b"\n"),
                "smiles_col": smiles_col, "id_col": id_col}

    def parse(self, path, data, ctx, first_record, first_line, final):
        import io

        cols = [c for c in (ctx["smiles_col"], ctx["id_col"]) if c is not None]
        try:
            df = pd.read_csv(io.BytesIO(ctx["header"] + data), sep=self.sep, dtype=object, keep_default_na=False,
                             usecols=cols, encoding="utf-8", encoding_errors="surrogateescape")
        except pd.errors.ParserError as exc:
            if not final and "EOF inside string" in str(exc):
                raise _Incomplete from None
            first = ctx["header_lines"] + first_line  # the block's first line in the file
            msg = re.sub(r"\b(line|row) (\d+)", lambda m: f"{m.group(1)} {int(m.group(2)) - ctx['header_lines'] - 1 + first}"
                         if m.group(1) == "line" else m.group(0), str(exc))
            raise InputError(f"{path}: not a valid {self.name.upper()} table after record {first_record - 1} "
                             f"({msg})") from None
        except pd.errors.EmptyDataError:
            return [], data.count(b"\n")
        out: list[Raw] = []
        record = first_record - 1
        ids = df[ctx["id_col"]].tolist() if ctx["id_col"] is not None else [None] * len(df)
        for smi, mol_id in zip(df[ctx["smiles_col"]].tolist(), ids):
            record += 1
            out.append(_table_raw(record, smi, mol_id))
        return out, data.count(b"\n")

    def no_records(self, path, source, ctx):
        raise InputError(f"{path}: has a header but no records")


def _table_raw(record: int, smi, mol_id) -> Raw:
    smi = "" if smi is None or (isinstance(smi, float) and smi != smi) else str(smi)
    mol_id = None if mol_id is None or (isinstance(mol_id, float) and mol_id != mol_id) else str(mol_id)
    bad = _surrogate_problem(smi) or (mol_id is not None and _surrogate_problem(mol_id))
    if bad:
        shown = smi.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        if mol_id is not None:
            mol_id = mol_id.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return record, mol_id, None, f"row {record + 1}: {bad}", shown
    return record, mol_id, smi, "", None


class SdfFormat(BlockFormat):
    """MDL SD file (``sdf``): molblocks separated by $$$$; id from the title line or an SD tag."""

    name = "sdf"
    kind = "molblock"
    cut = staticmethod(_cut_sdf)

    def context(self, path, source, opts):
        return {"start": 0, "id_property": opts.get("sdf_id_property")}

    def parse(self, path, data, ctx, first_record, first_line, final):
        out: list[Raw] = []
        for record, raw in enumerate(_sdf_blocks(data), start=first_record):
            text, problem = _decode(raw)
            if problem:
                out.append((record, None, None, f"SDF record {record}: {problem}",
                            raw.decode("utf-8", "backslashreplace")))
                continue
            lines = text.splitlines()
            mol_id = (lines[0].strip() if lines else "") or None
            if ctx["id_property"]:
                mol_id = _sd_tag(text, ctx["id_property"]) or None
            end = text.find("M  END")
            block = text[: end + len("M  END")] + "\n" if end >= 0 else text
            out.append((record, mol_id, block, "", None))
        return out, data.count(b"\n")

    def no_records(self, path, source, ctx):
        raise InputError(f"{path}: the file is empty; expected SDF records separated by $$$$")


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


class ParquetFormat(BlockFormat):
    """Parquet table (``parquet``): SMILES and id columns by name; a block is a row group."""

    name = "parquet"

    def _file(self, path: Path, source: Path):
        import pyarrow.parquet as pq

        _check_file(source)
        try:
            return pq.ParquetFile(source)
        except Exception as exc:
            raise InputError(f"{path}: cannot be read as Parquet ({exc})") from None

    def context(self, path, source, opts):
        pf = self._file(path, source)
        header = pd.DataFrame(columns=pf.schema_arrow.names)
        smiles_col = _find_column(header, opts["smiles_column"], path, "SMILES")
        id_col = _find_column(header, opts["id_column"], path, "id", ID_CANDIDATES)
        if pf.metadata.num_rows == 0:
            raise InputError(f"{path}: has a header but no records")
        return {"start": 0, "smiles_col": smiles_col, "id_col": id_col}

    def _group(self, pf, group: int, ctx: dict, first_record: int) -> list[Raw]:
        cols = [c for c in (ctx["smiles_col"], ctx["id_col"]) if c is not None]
        out: list[Raw] = []
        record = first_record - 1
        for batch in pf.iter_batches(batch_size=100_000, row_groups=[group], columns=cols):
            df = batch.to_pandas()
            ids = df[ctx["id_col"]].tolist() if ctx["id_col"] is not None else [None] * len(df)
            for smi, mol_id in zip(df[ctx["smiles_col"]].tolist(), ids):
                record += 1
                out.append(_table_raw(record, smi, mol_id))
        return out

    def blocks(self, path, source, ctx):
        pf = self._file(path, source)
        record = 1
        for g in range(pf.metadata.num_row_groups):
            raws = self._group(pf, g, ctx, record)
            yield Block(g, pf.metadata.row_group(g).num_rows, record, 0, len(raws)), raws
            record += len(raws)

    def read(self, path, source, ctx, block):
        return self._group(self._file(path, source), block.offset, ctx, block.first_record)

    def no_records(self, path, source, ctx):
        raise InputError(f"{path}: has a header but no records")


# ------------------------------------------------------------------ the record readers
# The objects of the READERS entries (see theraflow.chem.formats). Each is called as
# ``reader(path, *, smiles_column, id_column, sdf_id_property)`` and yields raw records; a format a plugin
# registers may be a plain function of that signature (it is then read whole, without blocks).
smi_records = SmiFormat()
csv_records = TableFormat("csv", ",")
tsv_records = TableFormat("tsv", "\t")
parquet_records = ParquetFormat()
sdf_records = SdfFormat()


def _raw_records(path: Path, fmt: str, smiles_column: str, id_column: str | None,
                 sdf_id_property: str | None) -> Iterator[Raw]:
    reader = READERS.get(fmt)
    return reader(path, smiles_column=smiles_column, id_column=id_column, sdf_id_property=sdf_id_property)


def resolve_format(path: Path, format: str | None) -> str:
    fmt = format or detect_format(path)
    if fmt not in READERS:
        raise InputError(f"{path}: unknown format {fmt!r}; expected one of {', '.join(READERS.names())}")
    return fmt


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
    fmt = resolve_format(path, format)
    col = _Collector(path, record_kind(fmt), max_input_length)
    for record, mol_id, text, problem, shown in _raw_records(path, fmt, smiles_column, id_column, sdf_id_property):
        col.add(record, mol_id, text, problem, shown)
    return col.tables()
