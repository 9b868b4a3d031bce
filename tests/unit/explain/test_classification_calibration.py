"""Calibrated classification probabilities: simulated classifiers with a known miscalibration, and the
libraries' own answers as references."""

import json

import numpy as np
import pytest
from scipy.special import expit, softmax

from theraflow.errors import InputError
from theraflow.explain.classification import (
    apply_probability_calibration,
    classification_calibration_summary,
    conformal_p_values,
    expected_calibration_error,
    fit_prediction_sets,
    fit_probability_calibration,
    fit_probability_interval,
    prediction_set_metrics,
    prediction_sets,
    probability_interval,
    reliability_curve,
    reliability_figure,
)


def _overconfident_binary(n, rng, models=1, noise=0.0):
    """Labels drawn with P(1) = sigmoid(z); each model predicts sigmoid(3 z) (+ its own noise on the logit)."""
    z = rng.normal(0, 1.5, n)
    y = (rng.random(n) < expit(z)).astype(int)
    return np.stack([expit(3 * z + rng.normal(0, noise, n)) for _ in range(models)]), y


def _sharpened_multiclass(n, rng, k=5, temperature=3.0):
    """Labels drawn from softmax(logits); the model predicts softmax(3 logits): a temperature of 3 undoes it."""
    logits = rng.normal(0, 1.5, (n, k))
    y = (softmax(logits, 1).cumsum(1) > rng.random((n, 1))).argmax(1)
    return softmax(temperature * logits, 1), y


def test_platt_undoes_an_overconfident_classifier_on_a_separate_test_sample():
    rng = np.random.default_rng(0)
    (pv,), yv = _overconfident_binary(3000, rng)
    (pt,), yt = _overconfident_binary(3000, rng)
    cal = fit_probability_calibration(pv, yv, "platt")
    assert cal["slope"] == pytest.approx(1 / 3, abs=0.03) and abs(cal["intercept"]) < 0.1  # logit(p) / 3 is the truth
    before, after = expected_calibration_error(pt, yt), expected_calibration_error(apply_probability_calibration(pt, cal), yt)
    assert before > 0.12 and after < 0.035 and after < before / 4
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(yt, apply_probability_calibration(pt, cal)) == pytest.approx(roc_auc_score(yt, pt), abs=1e-12)


def test_isotonic_reduces_the_error_and_applies_as_scikit_learn_predicts():
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(1)
    (pv,), yv = _overconfident_binary(3000, rng)
    (pt,), yt = _overconfident_binary(3000, rng)
    cal = fit_probability_calibration(pv, yv, "isotonic")
    assert json.loads(json.dumps(cal)) == cal  # thresholds are lists of floats
    ours = apply_probability_calibration(pt, cal)
    theirs = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(pv, yv).predict(pt)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    assert expected_calibration_error(ours, yt) < expected_calibration_error(pt, yt) / 4


def test_auto_picks_isotonic_only_with_many_pairs_of_both_labels_and_temperature_for_multiclass():
    rng = np.random.default_rng(2)
    (p,), y = _overconfident_binary(3000, rng)
    assert fit_probability_calibration(p, y)["method"] == "isotonic"
    assert fit_probability_calibration(p[:500], y[:500])["method"] == "platt"
    rare = y.copy()
    rare[rare == 1] = 0
    rare[:50] = 1  # 50 actives among 3000
    cal = fit_probability_calibration(p, rare)
    assert cal["method"] == "platt" and "too few for isotonic" in cal["auto_reason"]
    pm, ym = _sharpened_multiclass(300, rng)
    assert fit_probability_calibration(pm, ym)["method"] == "temperature"


def test_temperature_recovers_a_softmax_sharpened_by_three_as_scikit_learn_does():
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    class Given(ClassifierMixin, BaseEstimator):  # a "classifier" whose probabilities are its input
        def fit(self, X, y):
            self.classes_ = np.arange(X.shape[1])
            return self

        def predict_proba(self, X):
            return np.asarray(X)

        def predict(self, X):
            return np.asarray(X).argmax(1)

    rng = np.random.default_rng(3)
    pv, yv = _sharpened_multiclass(5000, rng)
    pt, yt = _sharpened_multiclass(3000, rng)
    cal = fit_probability_calibration(pv, yv)
    assert cal["temperature"] == pytest.approx(3.0, abs=0.15)
    assert cal["validation_nll"] < cal["validation_nll_before"]
    sk = CalibratedClassifierCV(FrozenEstimator(Given().fit(pv, yv)), method="temperature").fit(pv, yv)
    np.testing.assert_allclose(apply_probability_calibration(pt, cal), sk.predict_proba(pt), atol=2e-4)
    after = apply_probability_calibration(pt, cal)
    assert (after.argmax(1) == pt.argmax(1)).all()  # a temperature keeps each pair's predicted class
    assert expected_calibration_error(after, yt) < expected_calibration_error(pt, yt) / 4


@pytest.mark.parametrize("method", ["platt", "isotonic", "temperature"])
def test_calibrated_binary_probabilities_stay_within_0_and_1_at_the_extremes(method):
    rng = np.random.default_rng(4)
    (pv,), yv = _overconfident_binary(2000, rng)
    cal = fit_probability_calibration(pv, yv, method)
    extreme = np.array([0.0, 1.0, 1e-300, 1e-17, 1 - 1e-16, 0.5, pv.min() / 2, (1 + pv.max()) / 2])
    out = apply_probability_calibration(extreme, cal)
    assert np.isfinite(out).all() and (out >= 0).all() and (out <= 1).all()
    assert out[0] <= out[5] <= out[1]  # still increasing
    if method == "isotonic":  # beyond the validation range: the end thresholds, not an extrapolation
        assert out[6] == cal["y_thresholds"][0] and out[7] == cal["y_thresholds"][-1]


def test_calibrated_multiclass_rows_sum_to_one_with_zeros_and_ones():
    rng = np.random.default_rng(5)
    pv, yv = _sharpened_multiclass(1000, rng)
    cal = fit_probability_calibration(pv, yv)
    p = np.array([[1.0, 0, 0, 0, 0], [0, 0.5, 0.5, 0, 0], [0.2] * 5])
    out = apply_probability_calibration(p, cal)
    assert (out >= 0).all() and (out <= 1).all()
    np.testing.assert_allclose(out.sum(1), 1.0, atol=1e-12)


def test_calibration_error_known_answers():
    rng = np.random.default_rng(6)
    y = (rng.random(4000) < 0.5).astype(int)
    assert expected_calibration_error(np.full(4000, 0.9), y) == pytest.approx(0.9 - y.mean(), abs=1e-6)  # ~0.4
    p = rng.random(20000)
    assert expected_calibration_error(p, (rng.random(20000) < p).astype(int)) < 0.02  # calibrated by construction
    # multiclass, top label: always 0.7 confident, right half the time
    pm = np.tile([0.7, 0.1, 0.1, 0.1], (1000, 1))
    ym = np.r_[np.zeros(500, int), np.ones(500, int)]
    assert expected_calibration_error(pm, ym) == pytest.approx(0.2, abs=1e-4)  # torchmetrics: float32


def test_reliability_curve_agrees_with_scikit_learn_and_counts_every_pair():
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(7)
    (p,), y = _overconfident_binary(2000, rng)
    p[:3] = [0.0, 0.5, 1.0]  # bin edges
    curve = reliability_curve(p, y, n_bins=10)
    observed, predicted = calibration_curve(y, p, n_bins=10)
    np.testing.assert_allclose([b["observed"] for b in curve], observed, atol=1e-12)
    np.testing.assert_allclose([b["mean_predicted"] for b in curve], predicted, atol=1e-12)
    assert sum(b["count"] for b in curve) == 2000
    pm, ym = _sharpened_multiclass(500, rng)
    top = reliability_curve(pm, ym)
    assert sum(b["count"] for b in top) == 500 and all(0 <= b["observed"] <= 1 for b in top)


def test_prediction_sets_cover_their_confidence_on_held_out_pairs_as_crepes_would():
    rng = np.random.default_rng(8)
    (pv,), yv = _overconfident_binary(3000, rng)
    (pt,), yt = _overconfident_binary(3000, rng)
    mv, ymv = _sharpened_multiclass(3000, rng)
    mt, ymt = _sharpened_multiclass(3000, rng)
    for (v, y_v), (t, y_t) in (((pv, yv), (pt, yt)), ((mv, ymv), (mt, ymt))):
        fitted = fit_prediction_sets(v, y_v)
        m = prediction_set_metrics(prediction_sets(t, fitted, 0.9), y_t)
        assert 0.87 <= m["coverage"] <= 0.93, m
        assert 1 <= m["mean_size"] < t.reshape(len(t), -1).shape[1] + 1
        low = prediction_set_metrics(prediction_sets(t, fitted, 0.5), y_t)
        assert low["mean_size"] < m["mean_size"] and 0.46 <= low["coverage"] <= 0.54
    # the p-values are the split-conformal ones: (validation scores >= the label's score, + 1) / (n + 1)
    fitted = fit_prediction_sets(mv, ymv)
    scores = 1 - mv[np.arange(len(ymv)), ymv]
    brute = np.array([[(np.sum(scores >= 1 - q) + 1) / (len(scores) + 1) for q in row] for row in mt[:50]])
    np.testing.assert_array_equal(conformal_p_values(mt[:50], fitted), brute)
    crepes = pytest.importorskip("crepes")  # the reference implementation, where installed
    for v, y_v, t in ((pv, yv, pt), (mv, ymv, mt[:300])):
        two = lambda a: np.column_stack([1 - a, a]) if a.ndim == 1 else a  # noqa: E731
        k = two(v).shape[1]
        from crepes.extras import hinge

        cc = crepes.ConformalClassifier().fit(hinge(two(v), np.arange(k), y_v))
        fitted = fit_prediction_sets(v, y_v)
        np.testing.assert_array_equal(conformal_p_values(t, fitted), cc.predict_p(hinge(two(t)), smoothing=False))
        for confidence in (0.8, 0.9, 0.95):
            np.testing.assert_array_equal(prediction_sets(t, fitted, confidence),
                                          cc.predict_set(hinge(two(t)), confidence=confidence, smoothing=False))


def test_venn_abers_interval_is_the_isotonic_fit_with_the_new_pair_labelled_0_and_1():
    from sklearn.isotonic import IsotonicRegression

    before = np.geterr()
    rng = np.random.default_rng(9)
    (pv,), yv = _overconfident_binary(200, rng)
    fitted = fit_probability_interval(pv, yv)
    assert np.geterr() == before  # venn_abers' import-time np.seterr does not leak
    assert json.loads(json.dumps(fitted)) == fitted
    pt = np.r_[rng.random(40), 0.0, 1.0, pv[:5]]
    out = probability_interval(pt, fitted)
    iso = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip")
    for i, s in enumerate(pt):
        p0 = iso.fit(np.r_[pv, s], np.r_[yv, 0]).predict([s])[0]
        p1 = iso.fit(np.r_[pv, s], np.r_[yv, 1]).predict([s])[0]
        assert (out["low"][i], out["high"][i]) == pytest.approx((p0, p1), abs=1e-12)
    assert (out["low"] <= out["p"]).all() and (out["p"] <= out["high"]).all()
    assert (out["low"] >= 0).all() and (out["high"] <= 1).all()
    # more validation pairs, narrower intervals
    (big,), ybig = _overconfident_binary(5000, rng)
    wide = probability_interval(pt, fitted)
    narrow = probability_interval(pt, fit_probability_interval(big, ybig))
    assert np.mean(narrow["high"] - narrow["low"]) < np.mean(wide["high"] - wide["low"]) / 2


def test_summary_of_an_ensemble_is_plain_json_fitted_on_validation_and_measured_on_test(tmp_path):
    rng = np.random.default_rng(10)
    pv, yv = _overconfident_binary(3000, rng, models=3, noise=0.3)
    pt, yt = _overconfident_binary(3000, rng, models=3, noise=0.3)
    s = classification_calibration_summary(pv, yv, pt, yt)
    assert json.loads(json.dumps(s)) == s  # no numpy types anywhere
    assert s["kind"] == "binary" and s["models"] == 3 and s["test_pairs"] == 3000 and s["validation_pairs"] == 3000
    assert s["calibration"]["method"] == "isotonic" and s["calibration"]["validation_pairs"] == 3000
    assert s["after"]["ece"] < s["before"]["ece"] / 3 and s["after"]["brier"] < s["before"]["brier"]
    assert s["after"]["log_loss"] < s["before"]["log_loss"]
    assert s["after"]["auroc"] == pytest.approx(s["before"]["auroc"], abs=0.01)
    assert 0 < s["ensemble_spread"]["mean_sd"] < 0.1
    assert set(s["prediction_sets"]) == {"0.8", "0.95"}
    assert 0.77 <= s["prediction_sets"]["0.8"]["coverage"] <= 0.83
    assert s["probability_interval"]["mean_width"] < 0.05 and s["probability_interval"]["ece"] < 0.05
    assert sum(b["count"] for b in s["reliability"]["after"]) == 3000
    png = reliability_figure(s, tmp_path / "reliability.png")
    assert png[:4] == b"\x89PNG" and (tmp_path / "reliability.png").read_bytes() == png

    one = classification_calibration_summary(pv[:1], yv, pt[:1], yt, method="platt")
    assert one["models"] == 1 and one["ensemble_spread"] is None and one["after"]["ece"] < one["before"]["ece"] / 3

    mv, ymv = _sharpened_multiclass(2000, rng)
    mt, ymt = _sharpened_multiclass(2000, rng)
    m = classification_calibration_summary(mv[None], ymv, mt[None], ymt, levels=(0.9,))
    assert m["kind"] == "multiclass" and m["classes"] == 5 and m["probability_interval"] is None
    assert m["calibration"]["temperature"] == pytest.approx(3.0, abs=0.25)
    assert m["after"]["accuracy"] == m["before"]["accuracy"] and m["after"]["ece"] < m["before"]["ece"] / 4
    assert 0.87 <= m["prediction_sets"]["0.9"]["coverage"] <= 0.93
    assert reliability_figure(m)[:4] == b"\x89PNG"


def test_a_validation_part_with_one_label_says_which_label_is_missing():
    rng = np.random.default_rng(11)
    p = rng.random(200)
    for fit in (fit_probability_calibration, fit_probability_interval, fit_prediction_sets):
        with pytest.raises(InputError, match="no pair with label 1"):
            fit(p, np.zeros(200, int))
        with pytest.raises(InputError, match="no pair with label 0"):
            fit(p, np.ones(200, int))
    with pytest.raises(InputError, match="validation part: all 200 pairs have label 0"):
        classification_calibration_summary(p[None], np.zeros(200, int), p[None], np.r_[np.zeros(100, int),
                                                                                       np.ones(100, int)])


def test_bad_inputs_are_named():
    rng = np.random.default_rng(12)
    y = rng.integers(0, 2, 100)
    with pytest.raises(InputError, match="pass probabilities, not logits"):
        fit_probability_calibration(rng.normal(0, 3, 100), y)
    with pytest.raises(InputError, match="must sum to 1"):
        fit_probability_calibration(rng.random((100, 3)), rng.integers(0, 3, 100))
    with pytest.raises(InputError, match=r"labels must lie in 0 \.\. 1"):
        fit_probability_calibration(rng.random(100), y + 1)
    with pytest.raises(InputError, match="expected 100 labels"):
        fit_probability_calibration(rng.random(100), y[:50])
    pm, ym = _sharpened_multiclass(100, rng)
    with pytest.raises(InputError, match="'platt' is for binary labels"):
        fit_probability_calibration(pm, ym, "platt")
    with pytest.raises(InputError, match="unknown calibration method 'beta'"):
        fit_probability_calibration(rng.random(100), y, "beta")
    with pytest.raises(InputError, match="fitted on 5 classes"):
        prediction_sets(rng.random(10), fit_prediction_sets(pm, ym))
