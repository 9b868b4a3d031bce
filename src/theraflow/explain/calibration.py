"""Calibrated uncertainty for an ensemble's regression scores: how wide an interval really covers 80 % or 95 %.

An ensemble's standard deviation over its models (``sd``) says which pairs it is less sure of, but
not on the label's scale: three seeds agree more closely than their errors suggest. The calibration
is fitted on the validation part (never the test part), in two steps:

1. a variance scaling ``sd_cal² = (scale · sd)² + floor²``, with ``scale`` and ``floor`` chosen by the
   Gaussian likelihood of the validation labels around the ensemble mean: ``floor`` is the error the
   spread does not see (the same for every pair), ``scale`` stretches the spread. ``sd_cal`` is the
   ± shown beside a score;
2. a multiplier per nominal level ``p`` (split conformal): the ``p`` quantile of the validation
   pairs' normalized errors ``|y - mean| / sd_cal``, with the finite-sample correction. A nominal
   ``p`` interval is ``mean ± q_p · sd_cal``. Errors of affinity models are not Gaussian (most Davis
   labels are the censored pKd 5, predicted closely, and the rest have long tails), so the Gaussian
   ``z_p`` would over-cover at 80 % and the conformal ``q_p`` does not assume a shape.

:func:`calibration_summary` measures, on held-out pairs, the share of labels inside the 80 % and
95 % intervals (before and after), the coverage curve over nominal levels, and the Spearman
correlation between |error| and the calibrated spread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from theraflow.io import InputError

LEVELS = (0.8, 0.95)
GRID = tuple(round(float(x), 2) for x in np.arange(0.05, 1.0, 0.05)) + (0.99,)  # levels of the coverage curve


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def _check(pred: np.ndarray, y: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    pred, y = np.asarray(pred, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if pred.ndim != 2 or pred.shape[1] != len(y):
        raise InputError(f"{what}: expected predictions [models, pairs] for {len(y)} labels, got {pred.shape}")
    if pred.shape[0] < 2:
        raise InputError(f"{what}: one model has no spread to calibrate (no ensemble: no uncertainty); "
                         "train several seeds")
    if not (np.isfinite(pred).all() and np.isfinite(y).all()):
        raise InputError(f"{what}: predictions and labels must be finite numbers")
    return pred, y


def fit_spread(pred_valid: np.ndarray, y_valid: np.ndarray) -> dict:
    """``scale`` and ``floor`` of ``sd_cal² = (scale · sd)² + floor²`` from validation predictions
    [models, pairs] and labels, by maximum Gaussian likelihood."""
    from scipy.optimize import minimize

    pred, y = _check(pred_valid, y_valid, "validation part")
    mean, sd = pred.mean(0), pred.std(0, ddof=1)
    r2 = (y - mean) ** 2

    def nll(theta):
        var = np.exp(2 * theta[0]) * sd ** 2 + np.exp(2 * theta[1])
        return 0.5 * float(np.mean(np.log(var) + r2 / var))

    start = np.log([1.0, max(1e-3, float(np.sqrt(r2.mean())) / 2)])
    res = minimize(nll, start, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 4000})
    scale, floor = (float(v) for v in np.exp(res.x))
    normalized = np.sqrt(r2) / np.sqrt((scale * sd) ** 2 + floor ** 2)
    return {"method": "variance scaling sd_cal^2 = (scale*sd)^2 + floor^2 by Gaussian likelihood, then split-conformal "
                      "multipliers q_p of |y - mean| / sd_cal, all on validation",
            "scale": scale, "floor": floor, "models": int(pred.shape[0]), "pairs": int(len(y)),
            "validation_nll": float(res.fun),
            "multipliers": {f"{lv:g}": _conformal(normalized, lv) for lv in GRID}}


def _conformal(scores: np.ndarray, level: float) -> float:
    """The ``level`` quantile of ``scores`` with the finite-sample correction (ceil((n + 1) p) / n)."""
    n = len(scores)
    return float(np.quantile(scores, min(1.0, np.ceil((n + 1) * level) / n), method="higher"))


def multiplier(cal: dict | None, level: float) -> float:
    """Half-width of the nominal ``level`` interval in units of sd_cal: the calibration's conformal
    multiplier (interpolated between fitted levels), or the Gaussian z without a calibration."""
    if cal is None or not cal.get("multipliers"):
        return _z(level)
    table = sorted((float(k), float(v)) for k, v in cal["multipliers"].items())
    levels, values = zip(*table)
    if not levels[0] <= level <= levels[-1]:
        raise InputError(f"no multiplier for a {level:g} interval (calibrated from {levels[0]:g} to {levels[-1]:g})")
    return float(np.interp(level, levels, values))


def calibrated_sd(sd: np.ndarray, cal: dict) -> np.ndarray:
    return np.sqrt((cal["scale"] * np.asarray(sd, dtype=np.float64)) ** 2 + cal["floor"] ** 2)


def interval(mean: np.ndarray, sd_cal: np.ndarray, level: float, cal: dict | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """The nominal ``level`` interval (e.g. 0.8) around ``mean``: ± the calibration's multiplier (or
    the Gaussian z when ``cal`` is None) times ``sd_cal``."""
    half = multiplier(cal, level) * np.asarray(sd_cal)
    return np.asarray(mean) - half, np.asarray(mean) + half


def coverage(y: np.ndarray, mean: np.ndarray, sd: np.ndarray, level: float, cal: dict | None = None) -> float:
    lo, hi = interval(mean, sd, level, cal)
    return float(np.mean((y >= lo) & (y <= hi)))


def calibration_summary(pred_valid: np.ndarray, y_valid: np.ndarray, pred_test: np.ndarray, y_test: np.ndarray,
                        *, levels: tuple[float, ...] = LEVELS) -> dict:
    """Fit on the validation part, measure on the test part: coverage at ``levels`` before (the raw
    ensemble sd with Gaussian z) and after calibration, the coverage curve, and Spearman(|error|, sd_cal)."""
    from scipy.stats import spearmanr

    cal = fit_spread(pred_valid, y_valid)
    pred, y = _check(pred_test, y_test, "test part")
    mean, sd = pred.mean(0), pred.std(0, ddof=1)
    sd_cal = calibrated_sd(sd, cal)
    rho, p = spearmanr(np.abs(y - mean), sd_cal)
    return {"calibration": cal, "test_pairs": int(len(y)),
            "coverage": {f"{lv:g}": coverage(y, mean, sd_cal, lv, cal) for lv in levels},
            "coverage_uncalibrated": {f"{lv:g}": coverage(y, mean, sd, lv) for lv in levels},
            "curve": [{"nominal": lv, "calibrated": coverage(y, mean, sd_cal, lv, cal),
                       "uncalibrated": coverage(y, mean, sd, lv)} for lv in GRID],
            "spearman_abs_error_sd": float(rho), "spearman_p": float(p),
            "mean_interval_width": {f"{lv:g}": float(np.mean(2 * multiplier(cal, lv) * sd_cal)) for lv in levels}}


def coverage_figure(summary: dict, path=None, *, title: str = "Interval coverage on held-out pairs"):
    """Observed against nominal coverage (the diagonal is perfect calibration); PNG bytes, or written to ``path``."""

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = summary["curve"]
    nominal = [c["nominal"] for c in curve]
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1, label="perfect calibration")
    ax.plot(nominal, [c["uncalibrated"] for c in curve], "o-", ms=3, color="#f58231", label="ensemble sd as is")
    ax.plot(nominal, [c["calibrated"] for c in curve], "o-", ms=3, color="#4363d8", label="calibrated")
    for lv, cov in summary["coverage"].items():
        ax.annotate(f"{float(cov):.0%}", (float(lv), float(cov)), textcoords="offset points", xytext=(-28, 6),
                    fontsize=8, color="#4363d8")
    ax.set_xlabel("nominal coverage of the interval")
    ax.set_ylabel("share of held-out labels inside")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    from theraflow.io import figure_png

    return figure_png(fig, path)


# ------------------------------------------------------------------ an ensemble of trained models (the stage)
def ensemble_predictions(model_dirs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(predictions [models, pairs], labels, part) from each model directory's ``predictions.parquet``
    (written by ``theraflow dti evaluate``), aligned on ``pair_id``."""
    import pandas as pd

    dirs = [Path(d) for d in model_dirs]
    if len(dirs) < 2:
        raise InputError("one model has no spread to calibrate (no ensemble: no uncertainty); train several seeds")
    frames = []
    for d in dirs:
        f = d / "predictions.parquet"
        if not f.exists():
            raise InputError(f"{f}: no predictions of the validation and test parts; run `theraflow dti evaluate` "
                             "on this model first")
        df = pd.read_parquet(f)
        missing = {"pair_id", "part", "label", "prediction"} - set(df.columns)
        if missing:
            raise InputError(f"{f}: expected columns pair_id, part, label, prediction; missing {sorted(missing)}")
        frames.append(df.set_index("pair_id").sort_index())
    first = frames[0]
    for d, f in zip(dirs[1:], frames[1:]):
        if not f.index.equals(first.index):
            raise InputError(f"{d / 'predictions.parquet'}: predicts other pairs than {dirs[0] / 'predictions.parquet'}"
                             " (the models of an ensemble must be evaluated on the same split)")
    pred = np.stack([f["prediction"].to_numpy(dtype=np.float64) for f in frames])
    return pred, first["label"].to_numpy(dtype=np.float64), first["part"].to_numpy()


def calibrate_ensemble(model_dirs, out_json=None, out_png=None, *, title: str | None = None) -> dict:
    """Fit the spread calibration of an ensemble on its validation part and measure it on its test part.

    Reads each model's ``predictions.parquet``; writes the summary (``scale``, ``floor``, coverage,
    Spearman) to ``out_json`` and the coverage plot to ``out_png`` when given."""
    pred, y, part = ensemble_predictions(model_dirs)
    valid, test = part == "valid", part == "test"
    for name, mask in (("validation", valid), ("test", test)):
        if mask.sum() < 10:
            raise InputError(f"{model_dirs[0]}/predictions.parquet: {int(mask.sum())} {name} pairs; calibration "
                             f"needs at least 10 (a split with a {name} part)")
    summary = calibration_summary(pred[:, valid], y[valid], pred[:, test], y[test])
    summary["models"] = [str(d) for d in model_dirs]
    summary["fitted_on"], summary["measured_on"] = "validation part", "test part"
    if out_png is not None:
        coverage_figure(summary, out_png, title=title or f"Test part, {len(model_dirs)}-model ensemble")
    if out_json is not None:
        from theraflow.io import write_json

        write_json(out_json, summary)
    return summary


def apply_calibration(mean, sd, cal: dict, level: float = 0.8) -> dict:
    """Calibrated sd and the nominal ``level`` interval for ensemble means and raw sds (arrays)."""
    sd_cal = calibrated_sd(sd, cal)
    lo, hi = interval(mean, sd_cal, level, cal)
    return {"sd": sd_cal, "low": lo, "high": hi}
