"""The feature store's key index snapshot: a store of many packs is opened by memory-mapping the sorted keys,
reading only the packs written since; lookups and graphs are the same as reading every pack's keys."""

import json

import numpy as np
import pytest

from theraflow.chem import featurize
from theraflow.chem import store as store_mod
from theraflow.chem.store import KEY_BYTES, FeatureStore

FID = "snap000000000000"


@pytest.fixture(scope="module")
def graphs(nci_canonical):
    return featurize(list(dict.fromkeys(nci_canonical))[:60], "default").graphs


def _fill(store, graphs, rng, packs, per_pack=40):
    written = []
    for _ in range(packs):
        keys = rng.integers(0, 256, size=(per_pack, KEY_BYTES), dtype=np.uint8)
        rows = rng.choice(len(graphs), per_pack)
        part = graphs.take(rows)
        (path,) = store.put(FID, keys, part)
        written.append((keys, part, path))
    return written


def _check(store, written, rng):
    keys = np.concatenate([k for k, _, _ in written])
    expected = [g for _, part, _ in written for g in range(len(part))]
    absent = rng.integers(0, 256, size=(50, KEY_BYTES), dtype=np.uint8)
    assert store.contains(FID, keys).all() and not store.contains(FID, absent).any()
    pick = rng.choice(len(keys), 120, replace=False)
    got, found = store.get(FID, keys[pick])
    assert found.all()
    parts = [part for _, part, _ in written]
    from theraflow.chem.graphs import GraphSet

    want = GraphSet.concat(parts).take(pick)
    assert got.equals(want)
    return len(expected)


def _snapshot(root):
    current = root / "v1" / FID / "index" / "current.json"
    return json.loads(current.read_text()) if current.exists() else None


def test_a_store_of_many_packs_is_opened_from_a_snapshot(tmp_path, graphs, monkeypatch):
    rng = np.random.default_rng(0)
    root = tmp_path / "store"
    written = _fill(FeatureStore(root), graphs, rng, packs=3)
    FeatureStore(root)._index(FID)
    assert _snapshot(root) is None  # 3 packs: below SNAPSHOT_MIN_PACKS, keys read from the packs
    written += _fill(FeatureStore(root), graphs, rng, packs=3)
    opened = FeatureStore(root)
    idx = opened._index(FID)
    assert _snapshot(root) == {"snapshot": idx.base.folder.name, "entries": 240, "packs": 6}
    assert isinstance(idx.base.hi, np.memmap) and len(idx.hi) == 0
    _check(opened, written, rng)
    # a new process reads only the packs written after the snapshot
    written += _fill(FeatureStore(root), graphs, rng, packs=2)
    read = []
    real = FeatureStore._pack_keys
    monkeypatch.setattr(FeatureStore, "_pack_keys", lambda self, paths: read.append(len(paths)) or real(self, paths))
    fresh = FeatureStore(root)
    idx = fresh._index(FID)
    assert read == [2] and len(idx.base) == 240 and len(idx.hi) == 80
    _check(fresh, written, rng)


def test_the_snapshot_grows_geometrically_and_merges_in_chunks(tmp_path, graphs, monkeypatch):
    monkeypatch.setattr(store_mod, "_MERGE_CHUNK", 7)  # merge borders everywhere
    rng = np.random.default_rng(1)
    root = tmp_path / "store"
    written = []
    sizes = []
    for _ in range(12):
        written += _fill(FeatureStore(root), graphs, rng, packs=2)
        s = FeatureStore(root)
        s._index(FID)
        sizes.append((_snapshot(root) or {}).get("packs", 0))
    assert sizes[0] == 0 and sizes[-1] >= 20 and sizes == sorted(sizes)
    assert len(set(sizes)) < len(sizes)  # not re-made on every open: only when the delta has grown enough
    s = FeatureStore(root)
    idx = s._index(FID)
    hi = np.asarray(idx.base.hi)
    assert np.all(hi[1:] >= hi[:-1])  # sorted across the chunk borders
    _check(s, written, rng)
    folders = [p for p in (root / "v1" / FID / "index").iterdir() if p.is_dir()]
    assert len(folders) <= 2  # older snapshots removed


def test_compaction_and_repair_retire_the_snapshot(tmp_path, graphs):
    rng = np.random.default_rng(2)
    root = tmp_path / "store"
    written = _fill(FeatureStore(root), graphs, rng, packs=6)
    FeatureStore(root)._index(FID)
    before = _snapshot(root)["snapshot"]
    report = FeatureStore(root).gc(compact=True)
    assert report["compacted"] == [FID]
    after = FeatureStore(root)
    _check(after, written, rng)  # the snapshot names packs that are gone: keys read from the new pack
    assert after._index(FID).base is None or after._index(FID).base.folder.name != before
    # a corrupt pack is quarantined by verify --repair: its keys become misses, the others stay found
    written = _fill(FeatureStore(root), graphs, rng, packs=5)
    FeatureStore(root)._index(FID)
    victim = written[0][2]
    victim.write_bytes(victim.read_bytes()[:-10])
    assert FeatureStore(root).verify(repair=True)
    s = FeatureStore(root)
    assert s._index(FID).base is None or victim not in s._index(FID).base.packs
    total = np.concatenate([k for k, _, _ in written])
    assert s.contains(FID, total).tolist() == [False] * 40 + [True] * 160


def test_a_half_written_snapshot_is_ignored_and_cleaned(tmp_path, graphs):
    rng = np.random.default_rng(3)
    root = tmp_path / "store"
    written = _fill(FeatureStore(root), graphs, rng, packs=5)
    FeatureStore(root)._index(FID)
    index = root / "v1" / FID / "index"
    (index / ".snapshot-crashed").mkdir()
    folder = index / _snapshot(root)["snapshot"]
    (folder / "lo.npy").write_bytes(b"not numpy")
    s = FeatureStore(root)
    _check(s, written, rng)  # the damaged snapshot is not read: the keys come from the packs, and a new one is made
    assert np.load(folder / "lo.npy").shape == (200,)
    assert FeatureStore(root).gc(tmp_age_s=-1)["tmp_removed"] >= 1
    assert not (index / ".snapshot-crashed").exists()
