"""The benchmark's reference predictors: they train and predict on a tiny set, and never read the test part."""

import numpy as np
import pandas as pd
import pytest

from theraflow.dti.baselines import ConstantPredictor, FingerprintGBT, pair_descriptors


@pytest.fixture()
def tiny_pairs(seq_pairset):
    pairs, _ = seq_pairset
    part = np.array(["train", "valid", "test"])[np.arange(len(pairs)) % 3]
    return pairs.assign(part=part)


def test_constant_predicts_the_training_mean(tiny_pairs):
    train, valid = tiny_pairs[tiny_pairs.part == "train"], tiny_pairs[tiny_pairs.part == "valid"]
    c = ConstantPredictor().fit(train, valid)
    assert np.allclose(c.predict(valid), train["label"].mean()) and len(c.curve) == 1


def test_pair_descriptors_gather_per_entity(tiny_pairs):
    x = pair_descriptors(tiny_pairs, bits=64)
    assert x.shape == (len(tiny_pairs), 64 + 420)
    same_drug = tiny_pairs.index[tiny_pairs.drug_id == "d1"]
    assert np.array_equal(x[same_drug[0], :64], x[same_drug[1], :64])
    assert not np.array_equal(x[same_drug[0], 64:], x[same_drug[1], 64:])  # other targets


def test_fingerprint_gbt_trains_and_predicts(tiny_pairs):
    train, valid, test = (tiny_pairs[tiny_pairs.part == p] for p in ("train", "valid", "test"))
    m = FingerprintGBT(bits=64, n_estimators=60, min_child_samples=2, eval_every=10).fit(train, valid, threads=1)
    pred = m.predict(test)
    assert pred.shape == (len(test),) and np.isfinite(pred).all()
    assert m.curve and m.curve[0]["iteration"] == 10 and 1 <= m.best_iteration <= 60


@pytest.mark.parametrize("make", [ConstantPredictor, lambda: FingerprintGBT(bits=64, n_estimators=40,
                                                                            min_child_samples=2)])
def test_selection_never_reads_the_test_part(tiny_pairs, make):
    """Poisoned test labels (and test rows given to nothing but predict) change nothing."""
    poisoned = tiny_pairs.copy()
    poisoned.loc[poisoned.part == "test", "label"] = 1e6
    preds = []
    for pairs in (tiny_pairs, poisoned):
        train, valid, test = (pairs[pairs.part == p] for p in ("train", "valid", "test"))
        model = make()
        model.fit(train, valid, threads=1) if isinstance(model, FingerprintGBT) else model.fit(train, valid)
        preds.append(model.predict(test))
    assert np.array_equal(preds[0], preds[1])


def test_neural_selection_never_reads_the_test_part(tmp_path, seq_pairset, small_cfg):
    """train_model selects on the validation part: poisoning the test labels gives identical weights."""
    from dataclasses import replace

    from safetensors.torch import load_file

    from theraflow.dti.train import train_model

    _, ps = seq_pairset
    part = np.array(["train", "valid", "test"])[np.arange(len(ps)) % 3]
    poisoned = replace(ps, label=np.where(part == "test", 1e6, ps.label).astype(np.float32))
    cfg = {**small_cfg, "training": {**small_cfg["training"], "max_epochs": 3, "calibrate": True}}
    train_model(ps, part, cfg, tmp_path / "a", seed=0, progress=False)
    train_model(poisoned, part, cfg, tmp_path / "b", seed=0, progress=False)
    a, b = (load_file(str(tmp_path / d / "model.safetensors")) for d in ("a", "b"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    ha, hb = (pd.read_csv(tmp_path / d / "history.csv").drop(columns="seconds") for d in ("a", "b"))
    pd.testing.assert_frame_equal(ha, hb)
