"""The bad-input corpus (tests/data/corpus.py) through the public entry points.

Each case ends as a rejects row with a reason (and every input record is kept or
rejected: nothing is dropped silently), or as a clear error that names the file and,
where there is one, the record; no traceback reaches the user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from .data.corpus import CASES, CATEGORIES, Case
from .inprocess import cli

REPO = Path(__file__).resolve().parents[1]


def snakemake(args: list[str], workdir: Path) -> tuple[int, str, str]:
    exe = shutil.which("snakemake")
    assert exe, "snakemake is not on PATH"
    proc = subprocess.run([exe, "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "1", *args],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return proc.returncode, proc.stdout, proc.stderr


def _table(path: Path):
    from theraflow.io import read_table

    assert path.is_file(), f"{path.name} was not written"
    return read_table(path, **({} if path.suffix == ".parquet" else {"dtype": str, "keep_default_na": False}))


def test_corpus_size():
    counts = Counter(c.category for c in CASES)
    print("bad-input corpus:", ", ".join(f"{cat} {counts[cat]}" for cat in CATEGORIES), f"(total {len(CASES)})")
    assert len(CASES) >= 60
    assert all(counts[cat] >= 8 for cat in CATEGORIES), counts
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "case names must be unique"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input(case: Case, tmp_path: Path, monkeypatch):
    work = tmp_path / "in"
    work.mkdir()
    monkeypatch.chdir(tmp_path)  # anything a command writes beside its inputs stays here
    args = case.build(work)
    if case.runner == "snakemake":
        rc, out, err = snakemake(args, work)
        err = out + err  # snakemake prints its errors to stdout
    else:
        rc, out, err = cli(args)
    shown = f"exit {rc}\n--- stdout\n{out[-2000:]}\n--- stderr\n{err[-3000:]}"
    assert "Traceback" not in err and "Traceback" not in out, shown
    assert "internal error" not in err, shown
    if case.expect == "error":
        assert rc != 0, shown
        if case.file:
            assert case.file in err, f"the message does not name the file {case.file!r}\n{shown}"
        if case.record:
            assert case.record in err, f"the message does not name the record {case.record!r}\n{shown}"
        assert case.match in err, shown
        return
    assert rc == 0, shown
    kept, rejects = _table(work / case.output), _table(work / case.rejects)
    rows = rejects[rejects[case.record_column].astype(str) == case.record]
    assert len(rows), f"no rejects row for {case.record!r}:\n{rejects.to_string()}\n{shown}"
    reasons = rows["reason"].astype(str).tolist()
    assert all(r.strip() for r in reasons), reasons
    assert not any("Traceback" in r or "Stacktrace" in r for r in reasons), reasons
    assert any(case.match in r for r in reasons), f"{case.match!r} not in {reasons}"
    assert len(kept) + len(rejects) == case.records_in, (
        f"{case.records_in} records in, {len(kept)} kept + {len(rejects)} rejected: a record went missing\n"
        f"{rejects.to_string()}")
