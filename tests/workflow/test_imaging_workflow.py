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
@pytest.mark.parametrize("name, rule", [("hippocampus", "seg_train"), ("hippocampus_federated", "fed_run")])
def test_hippocampus_config_dry_run(tmp_path, snakemake, name, rule):
    """config/hippocampus.yaml (and its federated twin) as shipped, data paths made absolute."""
    cfg = yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text())
    for ds in cfg["imaging"]["datasets"].values():
        for key in ("images", "labels"):
            ds[key] = str((REPO / ds[key]).resolve())
    proc = snakemake(tmp_path, cfg, "-n")
    assert f"rule {rule}:" in proc.stdout


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


def _federated_config(dataset: str = "s") -> dict:
    return {"imaging": {"datasets": {"s": {"source": "synthetic", "synthetic": {"cases": 6, "size": [32, 32, 16]},
                                           "label_values": [0, 1, 2], "model": "models/seg_unet_synthetic",
                                           "overrides": {"preprocess.pad_to": [32, 32, 16],
                                                         "train.patch_size": [32, 32, 16]}}}},
            "federated": {"two": {"dataset": dataset, "sites": [{"share": 0.6}, {"share": 0.4, "gamma": 0.8}],
                                  "heldout": 2, "strategy": "fedprox", "proximal_mu": 0.05, "rounds": 3,
                                  "local_epochs": 2}}}


def test_a_federated_entry_plans_sites_a_federation_and_its_report(tmp_path, snakemake):
    """The config's federated: section: the sites are made for real from the dataset's datalist, and the
    federation's command line (from the dry run) is one the CLI takes, with the entry's settings."""
    import shlex

    from theraflow.cli.main import build_parser

    cfg = _federated_config()
    proc = snakemake(tmp_path, cfg, "-n")
    for rule in ("fed_sites", "fed_run", "fed_report"):
        assert f"rule {rule}:" in proc.stdout, proc.stdout[-3000:]
    line = next(x for x in proc.stdout.splitlines() if " seg federate local " in x)
    argv = shlex.split(line.split(" > ")[0])
    args = build_parser().parse_args(argv[argv.index("seg"):])
    assert (args.strategy, args.proximal_mu, args.rounds, args.local_epochs) == ("fedprox", 0.05, 3, 2)
    assert "preprocess.pad_to=[32, 32, 16]" in args.overrides and args.evaluate_site_models
    snakemake(tmp_path, cfg, "--cores", "2", "results/federated/two/sites/sites.json")  # (a flag ends --configfile)
    made = json.loads((tmp_path / "results/federated/two/sites/sites.json").read_text())
    assert [s["cases"] for s in made["sites"]] == [3, 1] and made["heldout"]["cases"] == 2
    assert made["sites"][1]["gamma"] == 0.8


def test_a_federated_entry_names_an_imaging_dataset(tmp_path, snakemake):
    proc = snakemake(tmp_path, _federated_config(dataset="nope"), "-n", check=False)
    assert proc.returncode != 0 and "federated.two.dataset: 'nope' is not an imaging dataset" in proc.stdout + proc.stderr
