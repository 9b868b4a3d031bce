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


def _model_dirs(tmp_path, rng, n=1200, models=3, shuffle=False):
    """Evaluated models as `theraflow dti evaluate` leaves them: predictions.parquet of valid + test pairs beside
    the model's model.json (what says the task and label kind)."""
    import json

    import pandas as pd

    pred, y = _ensemble(n, rng, models)
    part = np.where(np.arange(n) < n // 2, "valid", "test")
    dirs = []
    for m in range(models):
        d = tmp_path / f"seed{m}"
        d.mkdir()
        df = pd.DataFrame({"pair_id": np.arange(n), "part": part, "label": y, "prediction": pred[m]})
        (df.sample(frac=1, random_state=m) if shuffle else df).to_parquet(d / "predictions.parquet")
        (d / "model.json").write_text(json.dumps({"format": "theraflow-pair-1", "task": {
            "task": "dti", "label": "regression", "classes": [], "descriptions": {}}}))
        dirs.append(d)
    return dirs


def test_calibrate_ensemble_reads_each_seed_and_fits_on_validation_only(tmp_path):
    import json

    from theraflow.cli.main import main
    from theraflow.explain.calibration import apply_calibration, calibrate_ensemble

    dirs = _model_dirs(tmp_path, np.random.default_rng(2), shuffle=True)  # rows in any order: aligned on pair_id
    s = calibrate_ensemble(dirs, tmp_path / "cal.json", tmp_path / "coverage.png")
    assert s["calibration"]["pairs"] == 600 and s["test_pairs"] == 600
    assert 0.74 <= s["coverage"]["0.8"] <= 0.86 and 0.91 <= s["coverage"]["0.95"] <= 0.98
    assert json.loads((tmp_path / "cal.json").read_text())["coverage"] == s["coverage"]
    assert (tmp_path / "coverage.png").read_bytes()[:4] == b"\x89PNG"
    c = apply_calibration(np.array([7.0]), np.array([0.2]), s["calibration"], 0.8)
    assert c["low"][0] < 7.0 < c["high"][0] and c["sd"][0] > 0.2  # the overconfident spread widens
    assert main(["dti", "calibrate", *sum((["--model", str(d)] for d in dirs), []), "-o",
                 str(tmp_path / "cli.json")]) == 0
    assert json.loads((tmp_path / "cli.json").read_text())["coverage"] == s["coverage"]
    from theraflow.pairs.stages import calibrate_stage

    staged = calibrate_stage(dirs)  # the pair engine's stage: the label kind's calibration, the same numbers
    assert staged["kind"] == "regression spread" and staged["coverage"] == s["coverage"]


def test_calibrate_ensemble_names_what_is_missing(tmp_path):
    from theraflow.explain.calibration import calibrate_ensemble

    dirs = _model_dirs(tmp_path, np.random.default_rng(3), models=2)
    with pytest.raises(InputError, match="no ensemble: no uncertainty"):
        calibrate_ensemble(dirs[:1])
    (dirs[1] / "predictions.parquet").unlink()
    with pytest.raises(InputError, match=r"seed1/predictions.parquet: no predictions.*dti evaluate"):
        calibrate_ensemble(dirs)
    import pandas as pd

    pd.DataFrame({"pair_id": [0], "part": ["test"], "label": [1.0], "prediction": [1.0]}).to_parquet(
        dirs[1] / "predictions.parquet")
    with pytest.raises(InputError, match="predicts other pairs"):
        calibrate_ensemble(dirs)


def test_long_tailed_errors_get_conformal_multipliers_not_gaussian_ones():
    """Errors like an affinity model's (most tiny, a long tail): a Gaussian z would over-cover at 80 %."""
    rng = np.random.default_rng(4)

    def ensemble(n):
        spread = rng.uniform(0.05, 0.3, n)
        mean = rng.normal(6, 1, n)
        err = rng.standard_t(2, n) * 3 * spread  # Student t with 2 degrees of freedom
        noise = rng.normal(0, 1, (3, n))
        noise = (noise - noise.mean(0)) / noise.std(0, ddof=1)
        return mean + noise * spread, mean + err

    (pv, yv), (pt, yt) = ensemble(4000), ensemble(4000)
    s = calibration_summary(pv, yv, pt, yt)
    assert 0.77 <= s["coverage"]["0.8"] <= 0.83 and 0.93 <= s["coverage"]["0.95"] <= 0.97
    from theraflow.explain.calibration import calibrated_sd, coverage

    mean, sd = pt.mean(0), pt.std(0, ddof=1)
    gaussian = coverage(yt, mean, calibrated_sd(sd, s["calibration"]), 0.8)  # z = 1.28 on the same sd_cal
    assert gaussian > 0.85, gaussian
