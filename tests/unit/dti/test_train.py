"""Training: learns, is reproducible on CPU, resumes from a checkpoint, saves without pickle."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from theraflow.dti.metrics import regression_metrics
from theraflow.dti.train import load_model, predict, train_model


def test_trains_and_reloads(tmp_path, demo_pairset, small_cfg):
    pairs, ps, part = demo_pairset
    meta = train_model(ps, part, small_cfg, tmp_path / "m", seed=0, training={"max_epochs": 8}, progress=False)
    assert meta["epochs_trained"] == 8
    hist = pd.read_csv(tmp_path / "m" / "history.csv")
    assert len(hist) == 8 and hist["train_mse"].iloc[-1] < hist["train_mse"].iloc[0]
    model, meta2 = load_model(tmp_path / "m")
    test = np.nonzero(part == "test")[0]
    m = regression_metrics(ps.label[test], predict(model, ps, test, uses_sequences=False))
    assert m["mse"] < np.var(ps.label[test]) * 1.5  # learned something: not wildly off
    assert meta2["target_ids"] == ps.target_ids


def test_cpu_training_is_reproducible(tmp_path, demo_pairset, small_cfg):
    _, ps, part = demo_pairset
    train_model(ps, part, small_cfg, tmp_path / "a", seed=3, progress=False)
    train_model(ps, part, small_cfg, tmp_path / "b", seed=3, progress=False)
    from safetensors.torch import load_file

    a, b = load_file(str(tmp_path / "a" / "model.safetensors")), load_file(str(tmp_path / "b" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resumes_from_checkpoint(tmp_path, demo_pairset, small_cfg):
    import pytorch_lightning as pl

    _, ps, part = demo_pairset
    out = tmp_path / "r"
    cfg = json.loads(json.dumps(small_cfg))
    cfg["training"]["max_epochs"] = 4

    class Killed(Exception):
        pass

    class StopAfterTwoEpochs(pl.Callback):  # the job dies at the end of its second epoch
        def on_train_epoch_end(self, trainer, module):
            if trainer.current_epoch == 1:
                raise Killed

    with pytest.raises(Killed):
        train_model(ps, part, cfg, out, seed=0, progress=False, callbacks=[StopAfterTwoEpochs()])
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["optimizer_states"] and ckpt["lr_schedulers"]
    steps_done = ckpt["lr_schedulers"][0]["last_epoch"]
    assert steps_done > 0
    meta = train_model(ps, part, cfg, out, seed=0, progress=False)  # the re-run continues
    hist = pd.read_csv(out / "history.csv")
    assert meta["epochs_trained"] == 4
    assert hist["epoch"].tolist() == [0, 1, 2, 3]
    final = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    # the learning-rate schedule continued from where it stopped instead of restarting
    assert final["lr_schedulers"][0]["last_epoch"] == 2 * steps_done


def test_changed_recipe_starts_over(tmp_path, demo_pairset, small_cfg):
    _, ps, part = demo_pairset
    out = tmp_path / "c"
    train_model(ps, part, small_cfg, out, seed=0, training={"max_epochs": 2}, progress=False)
    cfg = json.loads(json.dumps(small_cfg))
    cfg["head"]["hidden"] = [16]
    meta = train_model(ps, part, cfg, out, seed=0, training={"max_epochs": 2}, progress=False)
    assert pd.read_csv(out / "history.csv")["epoch"].tolist() == [0, 1]
    assert meta["model_config"]["head"]["hidden"] == [16]


def test_load_model_refuses_mismatched_weights(tmp_path, demo_pairset, small_cfg):
    from theraflow.errors import InputError

    _, ps, part = demo_pairset
    train_model(ps, part, small_cfg, tmp_path / "m", seed=0, training={"max_epochs": 1}, progress=False)
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    meta["model_config"]["drug_encoder"]["hidden"] = 16
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="do not match"):
        load_model(tmp_path / "m")
    with pytest.raises(InputError, match="no model.json"):
        load_model(tmp_path / "nothing")
