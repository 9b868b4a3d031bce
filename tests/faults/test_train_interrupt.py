"""Resumable training through `theraflow dti train` (issue 6, item 3).

A training job stopped by SIGTERM (a cluster's wall time) writes last.ckpt at the batch
where it stops and exits with 143; killed with SIGKILL it leaves the last end-of-epoch
last.ckpt. Re-running the same command resumes — weights, optimizer, learning-rate
schedule, batch order, random state and history — and ends with exactly the weights and
history of an uninterrupted run.
"""

from __future__ import annotations

import random
import signal
import time

import pandas as pd
import pytest
import torch
import yaml

from .conftest import run_ok

MAX_EPOCHS = 4


@pytest.fixture(scope="module")
def train_inputs(tmp_path_factory):
    """The demo pairs (2 targets, ~1,000 drugs): dataset, standardized + featurized drugs, a split."""
    from theraflow.chem.shards import featurize_file, gather
    from theraflow.chem.standardize import standardize_file
    from theraflow.io import write_json
    from theraflow.pairs.stages import prepare_dataset, split_stage

    d = tmp_path_factory.mktemp("dti")
    prepare_dataset("dti", {"source": "rdkit_demo"}, d)
    counts = standardize_file(d / "molecules.csv", d / "std.parquet", d / "std-rejects.parquet", id_column="id")
    write_json(d / "std.json", {"stage": "standardize", **counts, "seconds": 0})
    write_json(d / "feat.json", featurize_file(d / "std.parquet", d / "feat.parquet", d / "feat-rejects.parquet",
                                               store=d / "store"))
    gather(standardized=[d / "std.parquet"], features=[d / "feat.parquet"],
           rejects=[d / "std-rejects.parquet", d / "feat-rejects.parquet"], stats=[d / "std.json", d / "feat.json"],
           molecules_out=d / "molecules.parquet", rejects_out=d / "rejects.tsv", summary_out=d / "summary.json")
    split_stage(d / "pairs.parquet", "random", d / "splits", seed=0)
    # the demo model, smaller, with dropout (so the random state matters) and small batches
    # (many batches per epoch, so a signal lands mid-epoch)
    cfg = yaml.safe_load(open(_repo() / "models" / "dti_demo_gin_id" / "config.yaml"))
    cfg["drug_encoder"].update(hidden=32, layers=2, dropout=0.1)
    cfg["training"].update(max_epochs=MAX_EPOCHS, batch_size=32, patience=50, max_minutes=10)
    (d / "model.yaml").write_text(yaml.safe_dump(cfg))
    return d


def _repo():
    from pathlib import Path

    return Path(__file__).resolve().parents[2]


def _train_args(d, outdir):
    return ["dti", "train", "--pairs", d / "pairs.parquet", "--split", d / "splits" / "random.parquet",
            "--molecules", d / "molecules.parquet", "--store", d / "store", "--model-config", d / "model.yaml",
            "--outdir", outdir, "--seed", "0", "--threads", "1"]


def _ckpt(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def _rows(history) -> int:
    try:
        return len(pd.read_csv(history))
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return 0


def _weights(model_dir):
    from safetensors.torch import load_file

    return load_file(str(model_dir / "model.safetensors"))


@pytest.mark.slow
def test_sigterm_checkpoints_and_kill9_resumes_identically(train_inputs, tmp_path, start, theraflow_cmd):
    d = train_inputs
    rng = random.Random(6)

    # the uninterrupted reference
    ref = tmp_path / "ref"
    run_ok(theraflow_cmd, _train_args(d, ref), tmp_path)
    ref_ckpt = _ckpt(ref / "checkpoints" / "last.ckpt")
    steps_per_epoch = ref_ckpt["global_step"] // MAX_EPOCHS
    assert ref_ckpt["global_step"] == steps_per_epoch * MAX_EPOCHS and steps_per_epoch > 20

    out = tmp_path / "job"
    history = out / "history.csv"

    # 1. SIGTERM during the second epoch: the job checkpoints where it stops and exits 143
    job = start(_train_args(d, out), tmp_path)
    assert job.wait_for(lambda: _rows(history) >= 1), job.finish()
    epochs_seen = _rows(history)
    time.sleep(rng.uniform(0.1, 0.4))
    assert job.kill(signal.SIGTERM)
    rc, _, err = job.finish(timeout=60)
    assert rc == 143, err[-3000:]
    assert "stopped by SIGTERM" in err and "run the same command again to resume" in err
    assert "Traceback" not in err
    assert not (out / "model.safetensors").exists()
    term = _ckpt(out / "checkpoints" / "last.ckpt")
    # the checkpoint holds the work done after the last epoch end seen before the signal
    assert term["global_step"] > epochs_seen * steps_per_epoch, (term["global_step"], epochs_seen)
    assert term["lr_schedulers"][0]["last_epoch"] == term["global_step"]
    assert term["optimizer_states"][0]["state"][0]["step"] == term["global_step"]

    # 2. the same command resumes; SIGKILL it at a random point of a later epoch
    job = start(_train_args(d, out), tmp_path)
    assert job.wait_for(lambda: _rows(history) >= term["global_step"] // steps_per_epoch + 1), job.finish()
    time.sleep(rng.uniform(0.0, 0.5))
    rows_at_kill = _rows(history)
    killed = job.kill(signal.SIGKILL)
    rc, _, err = job.finish(timeout=60)
    assert "resuming from" in err
    if killed:
        assert rc == -signal.SIGKILL
        left = _ckpt(out / "checkpoints" / "last.ckpt")
        # no handler runs on SIGKILL: what is left is a complete end-of-epoch checkpoint
        assert left["global_step"] % steps_per_epoch == 0
        assert left["global_step"] // steps_per_epoch in (rows_at_kill - 1, rows_at_kill, rows_at_kill + 1)
        assert left["global_step"] > term["global_step"]

        # 3. the same command again finishes the job from that checkpoint
        err = run_ok(theraflow_cmd, _train_args(d, out), tmp_path).stderr
        assert "resuming from" in err
    assert not list((out / "checkpoints").glob(".*.tmp"))  # no half-written checkpoint left behind

    # the interrupted job ends exactly where the uninterrupted one did
    a, b = _weights(ref), _weights(out)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    final = _ckpt(out / "checkpoints" / "last.ckpt")
    assert final["global_step"] == ref_ckpt["global_step"]
    assert final["lr_schedulers"][0] == ref_ckpt["lr_schedulers"][0]
    assert final["optimizer_states"][0]["state"][0]["step"] == ref_ckpt["optimizer_states"][0]["state"][0]["step"]
    h_ref, h_out = pd.read_csv(ref / "history.csv"), pd.read_csv(history)
    assert h_out["epoch"].tolist() == list(range(MAX_EPOCHS))
    pd.testing.assert_frame_equal(h_ref.drop(columns="seconds"), h_out.drop(columns="seconds"))
