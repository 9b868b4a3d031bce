"""The imaging rules: lint, dry runs of the shipped configs, and a tiny synthetic run end to end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"


def snakemake(*args, cwd=REPO, timeout=600):
    exe = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or shutil.which("snakemake")
    assert exe, "snakemake is not installed in this environment"
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([exe, "-s", str(REPO / "Snakefile"), *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_lint_is_clean():
    proc = snakemake("--lint")
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr, proc.stdout


def test_default_config_includes_the_imaging_demo():
    proc = snakemake("-n", "--quiet", "rules")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    for rule in ("seg_synth", "seg_datalist", "seg_preprocess", "seg_train", "seg_infer", "seg_measure",
                 "seg_overlay", "seg_report"):
        assert rule in out


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED.is_dir(), reason=f"needs the shared reference data at {SHARED}")
def test_hippocampus_config_dry_run():
    proc = snakemake("-n", "--configfile", str(REPO / "config" / "hippocampus.yaml"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "seg_train" in proc.stdout


def test_wrong_imaging_key_is_named(tmp_path):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"imaging": {"datasets": {"x": {
        "source": "synthetic", "model": "models/seg_unet_synthetic", "epochs": 3}}}}))
    proc = snakemake("-n", "--configfile", str(tmp_path / "c.yaml"), "--directory", str(tmp_path))
    assert proc.returncode != 0 and "epochs" in proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_tiny_synthetic_run(tmp_path):
    config = {"imaging": {"threads": 1, "datasets": {"tiny": {
        "source": "synthetic", "synthetic": {"cases": 6, "size": [48, 48, 32], "classes": 2, "seed": 0},
        "model": "models/seg_unet_synthetic", "overrides": {"train.max_epochs": 2, "train.val_every": 1},
        "split": {"mode": "fixed", "val_count": 2}}}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake("--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml"), "--cores", "2",
                     cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = tmp_path / "results" / "imaging" / "tiny"
    table = pd.read_csv(out / "measurements.tsv", sep="\t")
    assert len(table) == 6 and (table["split"] == "val").sum() == 2
    assert table["volume_ml_class1"].notna().all()
    assert "Dice distribution" in (out / "report.html").read_text()
    assert len(list((out / "overlays").glob("*.png"))) == 6
    for rule in ("synth", "datalist", "preprocess", "train", "infer", "measure", "overlay", "report"):
        assert (tmp_path / "logs" / "benchmarks" / "imaging" / "tiny" / f"{rule}.tsv").exists()
    # nothing changed: nothing to do
    again = snakemake("--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml"), "-n", cwd=tmp_path)
    assert "Nothing to be done" in again.stdout + again.stderr
