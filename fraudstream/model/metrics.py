"""Quality metrics of a fraud scorer, in numpy alone.

Every metric here is the published definition, checked against scikit-learn in
`tests/unit/test_metrics.py` (scikit-learn is a test-time oracle, not a run-time dependency):

- `roc_auc`: area under the ROC curve, ties counted half (Mann-Whitney), as
  `sklearn.metrics.roc_auc_score`.
- `average_precision`: sum over distinct thresholds of (R_n - R_{n-1}) * P_n, without
  interpolation, as `sklearn.metrics.average_precision_score`.
- `recall_at_fpr`: the highest true-positive rate on the ROC curve whose false-positive rate does
  not exceed the limit (1% by default).
- `card_precision_at_k`: the *Card Precision@k* of the Fraud Detection Handbook
  (Le Borgne et al., chapters 3.4 and 4.3, `card_precision_top_k`): each day, every card gets its
  highest score of the day and is compromised if it had at least one fraud that day; the k
  highest-ranked cards are taken and the share of compromised ones among k is that day's
  precision; the figure is the mean over days. A card found compromised in some day's top k is
  removed from the following days (the investigators already know it).
- `expected_calibration_error` (uniform bins, weighted by bin size) and `brier_score`.

Undefined cases (a single class present) give NaN rather than raising: an evaluation run on a tiny
or odd slice should still write its report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


def _as_binary(y_true: ArrayLike) -> NDArray[np.int8]:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {y.shape}")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1 (drop unknown labels before scoring)")
    return y.astype(np.int8, copy=False)


def _as_scores(y_score: ArrayLike, n: int) -> FloatArray:
    s = np.asarray(y_score, dtype=np.float64)
    if s.shape != (n,):
        raise ValueError(f"scores must have shape ({n},), got {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    return s


def _threshold_counts(y: NDArray[np.int8], s: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Cumulative (false positives, true positives) at each distinct score, highest first."""
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    y_sorted = y[order].astype(np.float64)
    # The last index of each run of equal scores: a threshold admits the whole run at once.
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), y.size - 1]
    tps = np.cumsum(y_sorted)[last]
    fps = (last + 1) - tps
    return fps, tps


def roc_auc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    y = _as_binary(y_true)
    s = _as_scores(y_score, y.size)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    # Average ranks of tied scores (1-based): the Mann-Whitney U statistic counts ties as 1/2.
    order = np.argsort(s, kind="mergesort")
    s_sorted = s[order]
    starts = np.r_[0, np.flatnonzero(np.diff(s_sorted)) + 1]
    ends = np.r_[starts[1:], s.size]
    run_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(s.size, dtype=np.float64)
    ranks[order] = np.repeat(run_rank, ends - starts)
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def average_precision(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Average precision, scikit-learn's definition (no interpolation); NaN without positives."""
    y = _as_binary(y_true)
    s = _as_scores(y_score, y.size)
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    fps, tps = _threshold_counts(y, s)
    precision = tps / (tps + fps)
    recall = tps / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def recall_at_fpr(y_true: ArrayLike, y_score: ArrayLike, max_fpr: float = 0.01) -> float:
    """Highest recall (true-positive rate) reachable with a false-positive rate <= `max_fpr`."""
    y = _as_binary(y_true)
    s = _as_scores(y_score, y.size)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    fps, tps = _threshold_counts(y, s)
    ok = fps / n_neg <= max_fpr
    # The ROC curve starts at (0, 0): with no admissible threshold the recall is 0.
    return float(tps[ok].max() / n_pos) if ok.any() else 0.0


def brier_score(y_true: ArrayLike, y_prob: ArrayLike) -> float:
    """Mean squared difference between the predicted probability and the outcome."""
    y = _as_binary(y_true)
    p = _as_scores(y_prob, y.size)
    if y.size == 0:
        return float("nan")
    return float(np.mean((p - y) ** 2))


@dataclass(frozen=True, slots=True)
class CalibrationBins:
    """Reliability-diagram data over uniform bins of [0, 1]; empty bins are left out."""

    mean_predicted: FloatArray
    fraction_positive: FloatArray
    count: NDArray[np.int64]


def calibration_bins(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    n_bins: int = 15,
    strategy: Literal["uniform", "quantile"] = "uniform",
) -> CalibrationBins:
    """Per-bin mean probability and observed positive rate (as `sklearn.calibration_curve`).

    `uniform`: bins of equal width over [0, 1]; `quantile`: bins of (about) equal count, which
    reads better when nearly all probabilities are tiny, as they are for fraud.
    """
    y = _as_binary(y_true)
    p = _as_scores(y_prob, y.size)
    if ((p < 0) | (p > 1)).any():
        raise ValueError("probabilities must lie in [0, 1]")
    if strategy == "quantile":
        edges = np.percentile(p, np.linspace(0, 1, n_bins + 1) * 100) if p.size else np.zeros(2)
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        raise ValueError(f"unknown strategy {strategy!r}")
    # Same binning as scikit-learn: a probability on an inner edge belongs to the lower bin.
    ids = np.searchsorted(edges[1:-1], p)
    n_out = edges.size - 1
    count = np.bincount(ids, minlength=n_out)
    sum_p = np.bincount(ids, weights=p, minlength=n_out)
    sum_y = np.bincount(ids, weights=y.astype(np.float64), minlength=n_out)
    keep = count > 0
    return CalibrationBins(
        mean_predicted=sum_p[keep] / count[keep],
        fraction_positive=sum_y[keep] / count[keep],
        count=count[keep].astype(np.int64),
    )


def expected_calibration_error(y_true: ArrayLike, y_prob: ArrayLike, n_bins: int = 15) -> float:
    """Sum over uniform bins of (bin share) * |observed positive rate - mean probability|."""
    bins = calibration_bins(y_true, y_prob, n_bins)
    total = int(bins.count.sum())
    if total == 0:
        return float("nan")
    gap = np.abs(bins.fraction_positive - bins.mean_predicted)
    return float(np.sum(bins.count / total * gap))


@dataclass(frozen=True, slots=True)
class PrecisionRecallCurve:
    precision: FloatArray
    recall: FloatArray
    thresholds: FloatArray


def precision_recall_curve(y_true: ArrayLike, y_score: ArrayLike) -> PrecisionRecallCurve:
    """Precision and recall at each distinct threshold, highest threshold first."""
    y = _as_binary(y_true)
    s = _as_scores(y_score, y.size)
    n_pos = max(int(y.sum()), 1)
    fps, tps = _threshold_counts(y, s)
    thresholds = np.unique(s)[::-1]
    return PrecisionRecallCurve(
        precision=np.r_[1.0, tps / (tps + fps)],
        recall=np.r_[0.0, tps / n_pos],
        thresholds=thresholds,
    )


@dataclass(frozen=True, slots=True)
class CardPrecision:
    mean: float
    """Card Precision@k averaged over the days."""
    k: int
    days: list[int] = field(default_factory=list)
    per_day: list[float] = field(default_factory=list)
    compromised_per_day: list[int] = field(default_factory=list)
    """Compromised cards still in play each day (after removing the already detected ones)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "k": self.k,
            "days": self.days,
            "per_day": self.per_day,
            "compromised_per_day": self.compromised_per_day,
        }


def card_precision_at_k(
    y_true: ArrayLike,
    y_score: ArrayLike,
    cards: ArrayLike,
    days: ArrayLike,
    k: int = 100,
    *,
    remove_detected: bool = True,
) -> CardPrecision:
    """The handbook's Card Precision@k (`card_precision_top_k`), see the module docstring.

    `days` is any integer day index (the handbook's `TX_TIME_DAYS`); `cards` any hashable keys
    (the handbook's `CUSTOMER_ID`). The precision of a day divides by k even when fewer than k
    cards transacted, as the handbook does. Ties between equal card scores are broken by the
    card key, ascending (the handbook's pandas sort leaves them unspecified).
    """
    if k <= 0:
        raise ValueError("k must be positive")
    y = _as_binary(y_true)
    s = _as_scores(y_score, y.size)
    card_keys = np.asarray(cards)
    day_index = np.asarray(days).astype(np.int64)
    if card_keys.shape != (y.size,) or day_index.shape != (y.size,):
        raise ValueError("cards and days must have one entry per transaction")
    if y.size == 0:
        return CardPrecision(mean=float("nan"), k=k)

    # Integer card codes, in the keys' sort order (so that code order is key order for ties).
    _, card_code = np.unique(card_keys, return_inverse=True)
    card_code = card_code.reshape(-1)
    detected = np.zeros(int(card_code.max()) + 1, dtype=bool)

    out_days: list[int] = []
    per_day: list[float] = []
    compromised: list[int] = []
    for day in np.unique(day_index):
        rows = np.flatnonzero((day_index == day) & ~detected[card_code])
        codes = card_code[rows]
        # Per card: highest score and whether any of its transactions that day was a fraud.
        uniq, inv = np.unique(codes, return_inverse=True)
        best = np.full(uniq.size, -np.inf)
        np.maximum.at(best, inv, s[rows])
        fraud = np.zeros(uniq.size, dtype=bool)
        fraud[inv[y[rows] == 1]] = True
        # Stable sort on the negated score keeps ascending card order among ties.
        top = np.argsort(-best, kind="mergesort")[:k]
        found = uniq[top][fraud[top]]
        out_days.append(int(day))
        per_day.append(found.size / k)
        compromised.append(int(fraud.sum()))
        if remove_detected:
            detected[found] = True
    return CardPrecision(
        mean=float(np.mean(per_day)),
        k=k,
        days=out_days,
        per_day=per_day,
        compromised_per_day=compromised,
    )


def classification_report(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    cards: ArrayLike | None = None,
    days: ArrayLike | None = None,
    k: int = 100,
    max_fpr: float = 0.01,
    n_bins: int = 15,
) -> dict[str, Any]:
    """All the figures of an evaluation report for one scorer, as a JSON-ready dict."""
    y = _as_binary(y_true)
    p = _as_scores(y_prob, y.size)
    report: dict[str, Any] = {
        "transactions": int(y.size),
        "frauds": int(y.sum()),
        "roc_auc": roc_auc(y, p),
        "average_precision": average_precision(y, p),
        f"recall_at_{max_fpr * 100:g}pct_fpr": recall_at_fpr(y, p, max_fpr),
        "ece": expected_calibration_error(y, p, n_bins),
        "ece_bins": n_bins,
        "brier": brier_score(y, p),
    }
    if cards is not None and days is not None:
        cp = card_precision_at_k(y, p, cards, days, k)
        report[f"card_precision_at_{k}"] = cp.mean
        report[f"card_precision_at_{k}_per_day"] = cp.per_day
        report["compromised_cards_per_day"] = cp.compromised_per_day
    return report
