"""Pure core of micro-batching and commit discipline: no I/O, no event loop, time injected.

- :mod:`.clock`: ``Clock`` protocol, ``MonotonicClock``, ``FakeClock``.
- :mod:`.latency_model`: online, conservative model of batch service time.
- :mod:`.scheduler`: deadline-aware micro-batcher (``poll`` says dispatch, wait or idle).
  :mod:`.decisions` holds its inputs and outputs, :mod:`.buckets` its length buckets.
- :mod:`.offsets`: which input offsets are committable (outputs all acknowledged).
"""

from fraudstream.batching.clock import Clock, FakeClock, MonotonicClock
from fraudstream.batching.latency_model import LatencyModel, LatencyPrior
from fraudstream.batching.offsets import TP, OffsetTracker, Ticket
from fraudstream.batching.scheduler import (
    IDLE,
    CostModel,
    Dispatch,
    DispatchReason,
    Idle,
    Item,
    Scheduler,
    SchedulerStats,
    Wait,
)

__all__ = [
    "IDLE",
    "TP",
    "Clock",
    "CostModel",
    "Dispatch",
    "DispatchReason",
    "FakeClock",
    "Idle",
    "Item",
    "LatencyModel",
    "LatencyPrior",
    "MonotonicClock",
    "OffsetTracker",
    "Scheduler",
    "SchedulerStats",
    "Ticket",
    "Wait",
]
