"""The DDI reference model (ordered pair's Morgan bits into an MLP) trains, predicts and keeps to its budget."""

from __future__ import annotations

import numpy as np

from theraflow import ddi
from theraflow.ddi.baselines import FingerprintMLP
from theraflow.ddi.demo import demo_pairs


def _parts():
    pairs, _ = demo_pairs(n_drugs=80, n_pairs=600, seed=1)
    part = np.asarray(ddi.split_pairs(pairs, "random", seed=0))
    return pairs, [pairs[part == p] for p in ("train", "valid", "test")]


def test_fingerprint_mlp_learns_the_demo_rules_and_predicts_distributions():
    pairs, (train, valid, test) = _parts()
    classes = sorted(pairs["label"].astype(str).unique())
    model = FingerprintMLP(bits=512, hidden=(128,), max_epochs=30, patience=30).fit(train, valid, classes, threads=1)
    prob = model.predict_proba(test)
    assert prob.shape == (len(test), len(classes))
    assert np.allclose(prob.sum(axis=1), 1.0, atol=1e-4)
    y = test["label"].astype(str).map({c: i for i, c in enumerate(classes)}).to_numpy()
    majority = np.bincount(y).max() / len(y)
    assert (prob.argmax(axis=1) == y).mean() > majority + 0.1  # substructure rules are in the bits
    assert model.epochs == len(model.curve) >= 1


def test_fingerprint_mlp_stops_inside_its_budget():
    """The budget ends training mid-epoch (as Lightning's max_time does for theraflow), not after the epoch."""
    import pandas as pd

    pairs, (train, valid, _) = _parts()
    classes = sorted(pairs["label"].astype(str).unique())
    long_epoch = pd.concat([train] * 60, ignore_index=True)  # ~14,000 steps of two rows: many seconds an epoch
    model = FingerprintMLP(bits=512, hidden=(256,), batch_size=2, max_epochs=100, patience=100)
    model.fit(long_epoch, valid, classes, max_seconds=0.5, threads=1)
    assert model.epochs == 1
    assert model.curve[-1]["seconds"] < 4.0  # the budget, one step and one validation pass; a whole epoch is more
