"""Atomic writes, table readers/writers and checksums.

Every file theraflow writes goes through :func:`atomic_write` (or a helper built on
it): the content is written to a temporary file in the target's directory, flushed
and fsynced, then renamed over the target, so a reader sees the old file or the new
one, never half of one, and a killed job leaves no truncated output behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pandas as pd

from theraflow.errors import InputError

__all__ = ["InputError", "atomic_write", "read_table", "write_table", "write_json", "sha256_file", "safe_name"]

TABLE_SUFFIXES = (".parquet", ".csv", ".tsv", ".csv.gz", ".tsv.gz")


def current_umask() -> int:
    """The process umask, read without changing it where the kernel reports it (Linux: ``/proc/self/status``);
    elsewhere it is read by setting it and setting it straight back. Read at each call, not cached: a
    process (or a test) may change its umask."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o077)
    os.umask(old)
    return old


def file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give a new file under the current umask."""
    return 0o666 & ~current_umask()


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", *, tmp_dir: str | os.PathLike | None = None,
                 encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary file for writing; on success rename it to ``path``.

    ``tmp_dir`` must be on the same filesystem as ``path`` (default: its directory).
    On an exception the temporary file is removed and ``path`` is left untouched. The file gets the mode a
    plain ``open()`` would give it under the process umask (umask 002: group-writable; 077: private).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    directory = Path(tmp_dir) if tmp_dir is not None else path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        # mkstemp makes the file 0600 whatever the umask, and the rename keeps that mode: give it the mode an
        # ordinary new file would have, so a group-readable umask gives a group-readable store and reports.
        with contextlib.suppress(OSError):  # a filesystem without modes (some network mounts) keeps its own
            os.fchmod(fd, file_mode())
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike, *, prefix: str = ".build-") -> Iterator[Path]:
    """A temporary folder beside ``final`` to write into; on success it replaces ``final`` (a rename), on an
    exception it is removed and ``final`` is left as it was. The folder gets the mode a plain ``mkdir`` would
    give it under the umask (``mkdtemp`` makes it private). Readers see the old folder or the new, whole."""
    import shutil

    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=final.parent))
    try:
        with contextlib.suppress(OSError):
            os.chmod(tmp, 0o777 & ~current_umask())
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        fsync_dir(final.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def remove_other_dirs(parent: str | os.PathLike, keep: set[str]) -> None:
    """Remove the folders in ``parent`` not named in ``keep`` (hidden ones, being written, stay): the
    versions a newer one replaced."""
    import shutil

    for old in Path(parent).iterdir():
        if old.is_dir() and old.name not in keep and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_write(path, "wb") as fh:
        fh.write(data)



def figure_png(fig, path: str | Path | None = None, *, dpi: int = 110) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed), written atomically to ``path`` when given."""
    import io as _io

    import matplotlib.pyplot as plt

    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    data = buf.getvalue()
    if path is not None:
        write_bytes(path, data)
    return data

def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a table atomically; the format follows the suffix (.parquet, .csv, .tsv[.gz])."""
    path = Path(path)
    name = path.name.lower()
    with atomic_write(path, "wb") as fh:
        if name.endswith(".parquet"):
            df.to_parquet(fh, index=False)
        elif name.endswith((".tsv", ".tsv.gz")):
            df.to_csv(fh, sep="\t", index=False, compression="gzip" if name.endswith(".gz") else None)
        elif name.endswith((".csv", ".csv.gz")):
            df.to_csv(fh, index=False, compression="gzip" if name.endswith(".gz") else None)
        else:
            raise ValueError(f"{path}: unknown table format (use one of {', '.join(TABLE_SUFFIXES)})")


def read_table(path: str | os.PathLike, **kwargs: Any) -> pd.DataFrame:
    """Read a table written by :func:`write_table` (or any CSV/TSV/Parquet)."""
    path = Path(path)
    name = path.name.lower()
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        if name.endswith(".parquet"):
            return pd.read_parquet(path, **kwargs)
        return pd.read_csv(path, sep=table_sep(path), **kwargs)
    except (ValueError, OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, InputError):
            raise
        if name.endswith(".gz") and isinstance(exc, GZIP_ERRORS):
            raise gzip_error(path, exc) from None
        raise InputError(f"{path}: cannot be read as a table ({exc})") from None


def table_sep(path: str | os.PathLike) -> str:
    """The field separator :func:`read_table` reads a CSV/TSV with."""
    return "\t" if Path(path).name.lower().endswith((".tsv", ".tsv.gz", ".txt")) else ","


def record_lines(path: str | os.PathLike, records: int) -> list[int]:
    """The line of the file (header = line 1) at which each of the ``records`` data records of a CSV/TSV
    read by :func:`read_table` starts. A quoted field may hold line breaks, and blank lines are skipped,
    so a record's index does not give its line; this reads the file once more with the csv module, which
    splits records as pandas does. Where the two disagree on the number of records, the first line of each
    record is assumed (a record index + 2)."""
    import csv
    import gzip

    path = Path(path)
    starts: list[int] = []
    try:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
            reader = csv.reader(fh, delimiter=table_sep(path))
            before, header = 0, True
            for row in reader:
                start, before = before + 1, reader.line_num
                if not row:  # a blank line: pandas skips it
                    continue
                if header:
                    header = False
                    continue
                starts.append(start)
    except (OSError, EOFError, zlib.error, csv.Error):
        starts = []
    if len(starts) != records:
        return [i + 2 for i in range(records)]
    return starts


GZIP_ERRORS = (OSError, EOFError, zlib.error)


def gzip_error(path: str | os.PathLike, exc: BaseException) -> InputError:
    """The error for a ``.gz`` file whose stream cannot be read: a truncated download, a copy cut short, or
    a file that is not gzip at all."""
    return InputError(f"{path}: not a valid gzip file: it is truncated or corrupt ({exc})")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(identifier: str, max_len: int = 80) -> str:
    """A file-name-safe form of an identifier (never a path: no separators, no '..').

    Characters outside [A-Za-z0-9._-] become '_'; a short hash of the original keeps
    distinct identifiers distinct after that replacement.
    """
    cleaned = _UNSAFE.sub("_", identifier).strip("._") or "id"
    if cleaned != identifier or len(cleaned) > max_len:
        digest = hashlib.sha256(identifier.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        cleaned = f"{cleaned[: max_len - 11]}-{digest}"
    return cleaned
