"""Content-addressed feature store for molecular graphs.

Layout::

    <root>/v1/<fid>/featurizer.json              what produced the entries (name, params,
                                                  featurizer code version, RDKit version)
    <root>/v1/<fid>/packs/<sha256>.safetensors    immutable packs of graphs, named by the
                                                  sha256 of their own bytes
    <root>/v1/<fid>/index/current.json           the key index snapshot in use (see below)
    <root>/v1/<fid>/index/<digest>/               a snapshot: the sorted keys of a set of packs, with the
                                                  pack and row of each (numpy .npy files, memory-mapped)
    <root>/tmp/                                   packs being written (renamed into place)
    <root>/quarantine/                            packs `verify --repair` found corrupt

``fid`` hashes the featurizer identity (name, parameters, code version) and the RDKit
version. An entry's key is ``sha256(fid, standardized SMILES)`` (first 16 bytes), so
the key changes whenever the molecule, the featurizer, its parameters, its code
version or RDKit changes, and a stale feature can never be read back.

Writers never modify a file another process may read: each ``put`` writes a new pack
to ``tmp/``, fsyncs it and renames it into ``packs/``. Two processes featurizing
overlapping sets at once each write their own packs; a key present in several packs
maps to identical graphs, and readers use the first. No pickle anywhere: packs are
safetensors (raw arrays plus a JSON header).

A process that opens the store needs every key (16 bytes) to know what it holds. Up to a few packs it
reads them from the packs; beyond that it memory-maps a **snapshot** of the sorted keys and reads only the
packs written since (the *delta*), so opening a store of 10 million entries costs neither seconds of
sorting nor hundreds of MB per process. A process that finds the delta large (``SNAPSHOT_MIN_PACKS``
packs and at least ``SNAPSHOT_GROWTH`` of the snapshot's entries) merges it into a new snapshot, in chunks
(memory bounded), under a lock (others go on without waiting), written in a temporary folder and renamed;
``current.json`` then points at it. A snapshot that names a pack no longer there (after ``gc --compact``
or ``verify --repair``) is not used: the keys are read from the packs again and a new snapshot is made.

The store only stores: callers hand it a featurizer's identity (:func:`featurizer_id`,
:meth:`FeatureStore.register`) and, to tell current featurizer ids from stale ones in
:meth:`FeatureStore.stats` and :meth:`FeatureStore.gc`, a ``current`` test
(:func:`theraflow.chem.featurize.featurizer_is_current`); it never imports a featurizer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rdkit
from safetensors import safe_open
from safetensors.numpy import save as st_save

from theraflow.chem.graphs import GraphSet
from theraflow.errors import StoreError
from theraflow.io import atomic_dir, atomic_write, fsync_dir, remove_other_dirs, sha256_file, write_json

log = logging.getLogger(__name__)

FORMAT = "theraflow-feature-pack-1"
KEY_BYTES = 16
MAX_PACK_GRAPHS = 50_000
_ARRAYS = ("keys", "x", "edge_index", "edge_attr", "x_ptr", "e_ptr")


def featurizer_id(identity: dict) -> str:
    """The store's id for a featurizer identity under the installed RDKit."""
    full = {**identity, "rdkit": rdkit.__version__}
    blob = json.dumps(full, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def entry_keys(fid: str, smiles: Iterable[str]) -> np.ndarray:
    """[n, 16] uint8 keys of standardized SMILES under featurizer ``fid``."""
    prefix = fid.encode() + b"\x00"
    sha = hashlib.sha256
    digests = b"".join(sha(prefix + s.encode("utf-8", "surrogatepass")).digest()[:KEY_BYTES] for s in smiles)
    return np.frombuffer(digests, dtype=np.uint8).reshape(-1, KEY_BYTES)


def keys_to_hex(keys: np.ndarray) -> list[str]:
    return [bytes(k).hex() for k in keys]


def hex_to_keys(hexes: Sequence[str]) -> np.ndarray:
    return np.frombuffer(b"".join(bytes.fromhex(h) for h in hexes), dtype=np.uint8).reshape(-1, KEY_BYTES)


def _split_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = np.ascontiguousarray(keys).view(">u8").reshape(-1, 2)
    return k[:, 0].astype(np.uint64), k[:, 1].astype(np.uint64)


@dataclass
class _Index:
    """Sorted (hi, lo) key halves with the pack and row of each entry: a memory-mapped snapshot (``base``,
    the first ``len(base.packs)`` of ``packs``) and the packs written since, sorted in memory."""

    packs: list[Path] = field(default_factory=list)
    hi: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    lo: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    pack: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    row: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    base: _Snapshot | None = None

    def add(self, items: Sequence[tuple[Path, np.ndarray]]) -> None:
        """Add packs (path, keys) to the in-memory part and re-sort it once."""
        if not items:
            return
        his, los, packs, rows = [self.hi], [self.lo], [self.pack], [self.row]
        for pack_path, keys in items:
            hi, lo = _split_keys(keys)
            his.append(hi)
            los.append(lo)
            packs.append(np.full(len(keys), len(self.packs), np.int64))
            rows.append(np.arange(len(keys), dtype=np.int64))
            self.packs.append(pack_path)
        hi, lo = np.concatenate(his), np.concatenate(los)
        pack, row = np.concatenate(packs), np.concatenate(rows)
        order = np.lexsort((row, pack, lo, hi))  # first pack wins among duplicates
        self.hi, self.lo, self.pack, self.row = hi[order], lo[order], pack[order], row[order]

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Position of each key's first entry (snapshot positions first, then the in-memory part's, after
        them), or -1."""
        qhi, qlo = _split_keys(keys)
        nb = len(self.base) if self.base is not None else 0
        out = np.full(len(keys), -1, dtype=np.int64)
        if self.base is not None:
            out = _search(self.base.hi, self.base.lo, qhi, qlo)
        missing = out < 0
        if missing.any() and len(self.hi):
            found = _search(self.hi, self.lo, qhi[missing], qlo[missing])
            out[np.flatnonzero(missing)] = np.where(found >= 0, found + nb, -1)
        return out

    def locate(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(pack number in ``packs``, row in that pack) of index positions from :meth:`lookup`."""
        nb = len(self.base) if self.base is not None else 0
        packs = np.empty(len(pos), np.int64)
        rows = np.empty(len(pos), np.int64)
        inb = pos < nb
        if inb.any():
            packs[inb] = self.base.pack[pos[inb]]
            rows[inb] = self.base.row[pos[inb]]
        if (~inb).any():
            packs[~inb] = self.pack[pos[~inb] - nb]
            rows[~inb] = self.row[pos[~inb] - nb]
        return packs, rows

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every entry's (hi, lo, pack, row), sorted, in memory (maintenance: stats, compaction)."""
        if self.base is None:
            return self.hi, self.lo, self.pack, self.row
        hi = np.concatenate([self.base.hi, self.hi])
        lo = np.concatenate([self.base.lo, self.lo])
        pack = np.concatenate([np.asarray(self.base.pack, np.int64), self.pack])
        row = np.concatenate([np.asarray(self.base.row, np.int64), self.row])
        order = np.lexsort((row, pack, lo, hi))
        return hi[order], lo[order], pack[order], row[order]

    def __len__(self) -> int:
        return len(self.hi) + (len(self.base) if self.base is not None else 0)


def _search(hi: np.ndarray, lo: np.ndarray, qhi: np.ndarray, qlo: np.ndarray) -> np.ndarray:
    """Positions of (qhi, qlo) in arrays sorted by ``hi`` (-1: absent)."""
    out = np.full(len(qhi), -1, dtype=np.int64)
    if len(hi) == 0 or len(qhi) == 0:
        return out
    pos = np.searchsorted(hi, qhi, side="left")
    inb = pos < len(hi)
    cand = np.where(inb, pos, 0)
    same_hi = inb & (hi[cand] == qhi)
    exact = same_hi & (lo[cand] == qlo)
    out[exact] = cand[exact]
    # Another key with the same first 8 bytes sorts first (astronomically rare):
    # scan the short run of equal `hi` for the matching `lo`.
    for i in np.nonzero(same_hi & ~exact)[0]:
        j = int(cand[i]) + 1
        while j < len(hi) and hi[j] == qhi[i]:
            if lo[j] == qlo[i]:
                out[i] = j
                break
            j += 1
    return out


SNAPSHOT_FORMAT = "theraflow-store-index-1"
SNAPSHOT_MIN_PACKS = 4  # packs outside the snapshot before a process merges them into a new one
SNAPSHOT_GROWTH = 0.25  # ... and at least this share of the snapshot's entries (new snapshots grow geometrically)
_MERGE_CHUNK = 1 << 20


@dataclass
class _Snapshot:
    """A memory-mapped snapshot of the keys of ``packs`` (sorted by hi; the pack numbers index ``packs``)."""

    folder: Path
    packs: list[Path]
    hi: np.ndarray
    lo: np.ndarray
    pack: np.ndarray
    row: np.ndarray

    def __len__(self) -> int:
        return len(self.hi)


def _read_snapshot(index_dir: Path, packs_dir: Path) -> _Snapshot | None:
    """The snapshot ``current.json`` names, or None (none, unreadable, or a pack it lists is gone)."""
    try:
        current = json.loads((index_dir / "current.json").read_text())
        folder = index_dir / str(current["snapshot"])
        meta = json.loads((folder / "snapshot.json").read_text())
        if meta.get("format") != SNAPSHOT_FORMAT:
            return None
        packs = [packs_dir / name for name in meta["packs"]]
        if not all(p.is_file() for p in packs):
            return None
        arrays = {k: np.load(folder / f"{k}.npy", mmap_mode="r", allow_pickle=False)
                  for k in ("hi", "lo", "pack", "row")}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not len({len(a) for a in arrays.values()}) == 1 or len(arrays["hi"]) != int(meta.get("entries", -1)):
        return None
    return _Snapshot(folder, packs, arrays["hi"], arrays["lo"], arrays["pack"], arrays["row"])


def _write_snapshot(index_dir: Path, idx: _Index) -> str:
    """Merge ``idx`` (snapshot + in-memory part) into a new snapshot folder, chunk by chunk; returns its name."""
    from numpy.lib.format import open_memmap

    base = idx.base
    nb = len(base) if base is not None else 0
    nd = len(idx.hi)
    n = nb + nd
    names = [p.name for p in idx.packs]
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:24]
    with atomic_dir(index_dir / digest, prefix=".snapshot-") as tmp:
        out = {k: open_memmap(tmp / f"{k}.npy", mode="w+", dtype=dt, shape=(n,))
               for k, dt in (("hi", np.uint64), ("lo", np.uint64), ("pack", np.int32), ("row", np.int32))}
        # the in-memory part goes before the snapshot's entries of the same hi (it is a sorted merge either way)
        ins = np.searchsorted(base.hi, idx.hi, side="left") if nb else np.zeros(nd, np.int64)
        dpos = ins + np.arange(nd)
        for k, values in (("hi", idx.hi), ("lo", idx.lo), ("pack", idx.pack), ("row", idx.row)):
            out[k][dpos] = values
        for a in range(0, nb, _MERGE_CHUNK):
            b = min(nb, a + _MERGE_CHUNK)
            i = np.arange(a, b)
            at = i + np.searchsorted(ins, i, side="right")
            for k in ("hi", "lo", "pack", "row"):
                out[k][at] = getattr(base, k)[a:b]
        for a in out.values():
            a.flush()
        del out
        write_json(tmp / "snapshot.json", {"format": SNAPSHOT_FORMAT, "entries": n, "packs": names})
    write_json(index_dir / "current.json", {"snapshot": digest, "entries": n, "packs": len(names)})
    # older snapshots go (a process still mapping one keeps its open files)
    remove_other_dirs(index_dir, {digest, base.folder.name if base is not None else ""})
    return digest


class FeatureStore:
    """A directory of featurized graphs shared by runs, datasets and notebooks."""

    def __init__(self, root: str | os.PathLike, *, cache_packs: int = 8) -> None:
        self.root = Path(root)
        self._indexes: dict[str, _Index] = {}
        self._cache: OrderedDict[Path, dict[str, np.ndarray]] = OrderedDict()
        self._cache_packs = cache_packs
        self.hits = 0
        self.misses = 0

    # ----------------------------------------------------------------- paths
    def fid_dir(self, fid: str) -> Path:
        return self.root / "v1" / fid

    def _packs_dir(self, fid: str) -> Path:
        return self.fid_dir(fid) / "packs"

    def fids(self) -> list[str]:
        base = self.root / "v1"
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir())

    def _pack_paths(self, fid: str) -> list[Path]:
        d = self._packs_dir(fid)
        if not d.is_dir():
            return []
        return sorted(d.glob("*.safetensors"))

    # ----------------------------------------------------------------- index
    def _index(self, fid: str, refresh: bool = False) -> _Index:
        idx = self._indexes.get(fid)
        if idx is None or refresh:
            snap = _read_snapshot(self.fid_dir(fid) / "index", self._packs_dir(fid))
            idx = _Index(packs=list(snap.packs) if snap else [], base=snap)
            known = set(idx.packs)
            idx.add(self._pack_keys([p for p in self._pack_paths(fid) if p not in known]))
            self._indexes[fid] = idx
            idx = self._snapshot_if_due(fid, idx)
        return idx

    def _pack_keys(self, paths: Sequence[Path]) -> list[tuple[Path, np.ndarray]]:
        items = []
        for path in paths:
            try:
                with safe_open(str(path), framework="np") as fh:
                    keys = fh.get_tensor("keys")
            except FileNotFoundError:
                continue  # removed by a concurrent gc
            except Exception as exc:  # corrupt pack: skip it; `verify` reports it
                log.warning("feature store: skipping unreadable pack %s (%s)", path, exc)
                continue
            items.append((path, keys))
        return items

    def _snapshot_if_due(self, fid: str, idx: _Index) -> _Index:
        """Merge the packs outside the snapshot into a new one when there are enough of them (see the module
        docstring); a read-only store, or a snapshot another process is writing, is left as it is."""
        n_delta = len(idx.packs) - (len(idx.base.packs) if idx.base is not None else 0)
        nb = len(idx.base) if idx.base is not None else 0
        if n_delta < SNAPSHOT_MIN_PACKS or len(idx.hi) < SNAPSHOT_GROWTH * nb:
            return idx
        index_dir = self.fid_dir(fid) / "index"
        try:
            import fcntl

            index_dir.mkdir(parents=True, exist_ok=True)
            with open(index_dir / ".lock", "a+") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return idx  # another process is writing one
                t = time.perf_counter()
                _write_snapshot(index_dir, idx)
                log.info("feature store: key index snapshot of %d entries in %d packs (%.1f s)", len(idx),
                         len(idx.packs), time.perf_counter() - t)
        except OSError as exc:
            log.debug("feature store: no snapshot written (%s)", exc)
            return idx
        snap = _read_snapshot(index_dir, self._packs_dir(fid))
        if snap is None:
            return idx
        fresh = _Index(packs=list(snap.packs), base=snap)
        known = set(fresh.packs)
        fresh.add(self._pack_keys([p for p in idx.packs if p not in known]))
        self._indexes[fid] = fresh
        return fresh

    def _load_pack(self, path: Path) -> dict[str, np.ndarray]:
        arrays = self._cache.get(path)
        if arrays is not None:
            self._cache.move_to_end(path)
            return arrays
        with safe_open(str(path), framework="np") as fh:
            arrays = {name: fh.get_tensor(name) for name in _ARRAYS}
            arrays["__meta__"] = fh.metadata() or {}
        self._cache[path] = arrays
        while len(self._cache) > self._cache_packs:
            self._cache.popitem(last=False)
        return arrays

    # ------------------------------------------------------------------- API
    def register(self, fid: str, identity: dict) -> None:
        """Record what ``fid`` stands for (idempotent; same content from every writer)."""
        path = self.fid_dir(fid) / "featurizer.json"
        if path.exists():
            return
        self._writable()
        write_json(path, {**identity, "rdkit": rdkit.__version__, "fid": fid})

    def contains(self, fid: str, keys: np.ndarray) -> np.ndarray:
        return self._index(fid).lookup(keys) >= 0

    def get(self, fid: str, keys: np.ndarray) -> tuple[GraphSet | None, np.ndarray]:
        """Graphs for the keys found (in query order) and a boolean mask of found keys."""
        for attempt in (0, 1):
            idx = self._index(fid, refresh=attempt == 1)
            pos = idx.lookup(keys)
            found = pos >= 0
            if not found.any():
                return None, found
            try:
                graphs = self._gather(idx, pos[found])
            except FileNotFoundError:  # a pack went away under us (gc); re-index once
                if attempt == 1:
                    raise
                self._cache.clear()
                continue
            return graphs, found
        raise AssertionError("unreachable")

    def _gather(self, idx: _Index, pos: np.ndarray) -> GraphSet:
        packs, rows = idx.locate(pos)
        parts: list[GraphSet] = []
        order_parts: list[np.ndarray] = []
        for p in np.unique(packs):
            sel = np.nonzero(packs == p)[0]
            arrays = self._load_pack(idx.packs[p])
            meta = arrays["__meta__"]
            whole = GraphSet(
                x=arrays["x"], edge_index=arrays["edge_index"], edge_attr=arrays["edge_attr"],
                x_ptr=arrays["x_ptr"], e_ptr=arrays["e_ptr"],
                x_dtype=meta.get("x_dtype", "float32"),
                edge_attr_dtype=meta.get("edge_attr_dtype", "float32"),
            )
            parts.append(whole.take(rows[sel]))
            order_parts.append(sel)
        merged = GraphSet.concat(parts) if len(parts) > 1 else parts[0]
        order = np.concatenate(order_parts)
        if len(parts) > 1 or not np.array_equal(order, np.arange(len(order))):
            inverse = np.empty_like(order)
            inverse[order] = np.arange(len(order))
            merged = merged.take(inverse)
        return merged

    def put(self, fid: str, keys: np.ndarray, graphs: GraphSet) -> list[Path]:
        """Store ``graphs`` under ``keys``; returns the packs written."""
        if len(keys) != len(graphs):
            raise ValueError("one key per graph is required")
        if len(keys) == 0:
            return []
        self._writable()
        written = []
        for start in range(0, len(keys), MAX_PACK_GRAPHS):
            stop = min(start + MAX_PACK_GRAPHS, len(keys))
            part = graphs if (start, stop) == (0, len(keys)) else graphs.take(np.arange(start, stop))
            written.append(self._write_pack(fid, np.ascontiguousarray(keys[start:stop]), part))
        return written

    def _writable(self) -> None:
        for d in (self.root, self.root / "tmp"):
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"feature store {self.root}: cannot create {d} ({exc.strerror})") from None
        if not os.access(self.root / "tmp", os.W_OK):
            raise StoreError(f"feature store {self.root} is not writable (read-only directory?)")

    def _write_pack(self, fid: str, keys: np.ndarray, graphs: GraphSet) -> Path:
        tensors = {"keys": keys, **graphs.arrays()}
        meta = {
            "format": FORMAT,
            "fid": fid,
            "x_dtype": graphs.x_dtype,
            "edge_attr_dtype": graphs.edge_attr_dtype,
        }
        blob = st_save(tensors, metadata=meta)
        name = hashlib.sha256(blob).hexdigest()
        dest_dir = self._packs_dir(fid)
        try:
            dest_dir.mkdir(parents=True, exist_ok=True)
            dest = dest_dir / f"{name}.safetensors"
            with atomic_write(dest, "wb", tmp_dir=self.root / "tmp") as fh:
                fh.write(blob)
        except OSError as exc:
            raise StoreError(
                f"feature store {self.root}: could not write a pack ({exc.strerror or exc}); "
                "nothing was changed"
            ) from None
        idx = self._indexes.get(fid)
        if idx is not None and dest not in idx.packs:
            idx.add([(dest, keys)])
        return dest

    # ---------------------------------------------------------- maintenance
    def stats(self, current: Callable[[dict], bool] | None = None) -> list[dict]:
        """One row per featurizer id: what it is, packs, entries, bytes on disk.

        ``current`` answers, for a featurizer record (the ``featurizer.json`` of an id: name,
        params, version, rdkit, fid), whether this installation computes that id today, e.g.
        :func:`theraflow.chem.featurize.featurizer_is_current`; the store only stores, so it does
        not know its featurizers. Without it each row's ``current`` is None (not asked).
        """
        rows = []
        for fid in self.fids():
            info = self.featurizer_info(fid)
            packs = self._pack_paths(fid)
            hi, lo, _, _ = self._index(fid, refresh=True).arrays()
            unique = int(len(np.unique(np.stack([hi, lo], axis=1), axis=0))) if len(hi) else 0
            rows.append({
                "fid": fid,
                "featurizer": info.get("name", "?"),
                "params": json.dumps(info.get("params", {}), sort_keys=True),
                "version": info.get("version", "?"),
                "rdkit": info.get("rdkit", "?"),
                "current": None if current is None else bool(current(info)),
                "packs": len(packs),
                "entries": unique,
                "duplicates": len(hi) - unique,
                "bytes": sum(p.stat().st_size for p in packs),
            })
        return rows

    def featurizer_info(self, fid: str) -> dict:
        """What ``fid`` stands for (its ``featurizer.json``; ``fid`` always set, the rest may be
        missing for a directory without one)."""
        path = self.fid_dir(fid) / "featurizer.json"
        info = json.loads(path.read_text()) if path.exists() else {}
        return {**info, "fid": fid}

    def verify(self, repair: bool = False) -> list[dict]:
        """Check every pack; returns one problem row per corrupt pack (empty: all good).

        A pack is corrupt when its bytes no longer hash to its name, its header or
        arrays cannot be read, or its offsets/indices are inconsistent. With
        ``repair`` such packs move to ``quarantine/``; their entries become misses and
        are recomputed by the next featurize run.
        """
        problems = []
        for fid in self.fids():
            for path in self._pack_paths(fid):
                reason = _check_pack(path, fid)
                if reason is None:
                    continue
                problems.append({"fid": fid, "pack": str(path), "reason": reason})
                if repair:
                    q = self.root / "quarantine"
                    q.mkdir(parents=True, exist_ok=True)
                    shutil.move(str(path), q / f"{fid}-{path.name}")
        if repair:
            self._indexes.clear()
            self._cache.clear()
        return problems

    def gc(self, *, remove_stale: bool = False, current: Callable[[dict], bool] | None = None,
           compact: bool = False, tmp_age_s: float = 3600, dry_run: bool = False) -> dict:
        """Remove leftovers of crashed writers; optionally stale featurizers; compact.

        - temporary files older than ``tmp_age_s`` (a running writer's are younger);
        - ``remove_stale``: featurizer ids this installation can never hit again (another RDKit
          version or featurizer code version): those for which ``current`` (see :meth:`stats`;
          required with ``remove_stale``) says no;
        - ``compact``: rewrite each featurizer's packs as one set without duplicates.
        """
        if remove_stale and current is None:
            raise ValueError("gc(remove_stale=True) needs current=: the test of which featurizer ids are current "
                             "(theraflow.chem.featurize.featurizer_is_current)")
        report = {"tmp_removed": 0, "stale_removed": [], "compacted": [], "bytes_freed": 0}
        tmp = self.root / "tmp"
        now = time.time()
        if tmp.is_dir():
            for p in tmp.iterdir():
                try:
                    st = p.stat()
                except FileNotFoundError:
                    continue
                if now - st.st_mtime > tmp_age_s:
                    report["tmp_removed"] += 1
                    report["bytes_freed"] += st.st_size
                    if not dry_run:
                        p.unlink(missing_ok=True)
        for fid in self.fids():  # snapshots a crashed process left half-written
            for p in (self.fid_dir(fid) / "index").glob(".snapshot-*"):
                try:
                    age = now - p.stat().st_mtime
                except FileNotFoundError:
                    continue
                if age > tmp_age_s:
                    report["tmp_removed"] += 1
                    if not dry_run:
                        shutil.rmtree(p, ignore_errors=True)
        if remove_stale:
            for row in self.stats(current):
                if not row["current"]:
                    report["stale_removed"].append(row["fid"])
                    report["bytes_freed"] += row["bytes"]
                    if not dry_run:
                        shutil.rmtree(self.fid_dir(row["fid"]), ignore_errors=True)
                        self._indexes.pop(row["fid"], None)
        if compact:
            for fid in self.fids():
                packs = self._pack_paths(fid)
                idx = self._index(fid, refresh=True)
                hi, lo, pk, rw = idx.arrays()
                has_dupes = len(hi) > 1 and bool(np.any((hi[1:] == hi[:-1]) & (lo[1:] == lo[:-1])))
                if len(packs) < 2 and not has_dupes:
                    continue
                report["compacted"].append(fid)
                if dry_run:
                    continue
                keep = np.ones(len(hi), dtype=bool)
                keep[1:] = (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])
                pos = np.nonzero(keep)[0]
                graphs = self._gather(_Index(packs=idx.packs, hi=hi, lo=lo, pack=pk, row=rw), pos)
                keys = np.stack([hi[pos], lo[pos]], axis=1).astype(">u8").view(np.uint8)
                new = set(self.put(fid, keys.reshape(-1, KEY_BYTES), graphs))
                for p in packs:  # new packs are in place before old ones go
                    if p not in new:
                        report["bytes_freed"] += p.stat().st_size
                        p.unlink(missing_ok=True)
                self._indexes.pop(fid, None)
                self._cache.clear()
        if not dry_run and (self.root / "v1").is_dir():
            fsync_dir(self.root / "v1")
        return report


def _check_pack(path: Path, fid: str) -> str | None:
    try:
        digest = sha256_file(path)
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if digest != path.stem:
        return "content does not match its checksum name (bytes changed or truncated)"
    try:
        with safe_open(str(path), framework="np") as fh:
            meta = fh.metadata() or {}
            arrays = {name: fh.get_tensor(name) for name in _ARRAYS}
    except Exception as exc:
        return f"cannot be decoded ({exc})"
    if meta.get("format") != FORMAT or meta.get("fid") != fid:
        return "header does not describe a pack of this featurizer"
    n = len(arrays["keys"])
    x_ptr, e_ptr = arrays["x_ptr"], arrays["e_ptr"]
    if len(x_ptr) != n + 1 or len(e_ptr) != n + 1:
        return "offset arrays do not match the number of keys"
    if x_ptr[0] != 0 or e_ptr[0] != 0 or np.any(np.diff(x_ptr) < 0) or np.any(np.diff(e_ptr) < 0):
        return "offsets are not increasing"
    if x_ptr[-1] != len(arrays["x"]) or e_ptr[-1] != arrays["edge_index"].shape[1]:
        return "offsets do not cover the node/edge arrays"
    if len(arrays["edge_attr"]) != arrays["edge_index"].shape[1]:
        return "edge features and edges differ in number"
    n_nodes = np.repeat(np.diff(x_ptr), np.diff(e_ptr))
    ei = arrays["edge_index"]
    if ei.size and (ei.min() < 0 or np.any(ei >= n_nodes[None, :])):
        return "an edge points outside its graph"
    return None
