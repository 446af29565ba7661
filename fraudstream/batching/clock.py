"""Clocks: time as a dependency.

Theory of operation
-------------------
The batching core never reads the time itself. Callers read a :class:`Clock` and pass plain floats
(seconds, monotonic, arbitrary origin) into the scheduler and the latency model, so the core can
be driven by a real clock in production and by a :class:`FakeClock` in tests, without an event loop
and without sleeping.

Invariant: a clock never goes backwards. :class:`MonotonicClock` inherits this from
``time.monotonic``; :class:`FakeClock` enforces it (``advance`` with a negative step and ``set``
to an earlier time raise ``ValueError``), so a test cannot build a timeline production never sees.
"""

from __future__ import annotations

import math
import time
from typing import Protocol

__all__ = ["Clock", "FakeClock", "MonotonicClock"]


class Clock(Protocol):
    """Anything that tells monotonic time in seconds."""

    def now(self) -> float: ...


class MonotonicClock:
    """The production clock: ``time.monotonic()``."""

    __slots__ = ()

    def now(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that moves only when told to; for tests and simulations."""

    __slots__ = ("_now",)

    def __init__(self, start: float = 0.0) -> None:
        if not math.isfinite(start):
            raise ValueError(f"start must be finite, got {start!r}")
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, dt: float) -> float:
        """Move forward by ``dt`` seconds (``dt >= 0``); returns the new time."""
        if not (math.isfinite(dt) and dt >= 0.0):
            raise ValueError(f"a clock only moves forward: advance({dt!r})")
        self._now += dt
        return self._now

    def set(self, t: float) -> float:
        """Jump to time ``t`` (not earlier than now); returns the new time."""
        if not (math.isfinite(t) and t >= self._now):
            raise ValueError(f"a clock only moves forward: set({t!r}) at {self._now!r}")
        self._now = float(t)
        return self._now

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now!r})"
