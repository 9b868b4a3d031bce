"""Feature store: hits read back identical, only misses computed, concurrent writers,
corruption detection, read-only and full stores, gc."""

import multiprocessing as mp
import os
import stat

import numpy as np
import pytest

from theraflow.chem import FeatureStore, featurize, featurizer_is_current
from theraflow.chem.store import StoreError


def test_cold_then_warm_identical(tmp_path, nci_canonical):
    smiles = nci_canonical[:400]
    ref = featurize(smiles, "default")
    store = FeatureStore(tmp_path / "store")
    cold = featurize(smiles, "default", store=store)
    assert cold.hits == 0 and cold.misses == len(set(smiles))
    warm = featurize(smiles, "default", store=FeatureStore(tmp_path / "store"))
    assert warm.hits == len(set(smiles)) and warm.misses == 0
    assert warm.graphs.equals(ref.graphs) and cold.graphs.equals(ref.graphs)
    assert warm.keys == ref.keys


def test_only_missing_keys_are_computed(tmp_path, nci_canonical):
    base = list(dict.fromkeys(nci_canonical))
    store = tmp_path / "store"
    featurize(base[:300], "pyg", store=store)
    more = featurize(base[:303], "pyg", store=store)
    assert more.misses == 3 and more.hits == 300
    assert more.graphs.equals(featurize(base[:303], "pyg").graphs)


def test_store_separates_featurizers_and_params(tmp_path):
    store = FeatureStore(tmp_path / "s")
    featurize(["CCO", "CCN"], "deepchem", store=store)
    other = featurize(["CCO", "CCN"], "deepchem", store=store, params={"use_chirality": True})
    assert other.misses == 2
    assert len(store.fids()) == 2


def _worker(root, smiles, out_q):
    from theraflow.chem import featurize as f

    r = f(smiles, "default", store=root, flush_every=50, batch_size=50)
    out_q.put((r.hits, r.misses))


def test_concurrent_writers_leave_store_consistent(tmp_path, nci_canonical):
    base = list(dict.fromkeys(nci_canonical))[:1200]
    # three processes with overlapping sets, writing many small packs at once
    sets = [base[0:800], base[400:1200], base[200:1000]]
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(tmp_path / "store"), s, q)) for s in sets]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    store = FeatureStore(tmp_path / "store")
    assert store.verify() == []
    warm = featurize(base, "default", store=store)
    assert warm.misses == 0 and warm.hits == len(base)
    assert warm.graphs.equals(featurize(base, "default").graphs)
    assert not any((tmp_path / "store" / "tmp").iterdir())  # no leftovers


def test_verify_detects_corruption_and_repair_recomputes(tmp_path, nci_canonical):
    smiles = nci_canonical[:100]
    store = FeatureStore(tmp_path / "store")
    featurize(smiles[:50], "default", store=store)
    featurize(smiles[50:], "default", store=store)
    packs = sorted((tmp_path / "store").rglob("*.safetensors"))
    assert len(packs) == 2
    data = bytearray(packs[0].read_bytes())
    data[-10] ^= 0xFF  # one flipped byte in the graph arrays
    packs[0].write_bytes(bytes(data))
    packs[1].write_bytes(packs[1].read_bytes()[:200])  # a truncated pack
    problems = FeatureStore(tmp_path / "store").verify()
    assert {p["pack"] for p in problems} == {str(packs[0]), str(packs[1])}
    assert all("checksum" in p["reason"] for p in problems)
    assert FeatureStore(tmp_path / "store").verify(repair=True)
    assert FeatureStore(tmp_path / "store").verify() == []
    assert len(list((tmp_path / "store" / "quarantine").iterdir())) == 2
    again = featurize(smiles, "default", store=FeatureStore(tmp_path / "store"))
    assert again.misses == len(set(smiles))  # corrupt entries were recomputed
    assert again.graphs.equals(featurize(smiles, "default").graphs)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_store_gives_clear_error(tmp_path):
    root = tmp_path / "store"
    featurize(["CCO"], "default", store=root)
    for d in [root, *root.rglob("*")]:
        if d.is_dir():
            d.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(StoreError, match="not writable|cannot"):
            featurize(["CCO", "CCN"], "default", store=root)
        assert featurize(["CCO"], "default", store=root).hits == 1  # reading still works
    finally:
        for d in [root, *root.rglob("*")]:
            if d.is_dir():
                d.chmod(stat.S_IRWXU)


def test_read_only_filesystem_gives_clear_error(tmp_path, monkeypatch):
    """As root permission bits do not stop writes; simulate a read-only mount (EROFS)."""
    import errno
    import tempfile

    root = tmp_path / "store"
    featurize(["CCO"], "default", store=root)

    def erofs(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", erofs)
    with pytest.raises(StoreError, match="Read-only file system"):
        featurize(["CCO", "CCN"], "default", store=root)
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    with pytest.raises(StoreError, match="not writable"):
        featurize(["CCO", "CCN"], "default", store=root)
    monkeypatch.undo()
    assert featurize(["CCO"], "default", store=root).hits == 1
    assert FeatureStore(root).verify() == []


def test_write_failure_leaves_store_intact(tmp_path, monkeypatch, nci_canonical):
    """A full disk (ENOSPC) while writing a pack: clear error, nothing half-written."""
    import errno

    import theraflow.io as tio

    root = tmp_path / "store"
    featurize(nci_canonical[:20], "default", store=root)
    real_fdopen = os.fdopen

    class FullFile:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()
            return False

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

        def fileno(self):
            return self.fh.fileno()

    monkeypatch.setattr(tio.os, "fdopen", lambda fd, *a, **k: FullFile(real_fdopen(fd, *a, **k)))
    with pytest.raises(StoreError, match="No space left on device"):
        featurize(nci_canonical[:40], "default", store=root)
    monkeypatch.undo()
    store = FeatureStore(root)
    assert store.verify() == []
    assert not any((root / "tmp").iterdir())
    assert featurize(nci_canonical[:20], "default", store=store).misses == 0


def test_unwritable_store_location_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create"):
        featurize(["CCO"], "default", store=blocker / "store")


def test_stats_and_gc(tmp_path, nci_canonical):
    root = tmp_path / "store"
    featurize(nci_canonical[:60], "default", store=root, dedupe=False)
    featurize(nci_canonical[:60], "default", store=root, dedupe=False)  # hits: nothing new
    featurize(nci_canonical[30:90], "default", store=FeatureStore(root), dedupe=False, flush_every=10)
    store = FeatureStore(root)
    (row,) = store.stats(current=featurizer_is_current)
    assert row["featurizer"] == "default" and row["current"] is True
    assert store.stats() == [{**row, "current": None}]  # the store alone does not know its featurizers
    assert row["entries"] == len(set(nci_canonical[:90]))
    stale_tmp = root / "tmp" / "leftover.tmp"
    stale_tmp.write_bytes(b"x")
    os.utime(stale_tmp, (0, 0))
    report = store.gc(compact=True)
    assert report["tmp_removed"] == 1 and report["compacted"]
    (after,) = FeatureStore(root).stats()
    assert after["packs"] == 1 and after["duplicates"] == 0 and after["entries"] == row["entries"]
    res = featurize(nci_canonical[:90], "default", store=FeatureStore(root))
    assert res.misses == 0
    assert res.graphs.equals(featurize(nci_canonical[:90], "default").graphs)


def test_gc_removes_stale_featurizer_versions(tmp_path, monkeypatch):
    from theraflow.chem.featurizers.default import DefaultFeaturizer

    root = tmp_path / "store"
    featurize(["CCO"], "default", store=root)
    monkeypatch.setattr(DefaultFeaturizer, "version", "2")  # the featurizer's code changed
    res = featurize(["CCO"], "default", store=root)
    assert res.misses == 1  # old entries are never read back
    store = FeatureStore(root)
    rows = {r["version"]: r for r in store.stats(current=featurizer_is_current)}
    assert rows["1"]["current"] is False and rows["2"]["current"] is True
    with pytest.raises(ValueError, match="needs current"):
        store.gc(remove_stale=True)  # the store cannot tell stale from current by itself
    report = store.gc(remove_stale=True, current=featurizer_is_current)
    assert report["stale_removed"] == [rows["1"]["fid"]]
    assert [r["version"] for r in FeatureStore(root).stats()] == ["2"]


def test_current_is_the_callers_test(tmp_path):
    """The store asks its caller which ids are current, with each id's featurizer record."""
    root = tmp_path / "store"
    featurize(["CCO"], "default", store=root)
    featurize(["CCO"], "pyg", store=root)
    store = FeatureStore(root)
    seen = []

    def only_pyg(info):
        seen.append(info)
        return info["name"] == "pyg"

    report = store.gc(remove_stale=True, current=only_pyg, dry_run=True)
    assert {i["name"] for i in seen} == {"default", "pyg"} and all(i["fid"] and i["rdkit"] for i in seen)
    (default_fid,) = [i["fid"] for i in seen if i["name"] == "default"]
    assert report["stale_removed"] == [default_fid]
    assert len(FeatureStore(root).fids()) == 2  # dry run


def test_unknown_featurizer_is_not_current():
    assert featurizer_is_current({"name": "no-such-featurizer", "params": {}, "fid": "0"}) is False
    assert featurizer_is_current({"name": "default", "params": {"radius": 2}, "fid": "0"}) is False


def test_keys_are_content_addressed(tmp_path):
    from theraflow.chem.store import entry_keys

    a = entry_keys("fid1", ["CCO", "CCN"])
    assert a.shape == (2, 16) and a.dtype == np.uint8
    assert not np.array_equal(a, entry_keys("fid2", ["CCO", "CCN"]))
    assert np.array_equal(a[0], entry_keys("fid1", ["CCO"])[0])
