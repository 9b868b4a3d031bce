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
    m = regression_metrics(ps.label[test], predict(model, ps, test))
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
    # the crash came inside the epoch-end hooks, before that epoch's checkpoint: the last
    # complete checkpoint is the one of the epoch before
    steps_per_epoch = steps_done // (ckpt["epoch"] + 1)
    assert steps_done == ckpt["global_step"] == steps_per_epoch * (ckpt["epoch"] + 1)
    meta = train_model(ps, part, cfg, out, seed=0, progress=False)  # the re-run continues
    hist = pd.read_csv(out / "history.csv")
    assert meta["epochs_trained"] == 4
    assert hist["epoch"].tolist() == [0, 1, 2, 3]
    final = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    # the learning-rate schedule continued from where it stopped instead of restarting
    assert final["lr_schedulers"][0]["last_epoch"] == 4 * steps_per_epoch


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


def test_labels_on_another_scale_give_the_same_ranking(tmp_path, demo_pairset, small_cfg):
    """Labels are standardized on the training part: pKd x 2 + 6 trains the same model, up to the affine map."""
    from dataclasses import replace

    from theraflow.dti.metrics import concordance_index

    _, ps, part = demo_pairset
    scaled = replace(ps, label=(ps.label * 2 + 6).astype(np.float32))
    cfg = json.loads(json.dumps(small_cfg))
    cfg["training"]["max_epochs"] = 4
    meta = train_model(ps, part, cfg, tmp_path / "a", seed=0, progress=False)
    meta2 = train_model(scaled, part, cfg, tmp_path / "b", seed=0, progress=False)
    assert meta2["label_scale"]["mean"] == pytest.approx(meta["label_scale"]["mean"] * 2 + 6, rel=1e-6)
    assert meta2["label_scale"]["sd"] == pytest.approx(meta["label_scale"]["sd"] * 2, rel=1e-6)
    test = np.nonzero(part == "test")[0]
    pa = predict(load_model(tmp_path / "a")[0], ps, test)
    pb = predict(load_model(tmp_path / "b")[0], scaled, test)
    ci_a, ci_b = concordance_index(ps.label[test], pa), concordance_index(scaled.label[test], pb)
    assert abs(ci_a - ci_b) < 0.01, (ci_a, ci_b)
    mse_a = regression_metrics(ps.label[test], pa)["mse"]
    mse_b = regression_metrics(scaled.label[test], pb)["mse"]
    assert mse_b == pytest.approx(4 * mse_a, rel=0.05)
    # the same model up to float rounding over the epochs (measured: at most 3 % of the label sd apart)
    assert np.abs(pb - (pa * 2 + 6)).max() < 0.05 * scaled.label.std()


def test_calibration_on_validation_shrinks_toward_the_fallback(tmp_path, demo_pairset, small_cfg):
    from theraflow.dti.data import Inputs
    from theraflow.dti.train import calibrate

    _, ps, part = demo_pairset
    cfg = json.loads(json.dumps(small_cfg))
    cfg["training"].update(max_epochs=3, calibrate=True)
    meta = train_model(ps, part, cfg, tmp_path / "c", seed=0, progress=False)
    cal = meta["calibration"]
    assert 0.0 <= cal["w"] <= 1.0
    # least squares over w in [0, 1]: no worse than the network (w = 1) or the fallback (w = 0) on validation
    assert cal["valid_mse_after"] <= min(cal["valid_mse_before"], cal["valid_mse_fallback"]) + 1e-9
    model, meta2 = load_model(tmp_path / "c")
    assert float(model.shrink) == pytest.approx(cal["w"])
    valid = np.nonzero(part == "valid")[0]
    pred = predict(model, ps, valid)
    assert np.mean((pred - ps.label[valid]) ** 2) == pytest.approx(cal["valid_mse_after"], rel=1e-4)
    # the fallback is the training labels' mean plus target and drug offsets
    train = part == "train"
    assert float(model.fallback_mean) == pytest.approx(float(ps.label[train].mean()), rel=1e-5)
    # fitting again on the loaded model gives the same weight
    again = calibrate(model, ps, valid, Inputs.of(model))
    assert again["w"] == pytest.approx(cal["w"], abs=1e-6)
