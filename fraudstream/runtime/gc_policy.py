"""Garbage-collector pauses, kept short.

Why: the per-account feature state is a great many small Python containers, and CPython's full
(generation 2) collection scans every tracked object. It runs each time the long-lived objects
have grown by a quarter, so while the state grows the pauses grow with it. Measured at 2,000
transactions/s on two cores, the full collections of one processor's first minute took 13, 29,
53, 84, 99, 131, 165, 221 and 231 ms: each a stall of the event loop that every record in flight
waits out, the largest share of that run's p99.

The remedy: every `gc_freeze_interval_s`, collect the young generations and move what survives
into the permanent generation (`gc.freeze()`), which collections skip. Frozen objects are still
freed by reference counting when released (an expired account's entity is); what freezing gives
up is collecting reference cycles that are already garbage at the moment of a freeze. The hot path
makes none; asyncio makes a few (exceptions with their tracebacks), and a full collection between
two freezes still collects those younger than the last freeze. `GcWatch` counts what each
collection found and times it, so a leak or a long pause shows in the processor's counters.
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

LONG_PAUSE_S = 0.05
"""A collection longer than this is logged (a pause the latency budget notices)."""


def freeze_survivors() -> int:
    """Collect the young generations, then freeze everything still alive; returns the number of
    frozen objects."""
    gc.collect(1)
    gc.freeze()
    return gc.get_freeze_count()


@dataclass
class GcStats:
    collections: int = 0
    full_collections: int = 0
    max_pause_s: float = 0.0
    long_pauses: int = 0
    collected: int = 0
    frozen: int = 0


class GcWatch:
    """Times every collection of this process (a `gc.callbacks` hook) while installed."""

    def __init__(self) -> None:
        self.stats = GcStats()
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        s = self.stats
        s.collections += 1
        s.collected += int(info.get("collected", 0))
        generation = int(info.get("generation", 0))
        if generation == 2:
            s.full_collections += 1
        s.max_pause_s = max(s.max_pause_s, pause)
        if pause > LONG_PAUSE_S:
            s.long_pauses += 1
            log.warning(
                "garbage collection of generation %d paused the process for %.0f ms",
                generation,
                pause * 1000,
            )

    def install(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        """Stop timing, and hand the frozen objects back to the collector (so that the exit's
        last collection sees them, as native extensions that check for leaks at exit expect)."""
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)
        gc.unfreeze()

    async def freeze_loop(self, interval_s: float) -> None:
        """`freeze` now (the model, the libraries and the restored state), then every
        `interval_s` (a worker's supervised "gc" loop)."""
        import asyncio

        while True:
            self.freeze()
            await asyncio.sleep(interval_s)

    def freeze(self) -> None:
        self.stats.frozen = freeze_survivors()
