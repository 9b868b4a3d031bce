import numpy as np
import pytest

from theraflow.dti.metrics import (
    bootstrap_intervals,
    classification_metrics,
    concordance_index,
    concordance_index_reference,
    evaluate_predictions,
    regression_metrics,
)


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
    assert 0.9 < m["pearson"] <= 1


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
    out = evaluate_predictions(y, p, binary_threshold=0.5, n_boot=50)
    assert "auroc" in out["metrics"] and "auprc" in out["ci95"]
