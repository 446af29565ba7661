"""The numpy metrics agree with scikit-learn, and Card Precision@k with the handbook's definition."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    roc_auc_score,
    roc_curve,
)
from sklearn.metrics import precision_recall_curve as sk_pr_curve

from fraudstream.model.metrics import (
    average_precision,
    brier_score,
    calibration_bins,
    card_precision_at_k,
    classification_report,
    expected_calibration_error,
    precision_recall_curve,
    recall_at_fpr,
    roc_auc,
)


def cases():
    rng = np.random.default_rng(7)
    for n, rate, decimals in [(50, 0.3, 1), (1000, 0.02, 2), (5000, 0.01, 6), (300, 0.5, 0)]:
        y = (rng.random(n) < rate).astype(np.int8)
        y[0], y[1] = 1, 0  # both classes present
        raw = rng.random(n) * 0.6 + y * rng.random(n) * 0.4
        # Rounding makes ties, the case where the definitions usually part ways.
        yield y, np.round(raw, decimals)


@pytest.mark.parametrize(("y", "s"), list(cases()))
def test_ranking_metrics_agree_with_sklearn(y, s):
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    for limit in (0.0, 0.01, 0.05, 0.3):
        assert recall_at_fpr(y, s, limit) == pytest.approx(tpr[fpr <= limit].max(), abs=1e-12)


@pytest.mark.parametrize(("y", "s"), list(cases()))
def test_pr_curve_agrees_with_sklearn(y, s):
    ours = precision_recall_curve(y, s)
    prec, rec, thr = sk_pr_curve(y, s)
    # scikit-learn lists the thresholds lowest first and stops once recall reaches 1.
    n = thr.size
    np.testing.assert_allclose(ours.thresholds[::-1][:n], thr)
    np.testing.assert_allclose(ours.precision[1:][::-1][:n], prec[:-1])
    np.testing.assert_allclose(ours.recall[1:][::-1][:n], rec[:-1])


@pytest.mark.parametrize(("y", "s"), list(cases()))
def test_calibration_metrics_agree_with_sklearn(y, s):
    p = np.clip(s, 0.0, 1.0)
    assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    for n_bins in (5, 10, 15):
        prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
        bins = calibration_bins(y, p, n_bins)
        np.testing.assert_allclose(bins.fraction_positive, prob_true)
        np.testing.assert_allclose(bins.mean_predicted, prob_pred)
        ece = float(np.sum(bins.count / y.size * np.abs(prob_true - prob_pred)))
        assert expected_calibration_error(y, p, n_bins) == pytest.approx(ece, abs=1e-12)
        assert bins.count.sum() == y.size
        prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy="quantile")
        bins = calibration_bins(y, p, n_bins, strategy="quantile")
        np.testing.assert_allclose(bins.fraction_positive, prob_true)
        np.testing.assert_allclose(bins.mean_predicted, prob_pred)


def test_ece_of_a_perfectly_calibrated_scorer_is_zero():
    y = np.array([0, 0, 0, 1] * 25, dtype=np.int8)
    assert expected_calibration_error(y, np.full(100, 0.25)) == pytest.approx(0.0)
    assert expected_calibration_error(y, np.full(100, 0.75)) == pytest.approx(0.5)


def test_single_class_gives_nan_not_an_exception():
    y = np.zeros(10, dtype=np.int8)
    s = np.linspace(0, 1, 10)
    assert math.isnan(roc_auc(y, s))
    assert math.isnan(average_precision(y, s))
    assert math.isnan(recall_at_fpr(y, s))


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="0 or 1"):
        roc_auc([0, 1, -1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="finite"):
        average_precision([0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError, match="shape"):
        average_precision([0, 1], [0.1])


# --- Card Precision@k --------------------------------------------------------------------------


def handbook_card_precision(y, s, cards, days, k):
    """A line-by-line transcription of the handbook's `card_precision_top_k` without pandas."""
    detected: list = []
    per_day = []
    for day in sorted(set(days)):
        rows = [i for i in range(len(y)) if days[i] == day and cards[i] not in detected]
        best: dict = {}
        fraud: dict = {}
        for i in rows:  # groupby('CUSTOMER_ID').max()
            best[cards[i]] = max(best.get(cards[i], -math.inf), s[i])
            fraud[cards[i]] = max(fraud.get(cards[i], 0), y[i])
        ranked = sorted(sorted(best), key=lambda c: -best[c])[:k]
        found = [c for c in ranked if fraud[c] == 1]
        per_day.append(len(found) / k)
        detected.extend(found)
    return per_day


def test_card_precision_hand_example():
    # Day 0: cards a (fraud, 0.9), b (0.8), c (fraud, 0.1). Top 2 = a, b -> 1/2; a is detected.
    # Day 1: a again (fraud, 0.99) is removed; d (fraud, 0.7), e (0.2) -> top 2 = d, e -> 1/2.
    # Day 2: c (fraud) is still in play: it was compromised but never detected -> 1/2.
    y = [1, 0, 1, 1, 1, 0, 1, 0]
    s = [0.9, 0.8, 0.1, 0.99, 0.7, 0.2, 0.6, 0.1]
    cards = ["a", "b", "c", "a", "d", "e", "c", "b"]
    days = [0, 0, 0, 1, 1, 1, 2, 2]
    cp = card_precision_at_k(y, s, cards, days, k=2)
    assert cp.per_day == [0.5, 0.5, 0.5]
    assert cp.compromised_per_day == [2, 1, 1]
    assert cp.mean == pytest.approx(0.5)
    # Without removal, card a counts again on day 1.
    assert card_precision_at_k(y, s, cards, days, k=2, remove_detected=False).per_day[1] == 1.0


def test_card_precision_uses_the_highest_score_of_the_day_and_divides_by_k():
    # Card x has one weak and one strong transaction; the fraud flag is per card, per day.
    y = [0, 1, 0]
    s = [0.95, 0.05, 0.5]
    cards = ["x", "x", "y"]
    days = [3, 3, 3]
    cp = card_precision_at_k(y, s, cards, days, k=1)
    assert cp.per_day == [1.0]
    # Fewer cards than k: still divided by k.
    assert card_precision_at_k(y, s, cards, days, k=100).per_day == [0.01]


def test_card_precision_matches_the_handbook_transcription():
    rng = np.random.default_rng(3)
    n = 3000
    cards = rng.integers(0, 300, n)
    days = rng.integers(0, 7, n)
    y = (rng.random(n) < 0.05).astype(np.int8)
    s = np.round(rng.random(n) * 0.7 + 0.3 * y, 2)  # ties on purpose
    cp = card_precision_at_k(y, s, cards, days, k=20)
    expected = handbook_card_precision(y.tolist(), s.tolist(), cards.tolist(), days.tolist(), 20)
    assert cp.per_day == pytest.approx(expected)
    assert cp.mean == pytest.approx(np.mean(expected))


def test_classification_report_has_all_figures():
    y = np.array([0, 1, 0, 1, 0, 0], dtype=np.int8)
    p = np.array([0.1, 0.8, 0.3, 0.6, 0.2, 0.05])
    rep = classification_report(y, p, cards=["a", "b", "c", "d", "e", "f"], days=[0] * 6, k=2)
    for key in (
        "roc_auc",
        "average_precision",
        "recall_at_1pct_fpr",
        "ece",
        "brier",
        "card_precision_at_2",
    ):
        assert key in rep
    assert rep["roc_auc"] == 1.0
    assert rep["card_precision_at_2"] == 1.0
