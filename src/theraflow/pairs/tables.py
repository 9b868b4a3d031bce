"""Pair tables read row by row: every bad row becomes a rejects row (file, line, column, reason).

:func:`read_pairs` maps a CSV/TSV/Parquet table's columns onto a task's fields (ids, SMILES,
sequences, a numeric label, a binary label or one of declared classes), checks each value and
returns the good rows and a rejects table. ``on_error="stop"`` raises on the first bad row
instead, naming the file, the line (CSV/TSV: the line of the file, header = line 1; Parquet: the
row) and the column. A file that cannot be used at all (missing, not a table, a required column
absent, no rows) always raises :class:`~theraflow.errors.InputError`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from theraflow.errors import InputError
from theraflow.io import read_table, record_lines

log = logging.getLogger(__name__)

REJECT_COLUMNS = ["file", "line", "column", "reason"]
ON_ERROR = ("stop", "reject")


@dataclass(frozen=True)
class Field:
    """A field of a pair table: its standard name and what its values must be."""

    name: str
    kind: str  # "id", "smiles", "sequence", "number", "binary", "class", "text" (any non-empty value)
    required: bool = True


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def line_labels(path: str | Path, records: int) -> list[str]:
    """Where each record of a table is, as rejects and errors name it: Parquet ``row <n>``; CSV/TSV
    ``line <n>``, the line of the file the record starts on (header = line 1), true after a quoted field
    that holds line breaks and after blank lines."""
    path = Path(path)
    if is_parquet(path):
        return [f"row {i + 1}" for i in range(records)]
    return [f"line {n}" for n in record_lines(path, records)]


class Rejects:
    """Collects bad rows: (file, line, column, reason); with ``stop``, :meth:`raise_first` raises on the first."""

    def __init__(self, path: Path, on_error: str, lines: list[str]) -> None:
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
        self.path = path
        self.stop = on_error == "stop"
        self.lines = lines  # line_labels of the table's records
        self.rows: list[tuple[str, str, str, str]] = []
        self.bad: set[int] = set()

    def add(self, mask: np.ndarray, column: str, reasons) -> None:
        """Reject the rows where ``mask`` holds; ``reasons`` is a string or a per-row sequence."""
        for i in np.flatnonzero(mask):
            if int(i) in self.bad:
                continue  # one reason per row: the first found
            reason = reasons if isinstance(reasons, str) else reasons[i]
            self.bad.add(int(i))
            self.rows.append((int(i), str(self.path), column, reason))

    def raise_first(self) -> None:
        """``stop``: the first bad row of the file (by position) stops the load."""
        if self.stop and self.rows:
            i, _, column, reason = min(self.rows)
            raise InputError(f"{self.path}: {self.lines[i]}, column {column!r}: {reason}")

    def table(self) -> pd.DataFrame:
        rows = [(f, self.lines[i], c, r) for i, f, c, r in sorted(self.rows)]
        return pd.DataFrame(rows, columns=REJECT_COLUMNS)


def _blank(values: pd.Series) -> np.ndarray:
    return (values.isna() | (values.astype(str).str.strip() == "")).to_numpy()


def read_raw(path: str | Path) -> pd.DataFrame:
    """A pair table's cells as text (CSV/TSV) or as stored (Parquet)."""
    path = Path(path)
    return read_table(path, dtype=str, keep_default_na=False) if path.suffix.lower() not in (".parquet", ".pq") \
        else read_table(path)


def read_header(path: str | Path) -> list[str]:
    """A pair table's column names, reading nothing else (what a dry run checks)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    return [str(c) for c in read_table(path, nrows=0).columns]


def read_pairs(path: str | Path, fields: list[Field], columns: dict[str, str] | None = None, *,
               on_error: str = "reject", classes: list | None = None,
               raw: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(good rows with the fields' standard names, rejects); see the module docstring.

    ``columns`` maps a field name to the table's column (default: the field's own name).
    ``classes`` declares the values a ``class`` field may take (as strings or numbers).
    ``raw``: the table already read (:func:`read_raw`).
    """
    path = Path(path)
    columns = {f.name: (columns or {}).get(f.name, f.name) for f in fields}
    raw = read_raw(path) if raw is None else raw
    missing = [f"{f.name} ({columns[f.name]!r})" for f in fields if f.required and columns[f.name] not in raw.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; the columns are "
                         f"{', '.join(map(str, raw.columns))}")
    if raw.empty:
        raise InputError(f"{path}: has a header but no pairs")
    raw = raw.reset_index(drop=True)
    rejects = Rejects(path, on_error, line_labels(path, len(raw)))
    out = pd.DataFrame(index=raw.index)
    for f in fields:
        col = columns[f.name]
        if col not in raw.columns:
            out[f.name] = ""
            continue
        values = raw[col]
        text = values.fillna("").astype(str).str.strip()
        if f.kind in ("id", "smiles", "text"):
            what = {"smiles": "SMILES", "text": "label"}.get(f.kind, f.name)
            rejects.add(_blank(values), col, f"empty {what}")
            out[f.name] = text
        elif f.kind == "sequence":
            seq = values.fillna("").astype(str).str.strip()
            odd = seq.str.contains(r"[^A-Za-z]", regex=True).to_numpy()
            reasons = [_sequence_problem(s) if bad else "" for s, bad in zip(seq, odd)]
            rejects.add(odd, col, reasons)
            out[f.name] = seq
        elif f.kind == "number":
            number = pd.to_numeric(values, errors="coerce")
            bad = ~np.isfinite(number.to_numpy(dtype=np.float64))
            reasons = [f"{'empty label' if not str(v).strip() else f'not a finite number: {str(v)!r}'}"
                       for v in values]
            rejects.add(bad, col, reasons)
            out[f.name] = number
        elif f.kind in ("binary", "class"):
            allowed = [str(c) for c in (classes if f.kind == "class" else (0, 1))]
            normal = text.map(class_text)
            bad = ~normal.isin([class_text(a) for a in allowed]).to_numpy()
            shown = ", ".join(allowed[:10]) + (" ..." if len(allowed) > 10 else "")
            reasons = [f"label {v!r} is not one of the declared classes ({shown})" for v in text]
            rejects.add(bad, col, reasons)
            out[f.name] = normal
        else:  # pragma: no cover - a programming error
            raise ValueError(f"unknown field kind {f.kind!r}")
    rejects.raise_first()
    keep = np.ones(len(out), dtype=bool)
    keep[list(rejects.bad)] = False
    out["line"] = rejects.lines
    return out[keep].reset_index(drop=True), rejects.table()


def unordered_key(a: pd.Series, b: pd.Series) -> pd.Series:
    """One key per unordered pair of ids: both orders (and every label of a pair) share it."""
    av, bv = a.to_numpy(dtype=object), b.to_numpy(dtype=object)
    lo = np.where(av <= bv, av, bv)
    hi = np.where(av <= bv, bv, av)
    return pd.Series([f"{x}|{y}" for x, y in zip(lo, hi)], index=a.index)


def class_text(value) -> str:
    """A class label as text: '3', '3.0' and 3 are one class."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def _sequence_problem(seq: str) -> str:
    for pos, ch in enumerate(seq, start=1):
        if not (ch.isascii() and ch.isalpha()):
            return f"the sequence holds {ch!r} at position {pos}, which is not an amino-acid letter"
    return ""


def reject_conflicts(pairs: pd.DataFrame, rejects: pd.DataFrame, path: Path, key: str, value: str, what: str,
                     on_error: str, column: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows giving an entity ``key`` another ``value`` than its first row did become rejects
    (``column``: the table's name of the value's column)."""
    column = column or value
    first = pairs.groupby(key)[value].transform("first")
    bad = (pairs[value] != first).to_numpy()
    if not bad.any():
        return pairs, rejects
    i = int(np.argmax(bad))
    if on_error == "stop":
        raise InputError(f"{path}: {pairs['line'].iat[i]}, column {column!r}: {key.split('_')[0]} "
                         f"{pairs[key].iat[i]!r} has another {what} than on its first line")
    extra = pd.DataFrame({"file": str(path), "line": pairs.loc[bad, "line"].to_numpy(), "column": column,
                          "reason": [f"{key.split('_')[0]} {k!r} has another {what} than on its first line"
                                     for k in pairs.loc[bad, key]]})
    return pairs[~bad].reset_index(drop=True), pd.concat([rejects, extra], ignore_index=True)
