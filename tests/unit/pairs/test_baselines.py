"""The benchmarks' reference predictors for every label kind: they train and predict on tiny sets, keep to their
budget, and never read the test part."""

import numpy as np
import pandas as pd
import pytest

from theraflow.pairs.baselines import (
    ConstantPredictor,
    FingerprintGBT,
    FingerprintMLP,
    pair_features,
    reference_for,
)
from theraflow.pairs.task import task_spec

from .helpers import seq_pairs

DTI = task_spec("dti", "regression")


@pytest.fixture()
def tiny_pairs():
    pairs = seq_pairs()
    return pairs.assign(part=np.array(["train", "valid", "test"])[np.arange(len(pairs)) % 3])


@pytest.fixture(scope="module")
def ddi_parts():
    from theraflow.pairs.sources.demo import demo_pairs
    from theraflow.pairs.splits import make_split

    pairs, types = demo_pairs(n_drugs=80, n_pairs=600, seed=1)
    spec = task_spec("ddi", "multiclass", tuple(types["type"]))
    part = make_split(pairs, "random", spec.task, seed=0).to_numpy()
    return spec, [pairs[part == p] for p in ("train", "valid", "test")]


def test_constant_predicts_what_the_training_labels_say(tiny_pairs, ddi_parts):
    train, valid = tiny_pairs[tiny_pairs.part == "train"], tiny_pairs[tiny_pairs.part == "valid"]
    c = ConstantPredictor(DTI).fit(train, valid)
    assert np.allclose(c.predict(valid), train["label"].mean()) and len(c.curve) == 1
    binary = ConstantPredictor(task_spec("dti", "binary")).fit(train.assign(label=["1", "0", "0", "0", "1"] * 2))
    assert np.allclose(binary.predict(valid), 0.4)  # the base rate
    spec, (train, valid, _) = ddi_parts
    freq = ConstantPredictor(spec).fit(train, valid).predict(valid)
    assert freq.shape == (len(valid), 4) and np.allclose(freq.sum(1), 1)
    assert np.allclose(freq[0], train["label"].value_counts(normalize=True).reindex(spec.classes).to_numpy())


def test_pair_features_gather_per_entity(tiny_pairs):
    x = pair_features(DTI, tiny_pairs, bits=64)
    assert x.shape == (len(tiny_pairs), 64 + 420)  # Morgan bits, then amino-acid + dipeptide composition
    same_drug = tiny_pairs.index[tiny_pairs.drug_id == "d1"]
    assert np.array_equal(x[same_drug[0], :64], x[same_drug[1], :64])
    assert not np.array_equal(x[same_drug[0], 64:], x[same_drug[1], 64:])  # other targets
    ddi = task_spec("ddi", "binary")
    pairs = pd.DataFrame({"drug1": ["a", "b"], "smiles1": ["CCO", "c1ccccc1"], "drug2": ["b", "a"],
                          "smiles2": ["c1ccccc1", "CCO"]})
    x = pair_features(ddi, pairs, bits=32)
    assert x.shape == (2, 64) and np.array_equal(x[0, :32], x[1, 32:])  # the two roles side by side, in order


def test_fingerprint_gbt_trains_and_predicts(tiny_pairs):
    train, valid, test = (tiny_pairs[tiny_pairs.part == p] for p in ("train", "valid", "test"))
    m = FingerprintGBT(DTI, bits=64, n_estimators=60, min_child_samples=2, eval_every=10).fit(train, valid, threads=1)
    pred = m.predict(test)
    assert pred.shape == (len(test),) and np.isfinite(pred).all()
    assert m.curve and m.curve[0]["iteration"] == 10 and "val_mse" in m.curve[0] and 1 <= m.best_iteration <= 60


@pytest.mark.parametrize("make", [lambda: ConstantPredictor(DTI),
                                  lambda: FingerprintGBT(DTI, bits=64, n_estimators=40, min_child_samples=2)])
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


def test_each_task_names_its_reference():
    assert isinstance(reference_for(DTI), FingerprintGBT)
    assert isinstance(reference_for(task_spec("ddi", "multiclass", ("1", "2"))), FingerprintMLP)


def test_fingerprint_mlp_learns_the_demo_rules_and_predicts_distributions(ddi_parts):
    spec, (train, valid, test) = ddi_parts
    model = FingerprintMLP(spec, bits=512, hidden=(128,), max_epochs=30, patience=30).fit(train, valid, threads=1)
    prob = model.predict(test)
    assert prob.shape == (len(test), len(spec.classes))
    assert np.allclose(prob.sum(axis=1), 1.0, atol=1e-4)
    y = spec.label.encode(test["label"], spec.classes)
    majority = np.bincount(y).max() / len(y)
    assert (prob.argmax(axis=1) == y).mean() > majority + 0.1  # substructure rules are in the bits
    assert model.epochs == len(model.curve) >= 1 and "val_accuracy" in model.curve[0]


def test_fingerprint_mlp_stops_inside_its_budget(ddi_parts):
    """The budget ends training mid-epoch (as Lightning's max_time does for theraflow), not after the epoch."""
    spec, (train, valid, _) = ddi_parts
    long_epoch = pd.concat([train] * 60, ignore_index=True)  # ~14,000 steps of two rows: many seconds an epoch
    model = FingerprintMLP(spec, bits=512, hidden=(256,), batch_size=2, max_epochs=100, patience=100)
    model.fit(long_epoch, valid, max_seconds=0.5, threads=1)
    assert model.epochs == 1
    assert model.curve[-1]["seconds"] < 4.0  # the budget, one step and one validation pass; a whole epoch is more


def test_fingerprint_mlp_regression_and_binary(tiny_pairs):
    train, valid, test = (tiny_pairs[tiny_pairs.part == p] for p in ("train", "valid", "test"))
    reg = FingerprintMLP(DTI, bits=64, hidden=(16,), max_epochs=3).fit(train, valid, threads=1)
    pred = reg.predict(test)
    assert pred.shape == (len(test),) and np.isfinite(pred).all()
    assert abs(pred.mean() - train["label"].mean()) < 5 * train["label"].std()  # on the labels' scale
    labels = (tiny_pairs["label"] > tiny_pairs["label"].median()).astype(int).astype(str)
    tiny = tiny_pairs.assign(label=labels)
    train, valid, test = (tiny[tiny.part == p] for p in ("train", "valid", "test"))
    binary = FingerprintMLP(task_spec("dti", "binary"), bits=64, hidden=(16,), max_epochs=3).fit(train, valid,
                                                                                                   threads=1)
    p = binary.predict(test)
    assert p.shape == (len(test),) and ((p >= 0) & (p <= 1)).all()
