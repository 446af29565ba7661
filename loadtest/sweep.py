"""Finding the highest arrival rate whose p99 stays within the budget (pure).

Theory of operation
-------------------
`SweepSearch` proposes rates and is told whether each step passed:

1. **Ramp**: from `start`, multiply by `factor` while steps pass (capped at `max_rate`). If the
   very first step fails, divide by `factor` instead until one passes or `min_rate` is reached.
2. **Bisect** between the highest passing rate `lo` and the lowest failing rate `hi`, at their
   geometric mean rounded to three significant digits, until `hi / lo <= 1 + precision`, the
   rounded middle equals an end, or `max_steps` steps have run.

The answer (`best`) is the highest rate that passed below every failing rate: a noisy pass above
a failure never counts. `judge` is the pass rule for one step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


def round_rate(rate: float, digits: int = 3) -> float:
    """`rate` rounded to `digits` significant digits (rates are shown and reused as given)."""
    if rate <= 0:
        return rate
    scale = 10 ** (digits - 1 - math.floor(math.log10(rate)))
    return round(rate * scale) / scale


@dataclass(frozen=True, slots=True)
class Verdict:
    passed: bool
    reason: str


def judge(
    *,
    p99_ms: float | None,
    budget_ms: float,
    sent: int,
    planned: int,
    missing: int,
    send_errors: int,
    aborted: bool,
) -> Verdict:
    """A step passes when everything planned was sent and scored and p99 is within budget."""
    if aborted:
        return Verdict(False, "aborted: enough records were late that p99 exceeds the budget")
    if send_errors:
        return Verdict(False, f"{send_errors} records could not be sent")
    if sent < planned:
        return Verdict(False, f"only {sent} of {planned} records were sent")
    if missing:
        return Verdict(False, f"{missing} records were never scored within the drain time")
    if p99_ms is None or math.isnan(p99_ms):
        return Verdict(False, "no latency measured")
    if p99_ms > budget_ms:
        return Verdict(False, f"p99 {p99_ms:.1f} ms > budget {budget_ms:g} ms")
    return Verdict(True, f"p99 {p99_ms:.1f} ms <= budget {budget_ms:g} ms")


@dataclass
class SweepSearch:
    start: float
    factor: float = 2.0
    max_rate: float = 100_000.0
    min_rate: float = 10.0
    precision: float = 0.1
    max_steps: int = 12
    history: list[tuple[float, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.start > 0 or not self.factor > 1 or not self.precision > 0:
            raise ValueError("start > 0, factor > 1 and precision > 0 are required")
        if not 0 < self.min_rate <= self.start <= self.max_rate:
            raise ValueError("min_rate <= start <= max_rate is required")

    @property
    def lo(self) -> float | None:
        """The highest passing rate below every failing rate."""
        hi = self.hi
        passed = [r for r, ok in self.history if ok and (hi is None or r < hi)]
        return max(passed) if passed else None

    @property
    def hi(self) -> float | None:
        """The lowest failing rate."""
        failed = [r for r, ok in self.history if not ok]
        return min(failed) if failed else None

    @property
    def best(self) -> float | None:
        return self.lo

    def record(self, rate: float, passed: bool) -> None:
        self.history.append((rate, passed))

    def next_rate(self) -> float | None:
        """The next rate to try, or None when the search is over."""
        if len(self.history) >= self.max_steps:
            return None
        if not self.history:
            return round_rate(self.start)
        tried = {r for r, _ in self.history}
        lo, hi = self.lo, self.hi
        if hi is None:  # everything passed so far: ramp up
            assert lo is not None
            if lo >= self.max_rate:
                return None
            return round_rate(min(self.max_rate, lo * self.factor))
        if lo is None:  # everything failed so far: ramp down
            nxt = round_rate(hi / self.factor)
            return None if nxt < self.min_rate or nxt in tried else nxt
        if hi / lo <= 1 + self.precision:
            return None
        mid = round_rate(math.sqrt(lo * hi))
        if mid <= lo or mid >= hi or mid in tried:
            return None
        return mid

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "factor": self.factor,
            "max_rate": self.max_rate,
            "precision": self.precision,
            "max_steps": self.max_steps,
            "best": self.best,
            "lowest_failing": self.hi,
            "history": [{"rate": r, "passed": ok} for r, ok in self.history],
        }
