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
