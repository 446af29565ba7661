"""The open-loop schedule: record i of a step is *intended* to be sent at `start + i / rate`.

The generator sends every record whose intended time has come and never waits for the processor,
so a slow processor cannot slow the arrivals down (no coordinated omission). Latency is measured
from the intended time, so a generator that falls behind its own schedule shows up as latency too
instead of hiding it; the generator reports how far behind it was (`send_lag`) so a reader can
tell the two apart.

Transaction ids carry the schedule: `<run>-<step>-<index>`, so any reader can recompute a record's
intended time from the step's start and rate without a side channel; the Kafka record timestamp
carries it too (milliseconds), and fraudstream copies that into `source.timestamp_ms`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Slack (seconds) so that `due(intended(i))` counts record i despite rounding: an epoch time in
# seconds has a resolution of about 0.25 us.
_EPS = 1e-6


@dataclass(frozen=True, slots=True)
class Schedule:
    rate: float
    """Records per second."""
    count: int
    start: float
    """Epoch seconds at which record 0 is due."""

    def __post_init__(self) -> None:
        if not self.rate > 0 or not math.isfinite(self.rate):
            raise ValueError(f"rate must be a positive number, got {self.rate}")
        if self.count < 0:
            raise ValueError(f"count must be >= 0, got {self.count}")

    def intended(self, i: int) -> float:
        """When record i is due (epoch seconds)."""
        return self.start + i / self.rate

    def due(self, now: float) -> int:
        """How many records are due at `now`: records 0 .. due(now)-1."""
        if now < self.start:
            return 0
        return min(self.count, math.floor((now - self.start + _EPS) * self.rate) + 1)

    @property
    def end(self) -> float:
        """When the last record is due."""
        return self.intended(max(0, self.count - 1))

    @property
    def duration(self) -> float:
        return self.count / self.rate


def step_count(rate: float, seconds: float) -> int:
    """Records in a step of `seconds` at `rate` (at least one)."""
    return max(1, round(rate * seconds))


def txid(run: str, step: int, index: int) -> str:
    return f"{run}-{step:03d}-{index:07d}"


def parse_txid(value: str) -> tuple[str, int, int] | None:
    """(run, step, index) of an id made by `txid`, or None for any other id."""
    run, sep, rest = value.rpartition("-")
    if not sep or not rest.isdigit():
        return None
    run, sep, step = run.rpartition("-")
    if not sep or not step.isdigit():
        return None
    return run, int(step), int(rest)
