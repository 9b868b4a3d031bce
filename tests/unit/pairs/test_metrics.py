"""Metrics of every label kind: the concordance index (O(n log n), equal to the definition), regression, binary and
multiclass metrics with known values, bootstrap intervals that hold the point estimate, each label kind's evaluate."""

import numpy as np
import pytest

from theraflow.pairs.metrics import (
    binary_metrics,
    bootstrap_intervals,
    classification_metrics,
    concordance_index,
    concordance_index_reference,
    label_metrics,
    multiclass_metrics,
    regression_metrics,
)
from theraflow.registry import LABELS


@pytest.mark.parametrize("seed", range(12))
def test_ci_matches_quadratic_reference(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 80))
    y = rng.integers(0, 6, n).astype(float) if seed % 2 else rng.normal(size=n)
    p = rng.integers(0, 4, n).astype(float) if seed % 3 == 0 else y + rng.normal(size=n)
    a, b = concordance_index(y, p), concordance_index_reference(y, p)
    assert a == pytest.approx(b, abs=1e-12)


def test_ci_edge_cases():
    assert concordance_index([1, 2, 3], [1, 2, 3]) == 1.0
    assert concordance_index([1, 2, 3], [3, 2, 1]) == 0.0
    assert concordance_index([1, 2, 3], [5, 5, 5]) == 0.5
    assert np.isnan(concordance_index([2, 2, 2], [1, 2, 3]))
    with pytest.raises(ValueError):
        concordance_index([1, 2], [1, 2, 3])


def test_ci_is_n_log_n_fast():
    import time

    rng = np.random.default_rng(0)
    y = rng.normal(size=200_000)
    t0 = time.perf_counter()
    concordance_index(y, y + rng.normal(size=len(y)))
    assert time.perf_counter() - t0 < 5  # the O(n^2) definition would take hours


def test_regression_metrics():
    m = regression_metrics([1, 2, 3, 4], [1.5, 2, 2.5, 4])
    assert m["mse"] == pytest.approx((0.25 + 0 + 0.25 + 0) / 4)
    assert m["rmse"] == pytest.approx(np.sqrt(m["mse"]))
    assert m["spearman"] == pytest.approx(1.0)
    assert 0.9 < m["pearson"] <= 1 and m["n"] == 4
    assert np.isnan(regression_metrics([1, 2, 3], [2, 2, 2])["pearson"])  # a constant prediction has no correlation


def test_classification_and_bootstrap():
    m = classification_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert m["auroc"] == pytest.approx(0.75)
    with pytest.raises(ValueError):
        classification_metrics([0, 2], [0.1, 0.2])
    rng = np.random.default_rng(1)
    y = rng.normal(size=300)
    p = y + rng.normal(scale=0.5, size=300)
    point = regression_metrics(y, p)
    ci = bootstrap_intervals(regression_metrics, y, p, n_boot=200)
    for k in ("ci", "mse", "pearson"):
        lo, hi = ci[k]
        assert lo <= point[k] <= hi
    assert "n" not in ci
    out = LABELS.get("regression").evaluate(y, p, threshold=0.5, n_boot=50)
    assert "auroc" in out["metrics"] and "auprc" in out["ci95"] and out["binary_threshold"] == 0.5
    assert out["metrics"]["auroc"] == classification_metrics((y >= 0.5).astype(int), p)["auroc"]


def test_binary_metrics():
    y = [0, 0, 1, 1, 1]
    p = [0.1, 0.6, 0.4, 0.8, 0.9]
    m = binary_metrics(y, p)
    assert m["auroc"] == pytest.approx(5 / 6)
    assert m["accuracy"] == pytest.approx(3 / 5) and m["f1"] == pytest.approx(2 / 3)
    assert m["brier"] == pytest.approx(np.mean((np.array(p) - np.array(y)) ** 2))
    assert binary_metrics(y, np.stack([1 - np.array(p), p], 1)) == m  # two columns: P(1) is the second
    assert np.isnan(binary_metrics([1, 1], [0.2, 0.9])["auroc"])  # one class: no ranking to measure
    out = LABELS.get("binary").evaluate(np.array(y), np.array(p), n_boot=100)
    lo, hi = out["ci95"]["accuracy"]
    assert lo <= m["accuracy"] <= hi


def test_multiclass_metrics():
    y = np.array([0, 1, 2, 2, 1])
    prob = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.5, 0.1, 0.4], [0.3, 0.6, 0.1]])
    m = multiclass_metrics(y, prob, per_class=True, classes=["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(0.8)
    assert set(m["per_class_auprc"]) == {"a", "b", "c"} and m["per_class_auprc"]["b"] == 1.0
    assert m["macro_auprc"] == pytest.approx(np.mean(list(m["per_class_auprc"].values())), abs=1e-3)
    assert 0 < m["kappa"] < 1 and 0 < m["macro_f1"] <= 1
    assert label_metrics(y, prob) == {k: m[k] for k in ("accuracy", "macro_f1", "kappa")}
    out = LABELS.get("multiclass").evaluate(y, prob, classes=("a", "b", "c"), n_boot=50)
    assert set(out["ci95"]) == {"accuracy", "macro_f1", "kappa"}  # not 86 AUPRCs a thousand times over
    assert "per_class_auprc" not in out["metrics"] and out["per_class_auprc"]["a"] == m["per_class_auprc"]["a"]
