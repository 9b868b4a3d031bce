"""The imaging rules: dry runs of the shipped configs, and a tiny synthetic run end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"


def test_default_config_includes_the_imaging_demo(tmp_path, snakemake):
    # in an empty working directory: the repository's own results/ (a `make demo` before) must not matter
    proc = snakemake(tmp_path, None, "-n", "--quiet", "rules")
    out = proc.stdout + proc.stderr
    for rule in ("seg_synth", "seg_datalist", "seg_preprocess", "seg_train", "seg_infer", "seg_measure",
                 "seg_overlay", "seg_report"):
        assert rule in out


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED.is_dir(), reason=f"needs the shared reference data at {SHARED}")
def test_hippocampus_config_dry_run(tmp_path, snakemake):
    """config/hippocampus.yaml as shipped, its data paths (relative to the repository) made absolute."""
    cfg = yaml.safe_load((REPO / "config" / "hippocampus.yaml").read_text())
    for ds in cfg["imaging"]["datasets"].values():
        for key in ("images", "labels"):
            ds[key] = str((REPO / ds[key]).resolve())
    proc = snakemake(tmp_path, cfg, "-n")
    assert "seg_train" in proc.stdout


def test_wrong_imaging_key_is_named(tmp_path, snakemake):
    bad = {"imaging": {"datasets": {"x": {"source": "synthetic", "model": "models/seg_unet_synthetic", "epochs": 3}}}}
    proc = snakemake(tmp_path, bad, "-n", check=False)
    assert proc.returncode != 0 and "epochs" in proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_tiny_synthetic_run(tmp_path, snakemake):
    config = {"imaging": {"threads": 1, "datasets": {"tiny": {
        "source": "synthetic", "synthetic": {"cases": 6, "size": [48, 48, 32], "classes": 2, "seed": 0},
        "model": "models/seg_unet_synthetic", "overrides": {"train.max_epochs": 2, "train.val_every": 1},
        "split": {"mode": "fixed", "val_count": 2}}}}}
    snakemake(tmp_path, config)
    out = tmp_path / "results" / "imaging" / "tiny"
    table = pd.read_csv(out / "measurements.tsv", sep="\t")
    assert len(table) == 6 and (table["split"] == "val").sum() == 2
    assert table["volume_ml_class1"].notna().all()
    html = (out / "report.html").read_text()
    assert "Dice distribution" in html
    # time and estimated energy of the stages behind the report, and of training (codecarbon's tracker)
    assert "Time and energy" in html and "Training of the models used" in html and "codecarbon" in html
    cost = json.loads((out / "report.json").read_text())["cost"]
    assert {r["stage"].split()[-1] for r in cost["stages"]} >= {"synth", "train", "infer", "measure", "overlay"}
    assert cost["totals"]["energy_wh"] == pytest.approx(sum(r["energy_wh"] for r in cost["stages"]))
    assert all(r["energy_wh"] >= 0 for r in cost["stages"])
    record = json.loads((out / "model" / "model.json").read_text())["record"]
    assert record["train_energy"]["energy_wh"] >= 0 and "codecarbon" in record["train_energy"]["method"]
    assert len(list((out / "overlays").glob("*.png"))) == 6
    for rule in ("synth", "datalist", "preprocess", "train", "infer", "measure", "overlay", "report"):
        assert (tmp_path / "results" / "logs" / "benchmarks" / "imaging" / "tiny" / f"{rule}.tsv").exists()
    # nothing changed: nothing to do
    again = snakemake(tmp_path, None, "-n", "--configfile", str(tmp_path / "config.yaml"))
    assert "Nothing to be done" in again.stdout + again.stderr
