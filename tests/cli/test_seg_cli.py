"""`theraflow seg ...`: the stages from the command line, exit codes and messages."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

SRC = Path(__file__).resolve().parents[2] / "src"

TINY = {
    "labels": {0: "background", 1: "class1", 2: "class2"},
    "network": {"name": "unet", "params": {"channels": [4, 8, 16, 32], "strides": [2, 2, 2], "num_res_units": 1}},
    "preprocess": {"pad_to": [32, 32, 16]},
    "train": {"patch_size": [32, 32, 16], "batch_size": 2, "max_epochs": 1, "val_every": 1, "num_workers": 0},
    "infer": {"tta_axes": [0], "sw_batch_size": 2},
}


def seg(*args, check=True):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "theraflow.cli.main", "--no-progress", "seg", *map(str, args)],
                          capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    seg("synth", root, "--cases", 5, "--size", 32, 32, 16, "--seed", 3)
    return root


def test_datalist_bad_case_stops_or_is_rejected(synth, tmp_path):
    import nibabel as nib

    img = nib.load(synth / "images" / "synth_000.nii.gz")
    data = np.asarray(img.dataobj).copy()
    data[1, 2, 3] = np.nan
    (tmp_path / "images").mkdir()
    nib.save(nib.Nifti1Image(data, img.affine), tmp_path / "images" / "bad_nan.nii.gz")
    for p in (synth / "images").iterdir():
        (tmp_path / "images" / p.name).write_bytes(p.read_bytes())
    proc = seg("datalist", "--images", tmp_path / "images", "--labels", synth / "labels", "--label-values", 0, 1, 2,
               "-o", tmp_path / "dl.tsv", check=False)
    assert proc.returncode == 2
    assert "case bad_nan" in proc.stderr and "not finite" in proc.stderr
    assert not (tmp_path / "dl.tsv").exists()
    seg("datalist", "--images", tmp_path / "images", "--labels", synth / "labels", "--label-values", 0, 1, 2,
        "--on-error", "reject", "-o", tmp_path / "dl.tsv", "--rejects", tmp_path / "rejects.tsv")
    assert len(pd.read_csv(tmp_path / "dl.tsv", sep="\t")) == 5
    rejects = pd.read_csv(tmp_path / "rejects.tsv", sep="\t")
    assert list(rejects["id"]) == ["bad_nan"]


def test_stages_from_the_command_line(synth, tmp_path):
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    seg("datalist", "--images", synth / "images", "--labels", synth / "labels", "--label-values", 0, 1, 2,
        "-o", tmp_path / "dl.tsv")
    seg("train", tmp_path / "dl.tsv", "--model-config", tmp_path / "tiny.yaml", "--cache", tmp_path / "cache",
        "--val-count", 2, "-o", tmp_path / "model", "--threads", 1)
    assert (tmp_path / "model" / "model.safetensors").exists()
    # the documented segment-a-folder command: masks + measurements table
    proc = seg("infer", synth / "images", "--model", tmp_path / "model", "-o", tmp_path / "out", "--threads", 1)
    for noise in ("nvImageCodec", "Orientationd", "will be overwritten", "always_return_as_numpy", "Warning"):
        assert noise not in proc.stderr, f"library noise on the terminal ({noise}):\n{proc.stderr[-2000:]}"
    masks = sorted(p.name for p in (tmp_path / "out").glob("*.nii.gz"))
    assert masks == [f"synth_{i:03d}.nii.gz" for i in range(5)]
    volumes = pd.read_csv(tmp_path / "out" / "measurements.tsv", sep="\t")
    assert list(volumes.columns) == ["id", "volume_ml_class1", "volume_ml_class2", "uncertainty"]
    spread = sorted(p.name for p in (tmp_path / "out" / "uncertainty").glob("*.nii.gz"))  # mirror TTA: spread maps
    assert spread == masks and volumes["uncertainty"].between(0, 0.5).all()
    # measure, overlay and report run from the command line in tests/workflow (the Snakemake rules call them)


def test_infer_without_a_model_says_what_is_missing(synth, tmp_path):
    proc = seg("infer", synth / "images", "--model", tmp_path / "nope", "-o", tmp_path / "out", check=False)
    assert proc.returncode == 2 and "not a trained model" in proc.stderr


def test_summary_reports_segmentation_runs(tmp_path, capsys):
    from theraflow.cli.main import main

    run = tmp_path / "imaging" / "study"
    run.mkdir(parents=True)
    pd.DataFrame({"id": ["a", "b", "c"], "split": ["train", "val", "val"], "dice_anterior": [0.9, 0.8, 0.6],
                  "dice_posterior": [0.9, 0.7, 0.5], "dice_mean": [0.9, 0.75, 0.55]}).to_csv(
        run / "measurements.tsv", sep="\t", index=False)
    assert main(["summary", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "segmentation — study" in out and "mean Dice (validation, 2 cases) 0.650" in out
    assert "anterior 0.700" in out and "posterior 0.600" in out


def test_network_choices_come_from_the_registry():
    from theraflow.cli.main import build_parser
    from theraflow.cli.seg import _overrides
    from theraflow.registry import SEG_NETWORKS

    parser = build_parser()
    for stage in ("preprocess", "train"):
        args = parser.parse_args(["seg", stage, "dl.tsv", "--cache", "c", "-o", "m", "--network", "dynunet",
                                  "--set", "train.max_epochs=2"])
        assert _overrides(args) == {"network.name": "dynunet", "train.max_epochs": 2}
    stage = parser
    for name in ("seg", "train"):
        stage = next(a for a in stage._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    (network,) = [a for a in stage._actions if "--network" in a.option_strings]
    assert list(network.choices) == SEG_NETWORKS.names()
    for name in SEG_NETWORKS.names():
        assert name in network.help


def test_a_bad_override_names_the_file_and_the_key(tmp_path):
    from ..inprocess import cli

    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    rc, _, err = cli(["seg", "preprocess", tmp_path / "dl.tsv", "--model-config", tmp_path / "tiny.yaml",
                      "--cache", tmp_path / "cache", "--set", "infer.mode=median"])
    assert rc == 2 and "Traceback" not in err
    assert f"{tmp_path / 'tiny.yaml'} (override infer.mode): infer.mode: 'median' is not one of gaussian, constant" in err
    rc, _, err = cli(["seg", "preprocess", tmp_path / "dl.tsv", "--cache", tmp_path / "cache", "--network", "vit"])
    assert rc == 2 and "invalid choice: 'vit' (choose from 'dynunet', 'segresnet', 'unet')" in err
