"""The alert threshold and the decision bands, chosen on validation data.

A bank states its policy one of two ways, and the threshold follows from it on held-out data:

- a **target precision** P: alert on as much as possible while at least P of the alerts are fraud,
  i.e. the lowest threshold whose validation precision is still >= P (most recall for that P);
- an **alert budget** B per 1,000 transactions: the analysts can look at B of every 1,000, so the
  threshold lets through at most that share of validation transactions.

Bands: a score at or above `alert` goes to *review*; at or above `block`, where validation precision
reaches `block_precision` (default: halfway from the alert precision to 1, at least 0.9), the
payment can be *blocked*. When no threshold reaches that precision, the block band is empty (inf).

All thresholds are on calibrated probabilities, so they mean the same after a recalibration that
keeps the ranking. Stored as `thresholds.json`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

Policy = Literal["target_precision", "alert_budget"]

DEFAULT_TARGET_PRECISION = 0.5


@dataclass(frozen=True, slots=True)
class Bands:
    review: float
    block: float
    """math.inf when no score qualifies for blocking."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    alert: float
    block: float
    policy: Policy
    target: float
    """The target precision, or the budget in alerts per 1,000 transactions."""
    precision: float
    """Achieved on validation at `alert`."""
    recall: float
    alerts_per_1000: float
    block_precision: float
    met: bool
    """Whether the validation data allowed the target to be met."""

    @property
    def bands(self) -> Bands:
        return Bands(review=self.alert, block=self.block)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        # JSON has no infinity; null means "never block".
        data["block"] = None if math.isinf(self.block) else self.block
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Thresholds:
        values = dict(data)
        values["block"] = math.inf if values.get("block") is None else float(values["block"])
        if values.get("policy") not in ("target_precision", "alert_budget"):
            raise ValueError(f"unknown threshold policy {values.get('policy')!r}")
        return cls(**values)


def choose_thresholds(
    probs: np.ndarray,
    labels: np.ndarray,
    *,
    target_precision: float | None = None,
    alert_budget: float | None = None,
    block_precision: float | None = None,
) -> Thresholds:
    if target_precision is not None and alert_budget is not None:
        raise ValueError("give a target precision or an alert budget, not both")
    if target_precision is None and alert_budget is None:
        target_precision = DEFAULT_TARGET_PRECISION
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64)
    if len(p) == 0:
        raise ValueError("no validation rows to choose a threshold on")
    curve = _Curve(p, y)

    if target_precision is not None:
        if not 0 < target_precision <= 1:
            raise ValueError("target precision must be in (0, 1]")
        k, met = curve.most_alerts_at_precision(target_precision)
        policy: Policy = "target_precision"
        target = target_precision
    else:
        assert alert_budget is not None
        if alert_budget <= 0:
            raise ValueError("alert budget must be positive")
        k = curve.most_alerts_within(math.floor(alert_budget / 1000 * len(p)))
        met = k > 0
        policy, target = "alert_budget", alert_budget

    alert = curve.threshold(k)
    precision = curve.precision(k)
    if block_precision is None:
        block_precision = max(0.9, precision + (1 - precision) / 2)
    kb, block_met = curve.most_alerts_at_precision(block_precision)
    block = max(curve.threshold(kb), alert) if block_met and kb > 0 else math.inf
    return Thresholds(
        alert=alert,
        block=block,
        policy=policy,
        target=float(target),
        precision=precision,
        recall=curve.recall(k),
        alerts_per_1000=1000.0 * k / len(p),
        block_precision=float(block_precision),
        met=bool(met),
    )


class _Curve:
    """Precision and recall of "alert on the top k", evaluated only at k that end a tie group
    (a threshold cannot split equal scores)."""

    def __init__(self, probs: np.ndarray, labels: np.ndarray) -> None:
        order = np.argsort(-probs, kind="stable")
        self.scores = probs[order]
        self.tp = np.cumsum(labels[order])
        self.n_pos = int(labels.sum())
        last_of_tie = np.r_[self.scores[1:] != self.scores[:-1], True]
        self.ks = np.flatnonzero(last_of_tie) + 1  # valid alert counts, increasing

    def precision(self, k: int) -> float:
        return float(self.tp[k - 1] / k) if k > 0 else 1.0

    def recall(self, k: int) -> float:
        return float(self.tp[k - 1] / self.n_pos) if k > 0 and self.n_pos else 0.0

    def threshold(self, k: int) -> float:
        # Alert when score >= threshold; with k == 0, just above the highest score.
        return float(self.scores[k - 1]) if k > 0 else float(np.nextafter(self.scores[0], np.inf))

    def most_alerts_at_precision(self, target: float) -> tuple[int, bool]:
        precisions = self.tp[self.ks - 1] / self.ks
        ok = np.flatnonzero(precisions >= target - 1e-12)
        if ok.size:
            return int(self.ks[ok[-1]]), True
        # Unreachable: the most precise threshold, the largest such k on ties.
        best = np.flatnonzero(precisions == precisions.max())[-1]
        return int(self.ks[best]), False

    def most_alerts_within(self, budget: int) -> int:
        fits = self.ks[self.ks <= budget]
        return int(fits[-1]) if fits.size else 0
