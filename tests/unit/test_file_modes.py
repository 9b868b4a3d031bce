"""Files theraflow writes honour the umask, as files written with plain open() do: a group that shares a
feature store or a results folder (umask 002) can read and write them; umask 077 keeps them private.

atomic_write makes its temporary file with mkstemp, which creates it 0600 whatever the umask, and the
rename keeps that mode: without the chmod every output and every pack of the store was owner-only.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from theraflow.chem import FeatureStore, featurize
from theraflow.io import atomic_write, current_umask, write_json, write_table


@pytest.fixture()
def umask():
    """Set the process umask for the test; the old one comes back after it."""
    old = os.umask(0o022)
    os.umask(old)

    def set_to(mask: int) -> None:
        os.umask(mask)

    yield set_to
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_current_umask_reads_it_without_changing_it(umask):
    umask(0o027)
    assert current_umask() == 0o027
    assert current_umask() == 0o027  # reading it left it as it was


def test_a_store_and_outputs_written_under_umask_002_are_group_writable(tmp_path, umask):
    umask(0o002)
    with atomic_write(tmp_path / "out" / "a.bin") as fh:
        fh.write(b"x")
    write_table(pd.DataFrame({"a": [1, 2]}), tmp_path / "out" / "t.tsv")
    write_json(tmp_path / "out" / "s.json", {"a": 1})
    store = FeatureStore(tmp_path / "store")
    featurize(["CCO", "c1ccccc1O"], "default", store=store)
    packs = list((tmp_path / "store").rglob("*.safetensors"))
    assert packs, "the featurizer wrote no pack"
    files = _files(tmp_path / "out") + _files(tmp_path / "store")
    for f in files:
        assert _mode(f) == 0o664, f"{f}: mode {_mode(f):o}, expected 664 under umask 002"
        assert _mode(f) & stat.S_IWGRP
    for d in [tmp_path / "out", *(p for p in (tmp_path / "store").rglob("*") if p.is_dir())]:
        assert _mode(d) & stat.S_IWGRP and _mode(d) & stat.S_IXGRP, f"{d}: mode {_mode(d):o}"


def test_umask_077_keeps_them_private(tmp_path, umask):
    umask(0o077)
    write_table(pd.DataFrame({"a": [1]}), tmp_path / "out" / "t.parquet")
    featurize(["CCO"], "default", store=FeatureStore(tmp_path / "store"))
    files = _files(tmp_path / "out") + _files(tmp_path / "store")
    assert files
    for f in files:
        assert _mode(f) == 0o600, f"{f}: mode {_mode(f):o}, expected 600 under umask 077"
        assert not _mode(f) & (stat.S_IRGRP | stat.S_IROTH)


def test_a_library_index_and_a_store_snapshot_are_shared_like_the_rest(tmp_path, umask):
    """Folders written aside and renamed into place (the library index, the store's key snapshots) get the
    mode mkdir gives under the umask, not mkdtemp's 0700; their files too."""
    from theraflow.chem.library_index import library_index
    from theraflow.chem.store import SNAPSHOT_MIN_PACKS

    umask(0o002)
    lib = tmp_path / "lib.smi.gz"
    import gzip

    lib.write_bytes(gzip.compress(b"CCO a\nCCN b\n"))
    idx = library_index(lib, cache_dir=tmp_path / "index")
    store = FeatureStore(tmp_path / "store")
    for i in range(SNAPSHOT_MIN_PACKS):
        featurize([f"C{'C' * i}O"], "default", store=store)
    snapshot = FeatureStore(tmp_path / "store")._index(next(iter(FeatureStore(tmp_path / "store").fids())))
    assert snapshot.base is not None, "no snapshot was made"
    for folder in (idx.folder, snapshot.base.folder):
        assert _mode(folder) == 0o775, f"{folder}: mode {_mode(folder):o}, expected 775 under umask 002"
        for f in _files(folder):
            assert _mode(f) == 0o664, f"{f}: mode {_mode(f):o}, expected 664 under umask 002"
