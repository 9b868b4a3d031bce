"""Calibrated ensemble spread: the variance scaling recovers a known miscalibration and its intervals cover."""

import numpy as np
import pytest

from theraflow.errors import InputError
from theraflow.explain.calibration import calibration_summary, coverage_figure, fit_spread


def _ensemble(n, rng, models=3):
    """Labels whose true error sd is 2 x the ensemble's spread + 0.3: an overconfident ensemble."""
    spread = rng.uniform(0.05, 0.5, n)
    mean = rng.normal(6, 1, n)
    y = mean + rng.normal(0, 1, n) * np.sqrt((2 * spread) ** 2 + 0.3 ** 2)
    noise = rng.normal(0, 1, (models, n))
    noise = (noise - noise.mean(0)) / noise.std(0, ddof=1)  # each pair's models spread exactly `spread`
    return mean + noise * spread, y


def test_fit_recovers_scale_and_floor():
    rng = np.random.default_rng(0)
    pred, y = _ensemble(20000, rng)
    cal = fit_spread(pred, y)
    assert cal["scale"] == pytest.approx(2.0, rel=0.08) and cal["floor"] == pytest.approx(0.3, rel=0.15)


def test_calibrated_intervals_cover_their_nominal_share_on_held_out_pairs(tmp_path):
    rng = np.random.default_rng(1)
    pv, yv = _ensemble(3000, rng)
    pt, yt = _ensemble(3000, rng)
    s = calibration_summary(pv, yv, pt, yt)
    assert 0.77 <= s["coverage"]["0.8"] <= 0.83 and 0.93 <= s["coverage"]["0.95"] <= 0.97
    assert s["coverage_uncalibrated"]["0.8"] < 0.6  # the raw spread is overconfident
    assert s["spearman_abs_error_sd"] > 0.2  # wider intervals where the errors are larger
    png = coverage_figure(s, tmp_path / "coverage.png")
    assert png[:4] == b"\x89PNG" and (tmp_path / "coverage.png").stat().st_size > 5000


def test_one_model_has_no_spread_to_calibrate():
    with pytest.raises(InputError, match="no ensemble: no uncertainty"):
        fit_spread(np.zeros((1, 10)), np.zeros(10))
    with pytest.raises(InputError, match="10 labels"):
        fit_spread(np.zeros((3, 9)), np.zeros(10))
