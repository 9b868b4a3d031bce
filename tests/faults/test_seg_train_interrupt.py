"""Resumable segmentation training through `theraflow seg train`, on the shared training runtime.

SIGTERM (a cluster's wall time) stops the job with exit 143 and the checkpoint of the last
finished epoch; SIGKILL leaves the last complete end-of-epoch checkpoint (written atomically).
Re-running the same command resumes — weights, optimizer, schedule, the data loader's order and
the augmentations' random state, the history — and ends with exactly the weights of an
uninterrupted run.
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

EPOCHS = 8


@pytest.fixture(scope="module")
def seg_inputs(tmp_path_factory):
    from theraflow import imaging
    from theraflow.io import write_table

    from ..unit.imaging.helpers import TINY_MODEL

    d = tmp_path_factory.mktemp("seg")
    data = imaging.make_synthetic(d / "data", cases=6, size=(32, 32, 16), seed=3)
    datalist, _ = imaging.make_datalist(images=data["images"], labels=data["labels"], label_values=[0, 1, 2])
    write_table(datalist, d / "datalist.tsv")
    cfg = {**TINY_MODEL, "train": {**TINY_MODEL["train"], "max_epochs": EPOCHS, "seed": 0}}
    (d / "model.yaml").write_text(yaml.safe_dump(cfg))
    imaging.preprocess(datalist, d / "cache", model_config=cfg)
    return d


def _args(d, out):
    return ["seg", "train", d / "datalist.tsv", "--model-config", d / "model.yaml", "--cache", d / "cache",
            "-o", out, "--val-count", "2", "--threads", "1", "--accelerator", "cpu"]


def _rows(history) -> int:
    try:
        return len(pd.read_csv(history, sep="\t"))
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return 0


def _epoch(ckpt) -> int:
    return int(torch.load(ckpt, map_location="cpu", weights_only=True)["epoch"])


def _weights(model_dir):
    from safetensors.torch import load_file

    return load_file(str(model_dir / "model.safetensors"))


@pytest.mark.slow
def test_seg_sigterm_then_kill9_resumes_identically(seg_inputs, tmp_path, start, theraflow_cmd):
    d = seg_inputs
    rng = random.Random(11)
    ref = tmp_path / "ref"
    run_ok(theraflow_cmd, _args(d, ref), tmp_path)

    out = tmp_path / "job"
    history = out / "history.tsv"
    last = out / "checkpoints" / "last.ckpt"

    # 1. SIGTERM in the third epoch or later: exit 143, the end-of-epoch checkpoint before it stands
    job = start(_args(d, out), tmp_path)
    assert job.wait_for(lambda: _rows(history) >= 2), job.finish()
    time.sleep(rng.uniform(0.0, 0.3))
    assert job.kill(signal.SIGTERM)
    rc, _, err = job.finish(timeout=120)
    assert rc == 143, err[-3000:]
    assert "stopped by SIGTERM" in err and "run the same command again to resume" in err and "Traceback" not in err
    assert not (out / "model.safetensors").exists()
    after_term = _epoch(last)  # the last finished epoch (0-based) of the checkpoint
    assert after_term >= 1 and _rows(history) >= after_term + 1

    # 2. the same command resumes; SIGKILL it at a random point of a later epoch
    job = start(_args(d, out), tmp_path)
    assert job.wait_for(lambda: _rows(history) >= after_term + 3), job.finish()
    time.sleep(rng.uniform(0.0, 0.3))
    killed = job.kill(signal.SIGKILL)
    rc, _, err = job.finish(timeout=120)
    assert "resuming from" in err
    if killed:
        assert rc == -signal.SIGKILL
        assert _epoch(last) > after_term  # a complete checkpoint of a later epoch end
        err = run_ok(theraflow_cmd, _args(d, out), tmp_path).stderr
        assert "resuming from" in err
    assert not list((out / "checkpoints").glob(".*.tmp"))  # no half-written checkpoint left behind

    # the interrupted job ends exactly where the uninterrupted one did
    a, b = _weights(ref), _weights(out)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), \
        [k for k in a if not torch.equal(a[k], b[k])][:5]
    h_ref, h_out = (pd.read_csv(p / "history.tsv", sep="\t").drop(columns=["seconds", "train_seconds"]) for p in (ref, out))
    assert h_out["epoch"].tolist() == list(range(EPOCHS))
    pd.testing.assert_frame_equal(h_ref, h_out)
