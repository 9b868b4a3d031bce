"""Training of pair models: learns, is reproducible on CPU, resumes (at an epoch's end or mid-epoch) with exactly
the weights of an uninterrupted run, saves without pickle, standardizes regression labels, calibrates toward the
fallback, never reads the test part; classifiers; bundles of the earlier dti/ddi packages load and predict the same."""

import json
import os
import shutil
import signal
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch

from theraflow.errors import InputError, TrainingInterrupted
from theraflow.pairs.metrics import concordance_index, regression_metrics
from theraflow.pairs.train import load_model, predict, train_model

from .helpers import SMALL_DTI, same_weights, seq_data, small_dti, weights


def _ckpt(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_trains_and_reloads(demo_model, demo_data):
    spec, pairs, data, part = demo_data
    hist = pd.read_csv(demo_model / "history.csv")
    assert hist["epoch"].tolist() == [0, 1, 2]
    assert hist["train_mse"].iloc[-1] < hist["train_mse"].iloc[0] and "val_mse" in hist and "val_ci" in hist
    model, meta, spec2 = load_model(demo_model)
    assert meta["format"] == "theraflow-pair-1" and meta["task"]["task"] == "dti" and meta["monitor"] == "val_mse"
    assert (spec2.task.name, spec2.label.name) == ("dti", "regression") and not model.training
    test = np.nonzero(part == "test")[0]
    m = regression_metrics(data.label[test], predict(model, data, test))
    assert m["mse"] < np.var(data.label[test]) * 1.5  # learned something: not wildly off
    # what the model knows: the training pairs' entities (targets by id, molecules by standardized SMILES)
    train = part == "train"
    assert meta["vocab"]["protein"] == list(dict.fromkeys(pairs.loc[train, "target_id"]))
    assert len(meta["vocab"]["molecule"]) == pairs.loc[train, "drug_id"].nunique()
    assert meta["partners"]["ids"] == meta["vocab"]["protein"]
    drugs = (demo_model / "train_drugs.smi").read_text().splitlines()
    assert len(drugs) == len(meta["vocab"]["molecule"])
    # predictions come back in the order asked for, whatever order the blocks ran in
    rev = test[::-1]
    assert np.array_equal(predict(model, data, rev), predict(model, data, test)[::-1])


def test_cpu_training_is_reproducible(tmp_path, demo_model, demo_data):
    """train_model on the pair data gives bit for bit the weights train_stage wrote for the same recipe and seed."""
    _, _, data, part = demo_data
    train_model(data, part, SMALL_DTI, tmp_path / "again", seed=0, progress=False)
    assert same_weights(tmp_path / "again", demo_model)


def test_resumes_from_an_epoch_end_checkpoint(tmp_path, demo_model, demo_data):
    _, _, data, part = demo_data
    out = tmp_path / "r"

    class Killed(Exception):
        pass

    class StopInSecondEpochEnd(pl.Callback):  # the job dies at the end of its second epoch
        def on_train_epoch_end(self, trainer, module):
            if trainer.current_epoch == 1:
                raise Killed

    with pytest.raises(Killed):
        train_model(data, part, SMALL_DTI, out, seed=0, progress=False, callbacks=[StopInSecondEpochEnd()])
    ckpt = _ckpt(out / "checkpoints" / "last.ckpt")
    assert ckpt["optimizer_states"] and ckpt["lr_schedulers"]
    steps_done = ckpt["lr_schedulers"][0]["last_epoch"]
    # the crash came inside the epoch-end hooks, before that epoch's checkpoint: the last
    # complete checkpoint is the one of the epoch before
    steps_per_epoch = steps_done // (ckpt["epoch"] + 1)
    assert steps_done > 0 and steps_done == ckpt["global_step"] == steps_per_epoch * (ckpt["epoch"] + 1)
    assert ckpt["theraflow"] == {"data_epoch": ckpt["epoch"] + 1, "data_skip": 0}
    meta = train_model(data, part, SMALL_DTI, out, seed=0, progress=False)  # the re-run continues
    assert meta["epochs_trained"] == 3
    assert pd.read_csv(out / "history.csv")["epoch"].tolist() == [0, 1, 2]
    # the learning-rate schedule continued from where it stopped instead of restarting
    assert _ckpt(out / "checkpoints" / "last.ckpt")["lr_schedulers"][0]["last_epoch"] == 3 * steps_per_epoch
    assert same_weights(out, demo_model)  # exactly where the uninterrupted run ended


def test_sigterm_mid_epoch_resumes_with_the_weights_of_an_uninterrupted_run(tmp_path, demo_model, demo_data):
    """SIGTERM at the third batch of the second epoch: a checkpoint at that batch, TrainingInterrupted (the
    CLI's exit 143); the same call again continues at the next batch — batch order, random state (dropout),
    optimizer, schedule, history — and ends with the uninterrupted run's weights and history."""
    _, _, data, part = demo_data
    out = tmp_path / "t"

    class SigtermAtBatch(pl.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if trainer.current_epoch == 1 and batch_idx == 2:
                os.kill(os.getpid(), signal.SIGTERM)  # Lightning's handler notes it; the batch finishes

    with pytest.raises(TrainingInterrupted, match="stopped by SIGTERM.*run the same command again to resume"):
        train_model(data, part, SMALL_DTI, out, seed=0, progress=False, callbacks=[SigtermAtBatch()])
    assert not (out / "model.safetensors").exists()
    ckpt = _ckpt(out / "checkpoints" / "last.ckpt")
    steps_per_epoch = _ckpt(demo_model / "checkpoints" / "last.ckpt")["global_step"] // 3
    assert ckpt["global_step"] == steps_per_epoch + 3  # mid-epoch: the three batches of epoch 1 are in it
    assert ckpt["theraflow"] == {"data_epoch": 1, "data_skip": 3}
    assert ckpt["lr_schedulers"][0]["last_epoch"] == ckpt["global_step"]
    train_model(data, part, SMALL_DTI, out, seed=0, progress=False)
    assert same_weights(out, demo_model)
    final, ref = _ckpt(out / "checkpoints" / "last.ckpt"), _ckpt(demo_model / "checkpoints" / "last.ckpt")
    assert final["global_step"] == ref["global_step"] and final["lr_schedulers"][0] == ref["lr_schedulers"][0]
    pd.testing.assert_frame_equal(pd.read_csv(out / "history.csv").drop(columns="seconds"),
                                  pd.read_csv(demo_model / "history.csv").drop(columns="seconds"))


def test_changed_recipe_starts_over(tmp_path, demo_model, demo_data, caplog):
    _, _, data, part = demo_data
    out = tmp_path / "c"
    shutil.copytree(demo_model, out)  # its checkpoints were written under SMALL_DTI
    cfg = small_dti(max_epochs=1)
    cfg["head"]["hidden"] = [16]
    with caplog.at_level("WARNING"):
        meta = train_model(data, part, cfg, out, seed=0, progress=False)
    assert pd.read_csv(out / "history.csv")["epoch"].tolist() == [0]
    assert meta["model_config"]["head"]["hidden"] == [16]
    assert "training starts over" in caplog.text and "head.hidden" in caplog.text


def test_load_model_refuses_mismatched_weights(tmp_path, demo_model):
    d = tmp_path / "m"
    d.mkdir()
    shutil.copy(demo_model / "model.safetensors", d)
    meta = json.loads((demo_model / "model.json").read_text())
    meta["model_config"]["drug_encoder"]["hidden"] = 16
    (d / "model.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="do not match"):
        load_model(d)
    with pytest.raises(InputError, match="no model.json"):
        load_model(tmp_path / "nothing")
    meta["model_config"]["drug_encoder"]["hidden"] = 32
    meta["task"]["task"] = "nope"
    (d / "model.json").write_text(json.dumps(meta))
    with pytest.raises(Exception, match="nope"):
        load_model(d)


def test_labels_on_another_scale_give_the_same_model(tmp_path, demo_model, demo_data):
    """Labels are standardized on the training part: pKd x 2 + 6 trains the same model, up to the affine map."""
    _, _, data, part = demo_data
    scaled = replace(data, label=(data.label * 2 + 6).astype(np.float32))
    meta = json.loads((demo_model / "model.json").read_text())
    meta2 = train_model(scaled, part, SMALL_DTI, tmp_path / "b", seed=0, progress=False)
    assert meta2["label_scale"]["mean"] == pytest.approx(meta["label_scale"]["mean"] * 2 + 6, rel=1e-6)
    assert meta2["label_scale"]["sd"] == pytest.approx(meta["label_scale"]["sd"] * 2, rel=1e-6)
    train = part == "train"
    assert meta["label_scale"]["mean"] == pytest.approx(float(data.label[train].mean()), rel=1e-5)
    test = np.nonzero(part == "test")[0]
    pa = predict(load_model(demo_model)[0], data, test)
    pb = predict(load_model(tmp_path / "b")[0], scaled, test)
    ci_a, ci_b = concordance_index(data.label[test], pa), concordance_index(scaled.label[test], pb)
    assert abs(ci_a - ci_b) < 0.01, (ci_a, ci_b)
    mse_a = regression_metrics(data.label[test], pa)["mse"]
    mse_b = regression_metrics(scaled.label[test], pb)["mse"]
    assert mse_b == pytest.approx(4 * mse_a, rel=0.05)
    # the same model up to float rounding over the epochs
    assert np.abs(pb - (pa * 2 + 6)).max() < 0.05 * scaled.label.std()


def test_calibration_on_validation_shrinks_toward_the_fallback(tmp_path, demo_data):
    from theraflow.pairs.labels.regression import shrink_to_fallback

    _, pairs, data, part = demo_data
    meta = train_model(data, part, small_dti(calibrate=True, max_epochs=2), tmp_path / "c", seed=0, progress=False)
    cal = meta["calibration"]
    assert 0.0 <= cal["w"] <= 1.0
    # least squares over w in [0, 1]: no worse than the network (w = 1) or the fallback (w = 0) on validation
    assert cal["valid_mse_after"] <= min(cal["valid_mse_before"], cal["valid_mse_fallback"]) + 1e-9
    model, _, _ = load_model(tmp_path / "c")
    assert float(model.shrink) == pytest.approx(cal["w"])
    valid = np.nonzero(part == "valid")[0]
    pred = predict(model, data, valid)
    assert np.mean((pred - data.label[valid]) ** 2) == pytest.approx(cal["valid_mse_after"], rel=1e-4)
    # the fallback is the training labels' mean plus each target's mean offset (molecules: theirs)
    train = part == "train"
    y = data.label[train].astype(np.float64)
    assert float(model.fallback_mean) == pytest.approx(y.mean(), rel=1e-5)
    vocab = model.vocab["protein"]
    for t in vocab:
        offset = y[(pairs.loc[train, "target_id"] == t).to_numpy()].mean() - y.mean()
        assert float(model.fallback_target[vocab.index(t)]) == pytest.approx(offset, abs=1e-4)
    assert float(model.fallback_target[-1]) == 0.0  # an unknown target
    # fitting again on the loaded model gives the same weight
    again = shrink_to_fallback(model, data.with_vocabulary(model.vocab), valid, predict)
    assert again["w"] == pytest.approx(cal["w"], abs=1e-6)


def test_neural_selection_never_reads_the_test_part(tmp_path):
    """train_model selects on the validation part: poisoning the test labels gives identical weights."""
    from safetensors.torch import load_file

    _, data = seq_data()
    part = np.array(["train", "valid", "test"])[np.arange(len(data)) % 3]
    poisoned = replace(data, label=np.where(part == "test", 1e6, data.label).astype(np.float32))
    cfg = small_dti(max_epochs=3, calibrate=True)
    train_model(data, part, cfg, tmp_path / "a", seed=0, progress=False)
    train_model(poisoned, part, cfg, tmp_path / "b", seed=0, progress=False)
    a, b = (load_file(str(tmp_path / d / "model.safetensors")) for d in ("a", "b"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    ha, hb = (pd.read_csv(tmp_path / d / "history.csv").drop(columns="seconds") for d in ("a", "b"))
    pd.testing.assert_frame_equal(ha, hb)


def test_recipes_and_labels_a_label_kind_cannot_train_on(tmp_path, demo_data):
    from theraflow.pairs.task import task_spec
    from theraflow.pairs.train import recipe

    _, _, data, part = demo_data
    binary = replace(data, spec=task_spec("dti", "binary"), label=(data.label >= 7).astype(np.int64))
    # one recipe serves every label kind: what does not apply to this one is left out
    cfg = small_dti(calibrate=True, class_weights="inverse_sqrt", label_smoothing=0.1)
    t = recipe(binary.spec, cfg)
    assert (t["calibrate"], t["class_weights"], t["label_smoothing"]) == (False, "none", 0.1)
    t = recipe(data.spec, cfg)
    assert (t["calibrate"], t["class_weights"], t["label_smoothing"]) == (True, "none", 0.0)
    ones = replace(binary, label=np.ones(len(data), np.int64))
    with pytest.raises(ValueError, match="the training part holds only label 1"):
        train_model(ones, part, SMALL_DTI, tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="unknown training option"):
        train_model(data, part, {**SMALL_DTI, "training": {"epochs": 3}}, tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="both the 'train' and the 'valid' part"):
        train_model(data, np.where(part == "valid", "test", part), SMALL_DTI, tmp_path / "x", progress=False)


def test_inverse_sqrt_class_weights():
    from theraflow.pairs.labels.multiclass import class_weights

    labels = np.array([0] * 100 + [1] * 25 + [2] * 4)
    w = class_weights(labels, 4, "inverse_sqrt").numpy()
    assert w[0] < w[1] < w[2]
    assert np.isclose(w[1] / w[0], 2.0) and np.isclose(w[2] / w[0], 5.0)  # 1/sqrt(count)
    assert np.isclose(w[3], w[2])  # a class absent from training: the rarest present class's weight
    assert np.isclose(w[labels].mean(), 1.0)  # the loss keeps its scale over training rows
    assert class_weights(labels, 4, "none") is None
    with pytest.raises(ValueError, match="inverse_sqrt"):
        class_weights(labels, 4, "balanced")


def test_a_multiclass_model_predicts_distributions_over_its_classes(ddi_demo_model, ddi_demo_data):
    spec, _, data, part = ddi_demo_data
    model, meta, spec2 = load_model(ddi_demo_model)
    assert (spec2.task.name, spec2.label.name, spec2.classes) == ("ddi", "multiclass", spec.classes)
    assert meta["monitor"] == "val_accuracy" and spec2.descriptions["1"].startswith("[synthetic demo data] #Drug1 can cause")
    test = np.nonzero(part == "test")[0]
    prob = predict(model, data, test)
    assert prob.shape == (len(test), len(spec.classes)) and np.allclose(prob.sum(1), 1, atol=1e-5)
    majority = np.bincount(data.label[test]).max() / len(test)
    assert (prob.argmax(1) == data.label[test]).mean() > majority + 0.2  # the rules are in the structures


# ------------------------------------------------------------------ bundles of the earlier packages
def _legacy_bundle(model_dir, out, meta: dict, rename, drop=()):
    """A copy of a trained model in an earlier package's layout: its model.json and its weights' names."""
    from safetensors.torch import save_file

    out.mkdir()
    state = {rename(k): v for k, v in weights(model_dir).items() if k not in drop}
    save_file(state, str(out / "model.safetensors"), metadata={"format": meta.pop("_format")})
    (out / "model.json").write_text(json.dumps(meta))
    shutil.copy(model_dir / "train_drugs.smi", out)
    return out


@pytest.mark.parametrize("first_release", [False, True])
def test_a_dti_bundle_of_the_earlier_package_loads_and_predicts_the_same(tmp_path, demo_model, demo_data,
                                                                          first_release):
    """"theraflow-dti-1": dims node_dim/edge_dim/num_drugs/num_targets, drug_vocab, target_ids, the target id
    branch set with id_dim; the first release also kept the graph encoder at drug.* and had no fallback."""
    from theraflow.pairs.scoring import score_pairs

    _, pairs, data, part = demo_data
    meta = json.loads((demo_model / "model.json").read_text())
    cfg = json.loads(json.dumps(meta["model_config"]))
    cfg["target_encoder"] = {"type": "id", "id_dim": cfg["target_encoder"]["id"]["dim"]}
    mol = meta["dims"]["molecule"]
    old = {"_format": "theraflow-dti-1", "model_config": cfg, "training": meta["training"],
           "dims": {"node_dim": mol["node_dim"], "edge_dim": mol["edge_dim"], "num_drugs": mol["vocab"],
                    "num_targets": meta["dims"]["protein"]["vocab"]},
           "label_scale": meta["label_scale"], "calibration": None, "drug_vocab": meta["vocab"]["molecule"],
           "target_ids": meta["vocab"]["protein"], "target_sequences": [], "max_len": 1200,
           "featurizer": meta["featurizer"], "seed": 0, "epochs_trained": 3, "best_epoch_val_mse": meta["best_val"]}

    def rename(k):
        return f"drug.{k[len('drug.graph.'):]}" if first_release and k.startswith("drug.graph.") else k

    drop = ("shrink", "fallback_mean", "fallback_drug", "fallback_target") if first_release else ()
    legacy = _legacy_bundle(demo_model, tmp_path / "old", old, rename, drop)
    if first_release:
        assert not any(k.startswith("drug.graph.") for k in weights(legacy)) and "shrink" not in weights(legacy)
    model, meta2, spec = load_model(legacy)
    assert (spec.task.name, spec.label.name) == ("dti", "regression")
    assert meta2["vocab"] == meta["vocab"] and meta2["partners"]["ids"] == meta["partners"]["ids"]
    new_model, _, _ = load_model(demo_model)
    test = np.nonzero(part == "test")[0]
    assert np.array_equal(predict(model, data, test), predict(new_model, data, test))
    mols = pairs.drop_duplicates("drug_id").head(5).rename(columns={"drug_id": "id"})[["id", "smiles"]]
    a, _ = score_pairs(mols, [legacy])
    b, _ = score_pairs(mols, [demo_model])
    pd.testing.assert_frame_equal(a, b)


def test_a_ddi_bundle_of_the_earlier_package_loads_and_predicts_the_same(tmp_path, ddi_demo_model, ddi_demo_data):
    """"theraflow-ddi-1": task ddi, dims node_dim/edge_dim/num_drugs, classes, drug_vocab; the head projected
    with head.proj, and there were no output scale, shrinkage or fallback buffers."""
    spec, _, data, part = ddi_demo_data
    meta = json.loads((ddi_demo_model / "model.json").read_text())
    mol = meta["dims"]["molecule"]
    old = {"_format": "theraflow-ddi-1", "task": "ddi", "model_config": meta["model_config"],
           "training": meta["training"], "dims": {"node_dim": mol["node_dim"], "edge_dim": mol["edge_dim"],
                                                  "num_drugs": mol["vocab"]},
           "classes": list(spec.classes), "sentences": spec.descriptions, "drug_vocab": meta["vocab"]["molecule"],
           "featurizer": meta["featurizer"], "seed": 0, "epochs_trained": meta["epochs_trained"]}
    drop = ("head.out_scale", "head.out_shift", "shrink", "fallback_mean", "fallback_drug1", "fallback_drug2")
    legacy = _legacy_bundle(ddi_demo_model, tmp_path / "old", old,
                            lambda k: f"head.proj.{k[len('head.pd.'):]}" if k.startswith("head.pd.") else k, drop)
    assert any(k.startswith("head.proj.") for k in weights(legacy))
    model, meta2, spec2 = load_model(legacy)
    assert (spec2.task.name, spec2.label.name, spec2.classes) == ("ddi", "multiclass", spec.classes)
    assert spec2.descriptions == spec.descriptions
    new_model, _, _ = load_model(ddi_demo_model)
    test = np.nonzero(part == "test")[0]
    assert np.array_equal(predict(model, data, test), predict(new_model, data, test))
    # a binary drug–drug bundle (classes 0 and 1) is read as a binary one
    old2 = json.loads((legacy / "model.json").read_text()) | {"classes": ["0", "1"]}
    from theraflow.pairs.train import upgrade_meta

    assert upgrade_meta(old2, legacy)["task"]["label"] == "binary"
