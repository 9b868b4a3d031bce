"""The shared feature store under concurrent, killed, full and read-only `theraflow featurize`
runs (issue 6, item 4). The store's own unit tests (tests/unit/chem/test_store.py) cover the
same faults inside one process, with simulated errors; these run the command line against
real ones: processes writing at once, SIGKILL, a full filesystem, a read-only mount.
"""

from __future__ import annotations

import contextlib
import os
import random
import resource
import signal
import subprocess
import time

import pandas as pd
import pytest

from .conftest import cli


@pytest.fixture(scope="module")
def standardized(tmp_path_factory, nci_smi):
    """The NCI set standardized once, cut into overlapping tables."""
    from theraflow.chem.standardize import standardize_file

    d = tmp_path_factory.mktemp("std")
    standardize_file(nci_smi, d / "all.parquet", d / "rejects.parquet")
    table = pd.read_parquet(d / "all.parquet")
    table.iloc[:3000].to_parquet(d / "a.parquet", index=False)
    table.iloc[2000:].to_parquet(d / "b.parquet", index=False)
    table.iloc[:50].to_parquet(d / "small.parquet", index=False)
    return d


def _featurize_args(table, out, store):
    return ["featurize", table, "-o", out / f"{table.stem}.index.parquet", "--rejects",
            out / f"{table.stem}.rejects.parquet", "--store", store, "--stats", out / f"{table.stem}.json"]


def _files(root):
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file())


def test_concurrent_and_killed_runs_leave_the_store_intact(tmp_path, standardized, start):
    store = tmp_path / "store"
    rng = random.Random(2)
    # two runs with 1,000 molecules in common, and a third (everything) killed at a random point
    a = start(_featurize_args(standardized / "a.parquet", tmp_path, store), tmp_path)
    b = start(_featurize_args(standardized / "b.parquet", tmp_path, store), tmp_path)
    c = start(_featurize_args(standardized / "all.parquet", tmp_path, store), tmp_path)
    time.sleep(rng.uniform(3.0, 8.0))
    c.kill(signal.SIGKILL)
    for run in (a, b):
        rc, _, err = run.finish()
        assert rc == 0, err[-3000:]
    c.finish()

    rc, out, _ = cli(["store", "verify", "--store", store])
    assert rc == 0 and "all intact" in out, out
    # every molecule of either run is in the store, once featurized, read back identical
    from theraflow.chem import featurize

    every = pd.read_parquet(standardized / "all.parquet")["smiles"].tolist()
    both = pd.concat([pd.read_parquet(standardized / t)["smiles"] for t in ("a.parquet", "b.parquet")]).tolist()
    assert set(both) == set(every)
    warm = featurize(every, "default", store=store)
    assert warm.misses == 0 and warm.hits == len(set(every))
    assert warm.graphs.equals(featurize(every, "default").graphs)
    # both index tables point at the same keys a single run computes
    for name in ("a", "b"):
        index = pd.read_parquet(tmp_path / f"{name}.index.parquet")
        table = pd.read_parquet(standardized / f"{name}.parquet")
        assert index["key"].tolist() == featurize(table["smiles"].tolist(), "default").keys
    # whatever the killed run left is in tmp/ only, and gc removes it
    assert all(p.suffix == ".safetensors" for p in store.glob("v1/*/packs/*"))
    assert cli(["store", "gc", "--store", store, "--tmp-age", "0"])[0] == 0
    assert not any((store / "tmp").iterdir())


@contextlib.contextmanager
def _mount(*args):
    """Mount for the duration (needs root with CAP_SYS_ADMIN); yields False where that is impossible."""
    target = args[-1]
    if os.geteuid() != 0 or subprocess.run(["mount", *args], capture_output=True).returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", "-l", target], check=True)


def _run(args, cwd, preexec=None):
    import shutil

    proc = subprocess.run([shutil.which("theraflow"), "--no-progress", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, preexec_fn=preexec)
    return proc.returncode, proc.stdout, proc.stderr


def test_full_store_is_a_clear_error_and_nothing_is_corrupted(tmp_path, standardized):
    full = tmp_path / "full"
    full.mkdir()
    with _mount("-t", "tmpfs", "-o", "size=400k", "tmpfs", str(full)) as mounted:
        store = full / "store"
        assert _run(_featurize_args(standardized / "small.parquet", tmp_path, store), tmp_path)[0] == 0
        before = _files(store)
        if mounted:  # a real full filesystem: ENOSPC
            preexec, words = None, "No space left on device"
        else:  # no mount allowed here: a file-size limit makes the pack write fail alike (EFBIG)
            def preexec():
                resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

            words = "File too large"
        out = tmp_path / "out"
        rc, _, err = _run(_featurize_args(standardized / "all.parquet", out, store), tmp_path, preexec)
        assert rc == 2, err[-3000:]
        assert "Traceback" not in err
        assert err.startswith("theraflow featurize: error: feature store ") and str(store) in err, err
        assert words in err and "nothing was changed" in err, err
        assert not (out / "all.index.parquet").exists()  # no output for a run that failed
        assert _files(store) == before  # no half-written pack, no temporary file left
        rc, stdout, _ = cli(["store", "verify", "--store", store])
        assert rc == 0 and "all intact" in stdout
        # what was stored before is still served
        rc, _, err = _run(_featurize_args(standardized / "small.parquet", tmp_path, store), tmp_path)
        assert rc == 0, err
        assert pd.read_json(tmp_path / "small.json", typ="series")["misses"] == 0


def test_read_only_store_is_a_clear_error_and_still_readable(tmp_path, standardized):
    store = tmp_path / "store"
    assert _run(_featurize_args(standardized / "small.parquet", tmp_path, store), tmp_path)[0] == 0
    before = _files(store)
    ro = tmp_path / "ro"
    ro.mkdir()
    with _mount("--bind", "-o", "ro", str(store), str(ro)) as mounted:
        if mounted:
            ro_store = ro
        elif os.geteuid() != 0:
            ro_store = store
            for d in [store, *store.rglob("*")]:
                if d.is_dir():
                    d.chmod(0o555)
        else:
            pytest.skip("root without permission to mount: a read-only directory cannot be made here")
        try:
            out = tmp_path / "out"
            rc, _, err = _run(_featurize_args(standardized / "a.parquet", out, ro_store), tmp_path)
            assert rc == 2, err[-3000:]
            assert "Traceback" not in err
            assert err.startswith("theraflow featurize: error: feature store ") and str(ro_store) in err, err
            assert "not writable" in err or "Read-only file system" in err, err
            assert not (out / "a.index.parquet").exists()
            # reading needs no writing: molecules already stored are served from a read-only store
            rc, _, err = _run(_featurize_args(standardized / "small.parquet", out, ro_store), tmp_path)
            assert rc == 0, err
            n = pd.read_parquet(standardized / "small.parquet")["smiles"].nunique()
            assert pd.read_json(out / "small.json", typ="series")["hits"] == n
        finally:
            if not mounted:
                for d in [store, *store.rglob("*")]:
                    if d.is_dir():
                        d.chmod(0o755)
    assert _files(store) == before
    assert cli(["store", "verify", "--store", store])[0] == 0
