"""What the worker's parts share: settings, counters, the offset tracker, per-partition state,
the clients, and the worker's fate (running, stopping, or failed).

Each part of the worker (`intake.py`, `engine.py`, `verdicts.py`, `outbox.py`, `checkpoint.py`,
`rebalance.py`) holds its worker's one `WorkerContext`, and of the other parts only what it
calls. The clients are set when the worker starts (`worker.py`) and used from the loops only.
Waits are on events, not sleep polls: `progress` is set whenever an output is acknowledged, a
batch is scored or the worker is asked to stop, and `until` waits on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from fraudstream.batching import OffsetTracker, Ticket
from fraudstream.config import Settings
from fraudstream.stream.counters import Counters

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from fraudstream.dedupe import AlertDedupe
    from fraudstream.features import FeatureState
    from fraudstream.runtime.scoring import Scoring
    from fraudstream.stream.state_store import StateStore
    from fraudstream.stream.transactions import PartitionTxn

log = logging.getLogger(__name__)

Listener = Callable[[str, dict[str, Any]], None]
"""Called with (kind, record) for every output: kind is score, alert or dead_letter."""


class Observer(Protocol):
    """Instrumentation (the live page and /metrics, `web/feed.py`), called on the event loop;
    it must be quick and must not raise."""

    def on_score(self, record: dict[str, Any], ticket: Ticket) -> None: ...

    def on_alert(self, alert: dict[str, Any]) -> None: ...

    def on_batch(self, size: int, tokens: int, fill: float) -> None: ...

    def on_acked(self, topic: str, ticket: Ticket) -> None:
        """An output on `topic` for the input `ticket` was acknowledged by the broker."""


class WorkerFailed(RuntimeError):
    """The worker stopped on an error it cannot recover from (a loop died, a transaction
    could not be completed): `fraudstream run` exits non-zero so that it is restarted."""


@dataclass
class WorkerContext:
    settings: Settings
    scoring: Scoring
    """The model that routes new records (a hot swap replaces it; routed records keep theirs)."""
    worker_id: str
    counters: Counters = field(default_factory=Counters)
    tracker: OffsetTracker = field(default_factory=OffsetTracker)
    states: dict[int, FeatureState] = field(default_factory=dict)
    """Per assigned input partition, restored from the changelog."""
    txns: dict[int, PartitionTxn] = field(default_factory=dict)
    """exactly_once: per assigned input partition, its transactional producer."""
    dedupe: dict[int, AlertDedupe] = field(default_factory=dict)
    assigned: set[int] = field(default_factory=set)
    observer: Observer | None = None
    listener: Listener | None = None
    consumer: AIOKafkaConsumer | None = None
    producer: AIOKafkaProducer | None = None
    store: StateStore | None = None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    """Wakes the dispatcher: new work was queued, or the worker stops."""
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the worker has joined its group and restored its state."""
    fatal: BaseException | None = None
    background: set[asyncio.Future[Any]] = field(default_factory=set)
    """Tasks that outlive the call that started them (batches, shadow chunks, a reload)."""

    @property
    def exactly_once(self) -> bool:
        return self.settings.processing_guarantee == "exactly_once"

    def threshold(self, scoring: Scoring) -> float:
        """The alert threshold: the setting's, else the model's."""
        t = self.settings.alert_threshold
        return scoring.alert_threshold if t is None else t

    def stop(self) -> None:
        """Ask the worker to drain and exit (safe to call from a signal handler)."""
        self.stopping.set()
        self.wake.set()
        self.progress.set()

    def fail(self, error: BaseException) -> None:
        """Stop on an unrecoverable error; the first one is what `run` raises."""
        if self.fatal is None:
            self.fatal = error
        self.stop()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def moved(self) -> None:
        """Something the waits of `until` look at has changed."""
        self.progress.set()

    async def until(self, done: Callable[[], bool], deadline: float) -> bool:
        """Wait until `done()` holds (re-checked at each `moved`), the worker failed, or the
        monotonic `deadline` passed; returns `done()`."""
        while not done() and self.fatal is None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.progress.clear()
            self.wake.set()  # work still queued must be dispatched for `done` to come true
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.progress.wait(), left)
        return done()
