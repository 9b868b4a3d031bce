"""Calibrated probabilities for binary and multiclass interaction labels: how far a 0.9 can be trusted.

A classifier's probability is calibrated when, of the pairs it gives 0.9, nine in ten really carry the
label. Networks trained with early stopping are often over-confident (their 0.9 means 0.7), and an
ensemble's mean is not calibrated either. Everything here is fitted on the validation part and measured
on the test part, on plain numpy arrays: probabilities are ``[n]`` for a binary task (P(label 1)) and
``[n, k]`` for a multiclass one (rows sum to 1); labels are integers ``0 .. k-1``.

- :func:`fit_probability_calibration` / :func:`apply_probability_calibration` map probabilities to
  calibrated ones: Platt scaling (scikit-learn ``LogisticRegression`` on the logit) or isotonic
  regression (scikit-learn ``IsotonicRegression``) for binary labels, one temperature on the
  log-probabilities for multiclass labels (fitted by validation negative log-likelihood).
- :func:`expected_calibration_error` (torchmetrics) and :func:`reliability_curve` say how far off a
  set of probabilities is; :func:`reliability_figure` draws the reliability diagram.
- :func:`fit_probability_interval` / :func:`probability_interval`: a Venn-ABERS interval (``venn-abers``)
  for each binary pair's probability.
- :func:`fit_prediction_sets` / :func:`prediction_sets`: split-conformal prediction sets, the labels
  that cannot be ruled out at a confidence such as 0.9 (crepes' ``ConformalClassifier`` rule, computed
  with a sorted search; the tests check the sets against crepes).
- :func:`classification_calibration_summary` does all of it for an ensemble (or a single model) and
  returns a JSON-ready dict for the workflow's calibrate stage and the reports.

Every fitted object is a plain dict of floats and lists (JSON), so the calibrate stage can write it and
the score stage apply it later.
"""

from __future__ import annotations

import warnings

import numpy as np

from theraflow.errors import InputError

LEVELS = (0.8, 0.95)  # confidences of the prediction sets in the summary
EPS = 1e-12  # probabilities are clipped to [EPS, 1 - EPS] before a logit or a log
AUTO_ISOTONIC_MIN_PAIRS = 1000  # "auto" picks isotonic for binary labels from this many validation pairs ...
AUTO_ISOTONIC_MIN_PER_LABEL = 100  # ... with at least this many of each label; Platt otherwise
MIN_VALIDATION_PAIRS = 10


# ------------------------------------------------------------------ input checks
def _probabilities(prob, what: str) -> np.ndarray:
    """``prob`` as float64 ``[n]`` (binary) or ``[n, k]`` (multiclass), finite and within [0, 1]."""
    p = np.asarray(prob, dtype=np.float64)
    if p.ndim not in (1, 2) or (p.ndim == 2 and p.shape[1] < 2):
        raise InputError(f"{what}: expected probabilities [n] (binary, P(label 1)) or [n, classes] (multiclass), "
                         f"got shape {p.shape}")
    if not np.isfinite(p).all():
        raise InputError(f"{what}: probabilities must be finite numbers ({int((~np.isfinite(p)).sum())} are not)")
    if p.size and (p.min() < -1e-6 or p.max() > 1 + 1e-6):
        raise InputError(f"{what}: probabilities must lie within [0, 1] (found {p.min():.4g} .. {p.max():.4g}); "
                         "pass probabilities, not logits")
    p = np.clip(p, 0.0, 1.0)
    if p.ndim == 2:
        sums = p.sum(1)
        bad = np.abs(sums - 1) > 1e-3
        if bad.any():
            raise InputError(f"{what}: each row of multiclass probabilities must sum to 1 ({int(bad.sum())} rows do "
                             f"not, e.g. row {int(np.argmax(bad))} sums to {sums[np.argmax(bad)]:.4g})")
        p = p / sums[:, None]
    return p


def _labels(y, n: int, classes: int, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise InputError(f"{what}: expected {n} labels (one per probability), got shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or (y != np.round(y)).any():
            raise InputError(f"{what}: labels must be integers 0 .. {classes - 1}")
        y = y.astype(np.int64)
    elif y.dtype.kind == "b":
        y = y.astype(np.int64)
    elif y.dtype.kind not in "iu":
        raise InputError(f"{what}: labels must be integers 0 .. {classes - 1}, got {y.dtype}")
    y = y.astype(np.int64)
    if n and (y.min() < 0 or y.max() >= classes):
        raise InputError(f"{what}: labels must lie in 0 .. {classes - 1} (found {y.min()} .. {y.max()})")
    return y


def _pairs(prob, y, what: str) -> tuple[np.ndarray, np.ndarray]:
    p = _probabilities(prob, what)
    return p, _labels(y, len(p), _classes(p), what)


def _classes(p: np.ndarray) -> int:
    return 2 if p.ndim == 1 else int(p.shape[1])


def _need_labels(p: np.ndarray, y: np.ndarray, what: str) -> None:
    """A calibration fitted on a part that has one label only learns nothing: say which label is missing."""
    if len(y) < MIN_VALIDATION_PAIRS:
        raise InputError(f"{what}: {len(y)} pairs; calibration needs at least {MIN_VALIDATION_PAIRS}")
    present = np.unique(y)
    if p.ndim == 1 and len(present) < 2:
        missing = 1 - int(present[0])
        raise InputError(f"{what}: all {len(y)} pairs have label {int(present[0])}; calibration needs both labels "
                         f"0 and 1 (no pair with label {missing}: the split left the {what} without "
                         f"{'positives (label 1)' if missing == 1 else 'negatives (label 0)'})")
    if p.ndim == 2 and len(present) < 2:
        raise InputError(f"{what}: all {len(y)} pairs have class {int(present[0])}; calibration needs pairs of at "
                         "least two classes")


def _two_columns(p: np.ndarray) -> np.ndarray:
    """Binary ``[n]`` as ``[n, 2]`` (P(0), P(1)); multiclass unchanged."""
    return np.column_stack([1 - p, p]) if p.ndim == 1 else p


def _logit(p: np.ndarray) -> np.ndarray:
    from scipy.special import logit

    return logit(np.clip(p, EPS, 1 - EPS))


# ------------------------------------------------------------------ calibration maps
def fit_probability_calibration(prob_valid, y_valid, method: str = "auto") -> dict:
    """Fit a map from predicted to calibrated probabilities on the validation part.

    ``method``: ``"platt"`` (logistic regression of the label on logit(p): two numbers, smooth and
    strictly increasing, safe on small parts), ``"isotonic"`` (the best non-decreasing step function:
    no shape assumed, needs many pairs of both labels), ``"temperature"`` (one temperature ``T`` on
    the log-probabilities, softmax(log p / T), fitted by validation negative log-likelihood; the only
    choice for multiclass labels, also allowed for binary ones), or ``"auto"``: isotonic for binary
    labels with at least 1000 validation pairs and 100 of each label, Platt for smaller binary parts,
    temperature for multiclass labels.

    Returns a JSON-ready dict with the method, its parameters (isotonic thresholds as lists), the
    validation size and label counts; :func:`apply_probability_calibration` applies it.
    """
    p, y = _pairs(prob_valid, y_valid, "validation part")
    _need_labels(p, y, "validation part")
    k = _classes(p)
    counts = np.bincount(y, minlength=k)
    reason = None
    if method == "auto":
        if p.ndim == 2:
            method, reason = "temperature", "multiclass labels"
        elif len(y) >= AUTO_ISOTONIC_MIN_PAIRS and counts.min() >= AUTO_ISOTONIC_MIN_PER_LABEL:
            method, reason = "isotonic", (f"{len(y)} validation pairs >= {AUTO_ISOTONIC_MIN_PAIRS} with >= "
                                          f"{AUTO_ISOTONIC_MIN_PER_LABEL} of each label")
        else:
            method, reason = "platt", (f"{len(y)} validation pairs ({int(counts[0])} label 0, {int(counts[1])} "
                                       f"label 1): too few for isotonic (needs >= {AUTO_ISOTONIC_MIN_PAIRS} pairs, "
                                       f">= {AUTO_ISOTONIC_MIN_PER_LABEL} of each label)")
    cal: dict = {"method": method, "kind": "binary" if p.ndim == 1 else "multiclass", "classes": k,
                 "validation_pairs": int(len(y)), "validation_label_counts": [int(c) for c in counts]}
    if reason:
        cal["auto_reason"] = reason
    if method in ("platt", "isotonic") and p.ndim == 2:
        raise InputError(f"calibration method {method!r} is for binary labels; multiclass probabilities "
                         f"[n, {k}] take 'temperature' (or 'auto')")
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        # C = 1e6: practically unpenalized, yet finite when the validation part is separable
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(p)[:, None], y)
        cal.update(slope=float(lr.coef_[0, 0]), intercept=float(lr.intercept_[0]),
                   formula="p_cal = 1 / (1 + exp(-(slope * logit(p) + intercept)))")
    elif method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(p, y)
        cal.update(x_thresholds=[float(v) for v in iso.X_thresholds_],
                   y_thresholds=[float(v) for v in iso.y_thresholds_],
                   formula="p_cal = linear interpolation of the thresholds, constant beyond the ends")
    elif method == "temperature":
        from scipy.optimize import minimize_scalar
        from scipy.special import log_softmax

        logp = np.log(np.clip(_two_columns(p), EPS, 1.0))
        rows = np.arange(len(y))

        def nll(log_beta: float) -> float:  # beta = 1 / T; convex in beta
            return -float(np.mean(log_softmax(np.exp(log_beta) * logp, axis=1)[rows, y]))

        res = minimize_scalar(nll, bounds=(-10.0, 10.0), method="bounded", options={"xatol": 1e-8})
        cal.update(temperature=float(np.exp(-res.x)), validation_nll=float(res.fun), validation_nll_before=nll(0.0),
                   formula="p_cal = softmax(log(p) / temperature)")
    else:
        raise InputError(f"unknown calibration method {method!r}; expected 'auto', 'platt', 'isotonic' or "
                         "'temperature'")
    return cal


def apply_probability_calibration(prob, cal: dict) -> np.ndarray:
    """Calibrated probabilities (same shape as ``prob``): within [0, 1], multiclass rows summing to 1."""
    p = _probabilities(prob, "probabilities to calibrate")
    method = cal.get("method")
    k = _classes(p)
    if int(cal.get("classes", k)) != k:
        raise InputError(f"the calibration was fitted on {cal['classes']} classes, the probabilities have {k}")
    if method == "platt":
        from scipy.special import expit

        out = expit(cal["slope"] * _logit(p) + cal["intercept"])
    elif method == "isotonic":
        out = np.interp(p, cal["x_thresholds"], cal["y_thresholds"])
    elif method == "temperature":
        from scipy.special import softmax

        out = softmax(np.log(np.clip(_two_columns(p), EPS, 1.0)) / cal["temperature"], axis=1)
        out = out[:, 1] if p.ndim == 1 else out
    else:
        raise InputError(f"not a probability calibration (method {method!r}); fit one with "
                         "fit_probability_calibration")
    return np.clip(out, 0.0, 1.0)


# ------------------------------------------------------------------ how far off
def expected_calibration_error(prob, y, n_bins: int = 15) -> float:
    """Expected calibration error (torchmetrics, norm 'l1'): the pair-weighted mean gap between the mean
    predicted probability and the observed frequency in ``n_bins`` equal-width bins. Binary: of P(1);
    multiclass: top-label (confidence of the predicted class against its accuracy)."""
    import torch
    from torchmetrics.functional.classification import binary_calibration_error, multiclass_calibration_error

    p, y = _pairs(prob, y, "calibration error")
    if not len(y):
        raise InputError("calibration error: no pairs")
    preds, target = torch.from_numpy(p), torch.from_numpy(y)
    if p.ndim == 1:
        ece = binary_calibration_error(preds, target, n_bins=n_bins, norm="l1")
    else:
        ece = multiclass_calibration_error(preds, target, num_classes=p.shape[1], n_bins=n_bins, norm="l1")
    return float(ece)


def _confidence_and_hit(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if p.ndim == 1:
        return p, (y == 1).astype(np.float64)
    return p.max(1), (p.argmax(1) == y).astype(np.float64)


def reliability_curve(prob, y, n_bins: int = 10) -> list[dict]:
    """Mean predicted probability against observed frequency in ``n_bins`` equal-width bins of [0, 1]
    (scikit-learn's ``calibration_curve`` binning; non-empty bins only). Binary: P(1) against the share
    of label 1; multiclass: top-label confidence against accuracy. Each bin: ``low``, ``high``,
    ``mean_predicted``, ``observed``, ``count``."""
    p, y = _pairs(prob, y, "reliability curve")
    conf, hit = _confidence_and_hit(p, y)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], conf)  # as sklearn.calibration.calibration_curve(strategy="uniform")
    count = np.bincount(ids, minlength=n_bins)
    mean_p = np.bincount(ids, weights=conf, minlength=n_bins)
    observed = np.bincount(ids, weights=hit, minlength=n_bins)
    return [{"low": float(edges[b]), "high": float(edges[b + 1]), "mean_predicted": float(mean_p[b] / count[b]),
             "observed": float(observed[b] / count[b]), "count": int(count[b])}
            for b in range(n_bins) if count[b]]


def _scores(p: np.ndarray, y: np.ndarray, n_bins: int) -> dict:
    """ECE, Brier, log-loss and accuracy (binary: also AUROC) of probabilities against labels."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    k = _classes(p)
    two = _two_columns(p)
    out = {"ece": expected_calibration_error(p, y, n_bins),
           "log_loss": float(log_loss(y, np.clip(two, EPS, 1.0), labels=list(range(k)))),
           "accuracy": float(np.mean(two.argmax(1) == y))}
    if p.ndim == 1:
        out["brier"] = float(brier_score_loss(y, p, pos_label=1))
        out["auroc"] = float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else None
    else:  # multiclass Brier: mean over pairs of sum_k (p_k - [y = k])^2, in [0, 2]
        out["brier"] = float(np.mean(np.sum((two - np.eye(k)[y]) ** 2, axis=1)))
    return out


# ------------------------------------------------------------------ Venn-ABERS intervals (binary)
def _venn_abers():
    """The ``venn_abers`` module, imported without its import-time ``np.seterr(divide='ignore',
    invalid='ignore')`` leaking into the rest of the process."""
    old = np.geterr()
    try:
        import venn_abers
    finally:
        np.seterr(**old)
    return venn_abers


def fit_probability_interval(prob_valid, y_valid) -> dict:
    """Fit Venn-ABERS (inductive Venn-ABERS predictor, Vovk, Petej & Fedorova 2015) on the validation
    part's binary probabilities (e.g. the ensemble mean) and labels; JSON-ready, applied by
    :func:`probability_interval`."""
    p, y = _pairs(prob_valid, y_valid, "validation part")
    if p.ndim != 1:
        raise InputError(f"probability intervals are for binary labels (probabilities [n]); got shape {p.shape}")
    _need_labels(p, y, "validation part")
    va = _venn_abers()
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # its hull algorithm divides 0 / 0 and skips the NaNs
        p0, p1, c = va.calc_p0p1(_two_columns(p), y.astype(np.float64))
    return {"method": "Venn-ABERS (inductive): isotonic regression of the validation labels with the new pair "
                      "added once as label 0 (p0) and once as label 1 (p1)",
            "validation_pairs": int(len(y)), "scores": [float(v) for v in c],
            "p0": [float(v) for v in p0[:, 1]], "p1": [float(v) for v in p1[:, 1]]}


def probability_interval(prob, fitted: dict) -> dict:
    """Venn-ABERS interval ``[low, high]`` = ``(p0, p1)`` of each binary pair's probability, and the
    single probability ``p = p1 / (1 - p0 + p1)`` that merges them (the log-loss choice).

    For a chemist reading a report: among compounds the model scores like this one, the share that
    is truly active (label 1) lies between ``low`` and ``high``, according to the validation pairs
    (Venn-ABERS guarantees that one of the two ends is calibrated, if the new pairs resemble the
    validation pairs). The width is how unsure the *calibration* is at this score: wide where few
    validation pairs scored alike (often the very high or very low scores, where a hit list is
    read), narrow where many did. It is not the models' disagreement (see the ensemble spread) and
    not a range for a single measurement, which is 0 or 1. Both ends always lie within [0, 1].

    ``prob``: P(label 1) ``[n]`` scored the same way as when fitting (e.g. the ensemble mean).
    Returns ``{"low": [n], "high": [n], "p": [n]}`` numpy arrays.
    """
    p = _probabilities(prob, "probabilities for an interval")
    if p.ndim != 1:
        raise InputError(f"probability intervals are for binary labels (probabilities [n]); got shape {p.shape}")
    if not {"scores", "p0", "p1"} <= set(fitted):
        raise InputError("not a fitted Venn-ABERS calibration; fit one with fit_probability_interval")
    c = np.asarray(fitted["scores"], dtype=np.float64)
    p0 = np.column_stack([np.r_[0.0, c], np.asarray(fitted["p0"], dtype=np.float64)])
    p1 = np.column_stack([np.r_[0.0, c], np.asarray(fitted["p1"], dtype=np.float64)])
    merged, p01 = _venn_abers().calc_probs(p0, p1, c, _two_columns(p))
    low, high = np.clip(p01[:, 0], 0.0, 1.0), np.clip(p01[:, 1], 0.0, 1.0)
    return {"low": low, "high": high, "p": np.clip(merged[:, 1], 0.0, 1.0)}


# ------------------------------------------------------------------ conformal prediction sets
def fit_prediction_sets(prob_valid, y_valid) -> dict:
    """Split-conformal classifier fitted on the validation part: the non-conformity of a pair is
    ``1 - p(its label)`` (crepes' ``hinge``). JSON-ready; stores the sorted validation scores so that
    :func:`prediction_sets` can use any confidence later.

    Fit it on probabilities that were *not* calibrated on the same validation pairs (the raw ensemble
    mean): the guarantee needs validation and new pairs to be scored by the same fixed map."""
    p, y = _pairs(prob_valid, y_valid, "validation part")
    _need_labels(p, y, "validation part")
    k = _classes(p)
    alphas = 1.0 - _two_columns(p)[np.arange(len(y)), y]
    return {"method": "split conformal, non-conformity 1 - p(label), non-smoothed p-values (as crepes "
                      "ConformalClassifier with hinge scores and smoothing=False)", "classes": k,
            "validation_pairs": int(len(y)), "scores": [float(v) for v in np.sort(alphas)]}


def conformal_p_values(prob, fitted: dict) -> np.ndarray:
    """``[n, classes]`` conformal p-values of every label: (validation scores >= the label's score,
    plus 1) / (validation pairs + 1). The same numbers as crepes' ``ConformalClassifier.predict_p``
    with ``smoothing=False``, which loops in Python over every pair and class against every
    validation score (about 30 s for 19,000 pairs x 86 DrugBank classes); a sorted search does it at
    once."""
    p = _probabilities(prob, "probabilities for prediction sets")
    k = _classes(p)
    if int(fitted.get("classes", -1)) != k or "scores" not in fitted:
        raise InputError(f"prediction sets: the conformal classifier was fitted on {fitted.get('classes')} classes, "
                         f"the probabilities have {k}; fit one with fit_prediction_sets")
    scores = np.asarray(fitted["scores"], dtype=np.float64)  # sorted
    q = len(scores)
    at_least = q - np.searchsorted(scores, 1.0 - _two_columns(p), side="left")
    return (at_least + 1) / (q + 1)


def prediction_sets(prob, fitted: dict, confidence: float = 0.9) -> np.ndarray:
    """Boolean ``[n, classes]`` (binary: columns label 0, label 1): the labels each pair's set keeps at
    ``confidence``. A label is kept unless it is less plausible than all but a ``1 - confidence``
    share of the validation pairs' true labels, so a set holds the true label of at least a
    ``confidence`` share of new pairs exchangeable with the validation ones (and rarely much more:
    at most 1 / (validation pairs + 1) more when scores are not tied). A set of one label is a
    confident call; both labels (or many classes) means "cannot tell at this confidence"; an empty
    set (possible at low confidence) means no label fits."""
    if not 0 < confidence < 1:
        raise InputError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    return conformal_p_values(prob, fitted) >= 1 - confidence  # crepes' rule, to the last bit


def prediction_set_metrics(sets: np.ndarray, y) -> dict:
    """Coverage (share of pairs whose true label is in their set), mean set size, and shares of empty
    and single-label sets; binary sets also give the coverage within each label."""
    sets = np.asarray(sets, dtype=bool)
    y = _labels(y, len(sets), sets.shape[1], "prediction sets")
    hit = sets[np.arange(len(y)), y]
    size = sets.sum(1)
    out = {"coverage": float(hit.mean()), "mean_size": float(size.mean()), "empty": float(np.mean(size == 0)),
           "singleton": float(np.mean(size == 1))}
    if sets.shape[1] == 2:
        out["coverage_by_label"] = {str(c): (float(hit[y == c].mean()) if (y == c).any() else None) for c in (0, 1)}
    return out


# ------------------------------------------------------------------ the summary an ensemble's report shows
def _models(prob_models, what: str) -> np.ndarray:
    a = np.asarray(prob_models, dtype=np.float64)
    if a.ndim not in (2, 3) or a.shape[0] < 1:
        raise InputError(f"{what}: expected each model's probabilities, [models, n] (binary) or "
                         f"[models, n, classes] (multiclass), got shape {a.shape}")
    for i in range(a.shape[0]):
        _probabilities(a[i], f"{what}, model {i}")
    return np.clip(a, 0.0, 1.0)


def classification_calibration_summary(prob_valid_models, y_valid, prob_test_models, y_test, *,
                                       method: str = "auto", levels: tuple[float, ...] = LEVELS,
                                       n_bins: int = 15, curve_bins: int = 10) -> dict:
    """Fit on the validation part, measure on the test part only.

    Inputs are each model's probabilities, ``[models, n]`` (binary) or ``[models, n, classes]``
    (multiclass); one model is allowed. The ensemble's probability is the mean over models. Keys
    (all plain JSON):

    - ``kind`` ("binary" / "multiclass"), ``classes``, ``models``, ``validation_pairs``, ``test_pairs``,
      ``test_label_counts`` (pairs per label in the test part), ``fitted_on``, ``measured_on``;
    - ``calibration``: the fitted map (:func:`fit_probability_calibration`);
    - ``before`` / ``after``: on test, the ensemble mean as is / calibrated: ``ece`` (15 bins; binary of
      P(1), multiclass top-label), ``brier`` (binary: mean (p - y)^2; multiclass: mean sum_k
      (p_k - [y = k])^2, 0..2), ``log_loss``, ``accuracy`` (argmax), and binary ``auroc`` (a monotone
      map keeps it; isotonic ties can lower it a little);
    - ``reliability``: ``before`` / ``after`` lists of bins (:func:`reliability_curve`);
    - ``ensemble_spread``: None for one model; else ``mean_sd``: the mean over test pairs of the sd over
      models (ddof 1) of P(1) (multiclass: of the probability of the ensemble's predicted class), i.e.
      how much the seeds disagree (no correlation with the error is given: in probability units the
      sd is largest near 0.5, where the errors are too, whatever the models know);
    - ``probability_interval`` (binary, else None): Venn-ABERS fitted on validation, on test the
      ``mean_width``, ``median_width``, ``p90_width`` of [p0, p1], the merged probability's ``ece``,
      ``brier``, ``log_loss``, and ``bins`` (by merged p: mean ``low``, ``high``, ``observed`` share
      of label 1, ``count``). No coverage is given: the true probability of a pair is never observed
      (its label is 0 or 1), so "the interval holds the truth" cannot be counted; the bins show
      whether the observed share of actives falls near the band;
    - ``prediction_sets``: per level (str key, e.g. "0.8"): :func:`prediction_set_metrics` on test of
      split-conformal sets fitted on the validation ensemble mean (uncalibrated, see
      :func:`fit_prediction_sets`).
    """
    pv_m, pt_m = _models(prob_valid_models, "validation part"), _models(prob_test_models, "test part")
    if pv_m.shape[0] != pt_m.shape[0] or pv_m.shape[2:] != pt_m.shape[2:]:
        raise InputError(f"validation {pv_m.shape} and test {pt_m.shape} probabilities must come from the same "
                         "models with the same classes ([models, n] or [models, n, classes])")
    pv, pt = pv_m.mean(0), pt_m.mean(0)
    pv, yv = _pairs(pv, y_valid, "validation part")
    pt, yt = _pairs(pt, y_test, "test part")
    if len(yt) < MIN_VALIDATION_PAIRS:
        raise InputError(f"test part: {len(yt)} pairs; measuring calibration needs at least {MIN_VALIDATION_PAIRS}")
    cal = fit_probability_calibration(pv, yv, method)
    pt_cal = apply_probability_calibration(pt, cal)
    k, m = _classes(pt), int(pv_m.shape[0])
    summary: dict = {
        "kind": "binary" if pt.ndim == 1 else "multiclass", "classes": k, "models": m,
        "validation_pairs": int(len(yv)), "test_pairs": int(len(yt)),
        "test_label_counts": {str(c): int(n) for c, n in enumerate(np.bincount(yt, minlength=k)) if n},
        "fitted_on": "validation part", "measured_on": "test part", "calibration": cal,
        "before": _scores(pt, yt, n_bins), "after": _scores(pt_cal, yt, n_bins),
        "reliability": {"before": reliability_curve(pt, yt, curve_bins), "after": reliability_curve(pt_cal, yt,
                                                                                                    curve_bins)},
        "ensemble_spread": None, "probability_interval": None}
    if m > 1:
        if pt.ndim == 1:
            sd = pt_m.std(0, ddof=1)
        else:
            top = pt.argmax(1)
            sd = pt_m[:, np.arange(len(yt)), top].std(0, ddof=1)
        summary["ensemble_spread"] = {"mean_sd": float(sd.mean())}
    if pt.ndim == 1:
        va = probability_interval(pt, fit_probability_interval(pv, yv))
        width = va["high"] - va["low"]
        scored = _scores(va["p"], yt, n_bins)
        edges = np.linspace(0.0, 1.0, curve_bins + 1)
        ids = np.searchsorted(edges[1:-1], va["p"])
        bins = [{"low": float(va["low"][ids == b].mean()), "high": float(va["high"][ids == b].mean()),
                 "observed": float(yt[ids == b].mean()), "count": int((ids == b).sum())}
                for b in range(curve_bins) if (ids == b).any()]
        summary["probability_interval"] = {
            "method": "Venn-ABERS on the ensemble mean, fitted on validation", "mean_width": float(width.mean()),
            "median_width": float(np.median(width)), "p90_width": float(np.quantile(width, 0.9)),
            "ece": scored["ece"], "brier": scored["brier"], "log_loss": scored["log_loss"], "bins": bins}
    conformal = fit_prediction_sets(pv, yv)
    summary["prediction_sets"] = {f"{lv:g}": prediction_set_metrics(prediction_sets(pt, conformal, lv), yt)
                                  for lv in levels}
    summary["prediction_sets_method"] = conformal["method"] + ", fitted on the validation ensemble mean"
    return summary


# ------------------------------------------------------------------ figure
def reliability_figure(summary: dict, path=None, *, title: str = "Reliability on held-out pairs") -> bytes:
    """Reliability diagram of a :func:`classification_calibration_summary`: observed frequency against
    mean predicted probability per bin, before and after calibration (the diagonal is perfect
    calibration), with the number of test pairs per bin below. PNG bytes, written atomically to
    ``path`` when given."""

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    multiclass = summary.get("kind") == "multiclass"
    fig, (ax, hx) = plt.subplots(2, 1, figsize=(4.6, 5.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1, label="perfect calibration")
    styles = (("before", "#f58231", "as predicted"), ("after", "#4363d8", "calibrated"))
    for key, color, label in styles:
        curve = summary["reliability"][key]
        ece = summary[key]["ece"]
        ax.plot([b["mean_predicted"] for b in curve], [b["observed"] for b in curve], "o-", ms=3, color=color,
                label=f"{label} (ECE {ece:.3f})")
    for (key, color, _), shift in zip(styles, (-0.25, 0.25)):
        curve = summary["reliability"][key]
        width = [b["high"] - b["low"] for b in curve]
        centers = [(b["low"] + b["high"]) / 2 + shift * w for b, w in zip(curve, width)]
        hx.bar(centers, [b["count"] for b in curve], width=[w / 2 for w in width], color=color, alpha=0.8)
    ax.set_ylabel("accuracy of the predicted class" if multiclass else "observed share of label 1")
    hx.set_xlabel("confidence of the predicted class" if multiclass else "predicted probability of label 1")
    hx.set_ylabel("pairs")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    method = summary.get("calibration", {}).get("method", "")
    ax.set_title(f"{title}\n{method} calibration, {summary.get('test_pairs', '?')} test pairs", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    from theraflow.io import figure_png

    return figure_png(fig, path)
