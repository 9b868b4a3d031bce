"""A library in which every record is rejected is a failed run (non-zero exit, a message naming the library),
and its rejects table is still written: the user needs it to see why."""

from __future__ import annotations

import pandas as pd

from tests.inprocess import cli

BAD = "C1CC( a\n[Na+].[Cl-] b\nc1cccc1 c\n"


def test_scoring_a_library_of_rejects_fails_and_keeps_the_rejects(tmp_path, demo_model):
    lib = tmp_path / "bad.smi"
    lib.write_text(BAD)
    out = tmp_path / "screen"
    rc, stdout, err = cli(["score", "run", lib, "--model", demo_model, "--outdir", out, "--store", tmp_path / "s",
                           "--no-report"])
    assert rc != 0, stdout + err
    assert "Traceback" not in err and "internal error" not in err, err
    assert f"{lib}: nothing usable is left: all 3 record(s) were rejected" in err, err
    rejects = pd.read_csv(out / "rejects.tsv", sep="\t")
    assert len(rejects) == 3 and rejects["reason"].notna().all()
    assert str(out / "rejects.tsv") in err


def test_standardizing_a_library_of_rejects_fails_and_keeps_the_rejects(tmp_path):
    lib = tmp_path / "bad.smi"
    lib.write_text(BAD)
    rc, _, err = cli(["standardize", lib, "-o", tmp_path / "kept.tsv", "--rejects", tmp_path / "rejects.tsv"])
    assert rc == 2 and "nothing usable is left: all 3 record(s) were rejected" in err, err
    assert len(pd.read_csv(tmp_path / "rejects.tsv", sep="\t")) == 3
    # a shard of a larger library may hold only bad records: that job succeeds, `gather` judges the library
    rc, _, err = cli(["standardize", lib, "--shard", "0/2", "-o", tmp_path / "k0.tsv", "--rejects",
                      tmp_path / "r0.tsv"])
    assert rc == 0, err
