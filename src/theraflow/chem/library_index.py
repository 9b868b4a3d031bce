"""A molecule library's index: made once per version of the file, so that a shard reads only its own records.

A screen splits a library into shards of ``chunk_size`` records. Without an index each shard job would scan
the whole file for duplicate ids and then read from the first record up to its own: with S shards the
library is read about 2 × S times. The index makes that one pass:

- **blocks**: the byte offset, length, first record and first line of each run of whole records (about
  4 MiB of text; a row group for Parquet), from :mod:`theraflow.chem.readers`. A shard reads the blocks that
  hold its records and parses them with the same function the whole-file reader uses, so it gets exactly
  the records, ids and rejects of that range, in memory bounded by the shard;
- **duplicates**: every record whose id an earlier record has, with that earlier record (ids are compared
  across the whole library once, as 8-byte hashes);
- **records**: the count, from which the workflow's shards follow.

A ``.gz`` library is decompressed once into the index folder (blocks are then read with a seek); without an
index folder it is read as a stream, and a shard decompresses up to its blocks.

The index lives in a folder (``cache_dir``) under a key made of the file's name, its identity (size,
modification time, a hash of its first and last MiB), the format and the read options, written atomically
(built in a temporary folder, renamed into place); a changed file gets a new key and is indexed again,
and older versions are removed. Concurrent jobs that find no index wait on a lock while one builds it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import shutil
import time
from array import array
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from theraflow.chem.readers import (
    DEFAULT_MAX_INPUT_LENGTH,
    Block,
    BlockFormat,
    ParquetFormat,
    _Collector,
    _final_id,
    _raw_records,
    is_gzip,
    record_kind,
    resolve_format,
)
from theraflow.io import InputError, atomic_dir, remove_other_dirs, write_json
from theraflow.registry import READERS

log = logging.getLogger(__name__)

INDEX_VERSION = 1
HEAD_TAIL_BYTES = 1 << 20
READ_KEYS = ("smiles_column", "id_column", "sdf_id_property")


def file_identity(path: str | Path) -> dict:
    """What tells one version of a file from another: size, modification time (ns) and a BLAKE2b hash of its
    first and last MiB (a file rewritten in place with the same size and time is still told apart)."""
    path = Path(path)
    st = path.stat()
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        h.update(fh.read(HEAD_TAIL_BYTES))
        if st.st_size > HEAD_TAIL_BYTES:
            fh.seek(max(HEAD_TAIL_BYTES, st.st_size - HEAD_TAIL_BYTES))
            h.update(fh.read(HEAD_TAIL_BYTES))
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "head_tail_blake2b": h.hexdigest()}


@dataclass
class LibraryIndex:
    """See the module docstring. ``blocks``: int64 rows (offset, length, first record, first line, records);
    ``duplicates``: int64 rows (record, first record with the same id), sorted by record."""

    path: Path
    format: str
    options: dict
    identity: dict
    records: int
    blocks: np.ndarray
    duplicates: np.ndarray
    source: Path  # where the blocks' bytes are read: the file, or its decompressed copy
    folder: Path | None = None
    seconds: float = 0.0

    def block(self, i: int) -> Block:
        return Block(*(int(v) for v in self.blocks[i]))

    def duplicates_in(self, start: int, stop: int) -> dict[int, int]:
        """{record: first record with the same id} for records ``start`` ≤ record < ``stop``."""
        rec = self.duplicates[:, 0] if len(self.duplicates) else np.zeros(0, np.int64)
        lo, hi = np.searchsorted(rec, [start, stop])
        return {int(r): int(f) for r, f in self.duplicates[lo:hi]}

    def blocks_for(self, start: int, stop: int) -> list[int]:
        """The blocks that hold records ``start`` ≤ record < ``stop``."""
        if not len(self.blocks):
            return []
        first = self.blocks[:, 2]
        last = first + self.blocks[:, 4]  # exclusive
        return [int(i) for i in np.flatnonzero((first < stop) & (last > start))]

    def summary(self) -> dict:
        return {"records": self.records, "blocks": int(len(self.blocks)), "duplicate_ids": int(len(self.duplicates)),
                "format": self.format, "identity": self.identity, "folder": str(self.folder) if self.folder else None,
                "decompressed": self.source != self.path, "seconds": round(self.seconds, 3)}


def _options(opts: dict) -> dict:
    return {k: opts.get(k) for k in READ_KEYS} | {"smiles_column": opts.get("smiles_column") or "smiles"}


def _key(path: Path, fmt: str, opts: dict, identity: dict) -> str:
    blob = json.dumps({"version": INDEX_VERSION, "name": path.name, "format": fmt, "options": opts,
                       "identity": identity}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _id_hash(mol_id: str | None, stem: str, record: int) -> int:
    digest = hashlib.blake2b(_final_id(mol_id, stem, record).encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(digest.digest(), "little", signed=True)


def _duplicates(hashes: array) -> np.ndarray:
    """(record, first record) rows for every record whose id hash an earlier record has, sorted by record.
    About 26 bytes per record at the peak."""
    h = np.frombuffer(hashes, dtype=np.int64) if len(hashes) else np.zeros(0, np.int64)
    order = np.argsort(h, kind="stable")  # equal hashes stay in record order
    hs = h[order]
    same = hs[1:] == hs[:-1]
    del hs
    repeat = np.flatnonzero(same) + 1
    if not len(repeat):
        return np.zeros((0, 2), np.int64)
    run_start = np.flatnonzero(np.concatenate(([True], ~same)))
    first = order[run_start[np.searchsorted(run_start, repeat, side="right") - 1]]
    rows = np.stack([order[repeat] + 1, first + 1], axis=1).astype(np.int64)
    return rows[np.argsort(rows[:, 0], kind="stable")]


def build_index(path: str | Path, *, format: str | None = None, folder: str | Path | None = None,
                **read_options) -> LibraryIndex:
    """Read the library once: its blocks, record count and duplicate ids (see the module docstring).
    With ``folder`` a ``.gz`` text library is decompressed into it on the way (``data``)."""
    from theraflow.progress import progress

    path = Path(path)
    t0 = time.perf_counter()
    fmt = resolve_format(path, format)
    opts = _options(read_options)
    identity = file_identity(path) if path.is_file() else {}
    reader = READERS.get(fmt)
    stem = path.name.split(".")[0] or "mol"
    hashes = array("q")
    rows: list[tuple[int, int, int, int, int]] = []
    source = path
    bar = progress(desc=f"indexing {path.name}", unit=" records", unit_scale=True)
    try:
        if isinstance(reader, BlockFormat):
            if folder is not None and is_gzip(path) and not isinstance(reader, ParquetFormat):
                source = Path(folder) / "data"
                _decompress(path, source)
            ctx = reader.context(path, source, opts)
            for block, raws in reader.blocks(path, source, ctx):
                rows.append((block.offset, block.length, block.first_record, block.first_line, block.n_records))
                hashes.extend(_id_hash(mol_id, stem, rec) for rec, mol_id, *_ in raws)
                bar.update(len(raws))
            if not hashes:
                reader.no_records(path, source, ctx)
        else:  # a plugin's record reader: one pseudo-block, read from the start by a shard
            for rec, mol_id, *_ in _raw_records(path, fmt, opts["smiles_column"], opts["id_column"],
                                                opts["sdf_id_property"]):
                hashes.append(_id_hash(mol_id, stem, rec))
                bar.update(1)
            rows.append((-1, 0, 1, 1, len(hashes)))
    finally:
        bar.close()
    blocks = np.array(rows, dtype=np.int64).reshape(-1, 5)
    index = LibraryIndex(path, fmt, opts, identity, len(hashes), blocks, _duplicates(hashes), source,
                         Path(folder) if folder is not None else None, time.perf_counter() - t0)
    log.info("%s: indexed %d records in %d block(s), %d duplicate id(s), %.1f s", path, index.records,
             len(blocks), len(index.duplicates), index.seconds)
    return index


def _decompress(path: Path, out: Path) -> None:
    import gzip

    from theraflow.io import GZIP_ERRORS, gzip_error

    try:
        with gzip.open(path, "rb") as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 4 << 20)
    except GZIP_ERRORS as exc:
        raise gzip_error(path, exc) from None


def _save(index: LibraryIndex, folder: Path) -> None:
    np.save(folder / "blocks.npy", index.blocks, allow_pickle=False)
    np.save(folder / "duplicates.npy", index.duplicates, allow_pickle=False)
    write_json(folder / "index.json", {
        "version": INDEX_VERSION, "library": str(index.path), "format": index.format, "options": index.options,
        "identity": index.identity, "records": index.records, "blocks": int(len(index.blocks)),
        "duplicate_ids": int(len(index.duplicates)), "decompressed": index.source != index.path,
        "seconds": round(index.seconds, 3), "complete": True})


def _load(path: Path, folder: Path) -> LibraryIndex | None:
    try:
        meta = json.loads((folder / "index.json").read_text())
        if not meta.get("complete") or meta.get("version") != INDEX_VERSION:
            return None
        blocks = np.load(folder / "blocks.npy", allow_pickle=False)
        dups = np.load(folder / "duplicates.npy", allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError):
        return None
    source = folder / "data" if meta.get("decompressed") else path
    if meta.get("decompressed") and not source.is_file():
        return None
    return LibraryIndex(path, meta["format"], meta["options"], meta["identity"], int(meta["records"]),
                        blocks.reshape(-1, 5), np.asarray(dups).reshape(-1, 2), source, folder,
                        float(meta.get("seconds", 0.0)))


@contextmanager
def _locked(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def library_index(path: str | Path, *, cache_dir: str | Path | None = None, format: str | None = None,
                  **read_options) -> LibraryIndex:
    """The library's index: read from ``cache_dir`` when it was made for this version of the file with these
    options, else built (and, with ``cache_dir``, saved there atomically; other versions there are removed).
    Without ``cache_dir`` it is built in memory."""
    path = Path(path)
    read_options = {k: v for k, v in read_options.items() if k in READ_KEYS}
    if cache_dir is None:
        return build_index(path, format=format, **read_options)
    if not path.is_file():
        resolve_format(path, format)
        raise InputError(f"{path}: file not found" if not path.exists() else
                         f"{path}: is a directory, expected a molecule file")
    fmt = resolve_format(path, format)
    opts = _options(read_options)
    cache_dir = Path(cache_dir)
    key = _key(path, fmt, opts, file_identity(path))
    final = cache_dir / key
    found = _load(path, final)
    if found is not None:
        return found
    with _locked(cache_dir):
        found = _load(path, final)  # another job may have built it while this one waited
        if found is not None:
            return found
        with atomic_dir(final) as tmp:
            index = build_index(path, format=fmt, folder=tmp, **read_options)
            if file_identity(path) != index.identity:
                raise InputError(f"{path}: the file changed while it was being indexed; run again")
            _save(index, tmp)
        remove_other_dirs(cache_dir, {key})  # earlier versions of the file, or other options
    loaded = _load(path, final)
    if loaded is None:
        raise InputError(f"{final}: the index just written cannot be read back")
    return loaded


def read_molecule_shard(path: str | Path, start: int, stop: int, *, format: str | None = None,
                        smiles_column: str = "smiles", id_column: str | None = None,
                        sdf_id_property: str | None = None,
                        max_input_length: int = DEFAULT_MAX_INPUT_LENGTH,
                        index: LibraryIndex | None = None,
                        cache_dir: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Records ``start`` ≤ record < ``stop`` (1-based) of a molecule file, ids checked against the whole file;
    returns (records, rejects, number of records in the file). Only the blocks that hold the range are read
    (see the module docstring); ``index`` (or ``cache_dir``, where it is kept) saves building it."""
    path = Path(path)
    opts = dict(smiles_column=smiles_column, id_column=id_column, sdf_id_property=sdf_id_property)
    if index is None:
        index = library_index(path, cache_dir=cache_dir, format=format, **opts)
    fmt = index.format
    col = _Collector(path, record_kind(fmt), max_input_length, index.duplicates_in(start, stop))
    reader = READERS.get(fmt)
    wanted = index.blocks_for(start, stop)
    if wanted and isinstance(reader, BlockFormat):
        ctx = reader.context(path, index.source, index.options)
        for i in wanted:
            for record, mol_id, text, problem, shown in reader.read(path, index.source, ctx, index.block(i)):
                if start <= record < stop:
                    col.add(record, mol_id, text, problem, shown)
    elif wanted:  # a plugin's record reader: from the start of the file
        o = index.options
        for record, mol_id, text, problem, shown in _raw_records(path, fmt, o["smiles_column"], o["id_column"],
                                                                 o["sdf_id_property"]):
            if record < start:
                continue
            if record >= stop:
                break
            col.add(record, mol_id, text, problem, shown)
    recs, rej = col.tables(allow_empty=True)
    return recs, rej, index.records
