"""Drift watch: the live score distribution and alert rate against the model card's validation
figures.

Theory of operation
-------------------
At training time the card records, for the validation set, the share of scores that fell in each
bin of `SCORE_EDGES` and the alert rate at the chosen threshold (`score_distribution`). At run
time `DriftWatch` keeps the same histogram over a sliding window of the most recent scores and
compares the two:

* **score distribution**: the population stability index (PSI) between the validation shares and
  the window's shares, the usual credit-risk measure (below 0.1 stable, 0.1 to 0.25 moving,
  above 0.25 a different population). It warns above `psi_bound`.
* **alert rate**: the window's share of alerts over the validation one. It warns when the ratio
  leaves `[1 / alert_rate_factor, alert_rate_factor]`.

Nothing is judged before the window holds `min_samples` scores: a handful of scores says nothing
about a distribution, and a warning that flaps at start-up teaches people to ignore it.

Pure: no clock, no I/O, no numpy (the training side passes a numpy array, which iterates).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Fraud scores crowd near zero: fine bins there, coarse ones above the usual thresholds.
SCORE_EDGES: tuple[float, ...] = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0)
BINS = len(SCORE_EDGES) - 1
# PSI is undefined for an empty bin; a small floor is the common remedy.
_FLOOR = 1e-4


def bin_of(score: float) -> int:
    """Index of the bin holding `score` (scores outside [0, 1] go to the end bins)."""
    return min(BINS - 1, max(0, bisect_right(SCORE_EDGES, score) - 1))


def score_distribution(scores: Iterable[float], alert_threshold: float) -> dict[str, Any]:
    """What the model card stores about the validation scores (see the module docstring)."""
    counts = [0] * BINS
    alerts = 0
    n = 0
    for s in scores:
        value = float(s)
        counts[bin_of(value)] += 1
        alerts += value >= alert_threshold
        n += 1
    return {
        "edges": list(SCORE_EDGES),
        "shares": [round(c / n, 6) if n else 0.0 for c in counts],
        "alert_rate": round(alerts / n, 6) if n else 0.0,
        "rows": n,
    }


def psi(expected: Iterable[float], actual: Iterable[float]) -> float:
    """Population stability index between two lists of bin shares."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, _FLOOR), max(a, _FLOOR)
        total += (a - e) * math.log(a / e)
    return total


@dataclass(frozen=True, slots=True)
class Reference:
    """The validation figures a live stream is compared with."""

    shares: tuple[float, ...] | None
    """Share of validation scores per bin of SCORE_EDGES; None when the card has none."""
    alert_rate: float | None
    source: str
    """Where the figures came from, for the page (e.g. 'model card metrics.cascade')."""

    @classmethod
    def from_card(cls, card: Mapping[str, Any] | None) -> Reference | None:
        """The figures from a model card: the cascade's when the model has one (that is what the
        stream serves), else the language model's; the alert rate falls back to the thresholds'
        `alerts_per_1000`. None when the card has neither (an old or a fake model)."""
        if not card:
            return None
        metrics = card.get("metrics") or {}
        for section in ("cascade", "validation"):
            dist = (metrics.get(section) or {}).get("score_distribution")
            if isinstance(dist, Mapping) and list(dist.get("edges", [])) == list(SCORE_EDGES):
                shares = tuple(float(x) for x in dist["shares"])
                rate = dist.get("alert_rate")
                return cls(shares, float(rate) if rate is not None else None, f"metrics.{section}")
        per_1000 = (card.get("thresholds") or {}).get("alerts_per_1000")
        if per_1000 is None:
            return None
        return cls(None, float(per_1000) / 1000.0, "thresholds.alerts_per_1000")


@dataclass(frozen=True, slots=True)
class DriftStatus:
    samples: int
    ready: bool
    """Whether the window holds enough scores to judge."""
    psi: float | None
    alert_rate: float | None
    expected_alert_rate: float | None
    alert_rate_change: float | None
    score_drift: bool
    alert_rate_drift: bool
    shares: tuple[float, ...]
    expected_shares: tuple[float, ...] | None
    message: str

    @property
    def drifting(self) -> bool:
        return self.score_drift or self.alert_rate_drift

    def as_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "ready": self.ready,
            "psi": None if self.psi is None else round(self.psi, 4),
            "alert_rate": self.alert_rate,
            "expected_alert_rate": self.expected_alert_rate,
            "alert_rate_change": None
            if self.alert_rate_change is None
            else round(self.alert_rate_change, 3),
            "score_drift": self.score_drift,
            "alert_rate_drift": self.alert_rate_drift,
            "drifting": self.drifting,
            "edges": list(SCORE_EDGES),
            "shares": [round(s, 4) for s in self.shares],
            "expected_shares": None if self.expected_shares is None else list(self.expected_shares),
            "message": self.message,
        }


class DriftWatch:
    """A sliding window of the latest `window` scores compared with a `Reference`."""

    def __init__(
        self,
        reference: Reference | None,
        *,
        window: int = 10_000,
        psi_bound: float = 0.25,
        alert_rate_factor: float = 2.0,
        min_samples: int | None = None,
    ) -> None:
        if window < 1 or psi_bound <= 0 or alert_rate_factor <= 1:
            raise ValueError("window >= 1, psi_bound > 0 and alert_rate_factor > 1 are required")
        self.reference = reference
        self.window = window
        self.psi_bound = psi_bound
        self.alert_rate_factor = alert_rate_factor
        self.min_samples = min(window, 1000) if min_samples is None else min_samples
        self._recent: deque[tuple[int, bool]] = deque()
        self._counts = [0] * BINS
        self._alerts = 0

    def observe(self, score: float, alert: bool) -> None:
        b = bin_of(score)
        self._recent.append((b, alert))
        self._counts[b] += 1
        self._alerts += alert
        if len(self._recent) > self.window:
            old, was_alert = self._recent.popleft()
            self._counts[old] -= 1
            self._alerts -= was_alert

    def status(self) -> DriftStatus:
        n = len(self._recent)
        shares = tuple(c / n for c in self._counts) if n else (0.0,) * BINS
        rate = self._alerts / n if n else None
        ref = self.reference
        ready = n >= self.min_samples
        value = psi(ref.shares, shares) if ref and ref.shares and n else None
        expected = ref.alert_rate if ref else None
        ratio = None
        if rate is not None and expected is not None:
            ratio = rate / expected if expected > 0 else (math.inf if rate > 0 else 1.0)
        score_drift = bool(ready and value is not None and value > self.psi_bound)
        rate_drift = bool(
            ready
            and ratio is not None
            and not 1 / self.alert_rate_factor <= ratio <= self.alert_rate_factor
        )
        return DriftStatus(
            samples=n,
            ready=ready,
            psi=value,
            alert_rate=rate,
            expected_alert_rate=expected,
            alert_rate_change=ratio,
            score_drift=score_drift,
            alert_rate_drift=rate_drift,
            shares=shares,
            expected_shares=ref.shares if ref else None,
            message=self._message(n, ready, value, rate, expected, ratio, score_drift, rate_drift),
        )

    def _message(
        self,
        n: int,
        ready: bool,
        value: float | None,
        rate: float | None,
        expected: float | None,
        ratio: float | None,
        score_drift: bool,
        rate_drift: bool,
    ) -> str:
        if self.reference is None:
            return (
                "no validation figures in the model card: retrain with this version of "
                "fraudstream to get the drift watch"
            )
        if not ready:
            return f"collecting scores: {n} of {self.min_samples} before judging drift"
        parts = []
        if score_drift:
            parts.append(
                f"score distribution moved: PSI {value:.3f} over the bound {self.psi_bound:g}"
            )
        if rate_drift and rate is not None and expected is not None:
            parts.append(
                f"alert rate {rate:.2%} against {expected:.2%} on validation "
                f"({ratio:.2f}x, bound {self.alert_rate_factor:g}x)"
            )
        if parts:
            return "DRIFT: " + "; ".join(parts)
        shown = [] if value is None else [f"PSI {value:.3f}"]
        if rate is not None and expected is not None:
            shown.append(f"alert rate {rate:.2%} (validation {expected:.2%})")
        return "within bounds: " + ", ".join(shown)
