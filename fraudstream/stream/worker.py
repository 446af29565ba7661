"""The worker: one member of the consumer group, a Kafka shell around the pure core.

Theory of operation
-------------------
A transaction's way through the worker, one part per step, all on one event loop (plus the
model's threads, `runtime/runner.py`):

1. `intake.py`: fetch from the input topic, admit (decode, validate, map, per-entity state) or
   dead-letter, with back-pressure (pause above `max_in_flight`);
2. `engine.py`: stage 1 on the chunk, the cascade's routing, the micro-batching scheduler and
   the language model, split-retry and fallback on model failure;
3. `verdicts.py`: the decision (rules, threshold, band, alert dedupe) and the output records;
4. `outbox.py`: ordered sends, retries, acknowledgements to the offset tracker;
5. `checkpoint.py`: the commit sequences (state before offsets; exactly_once per partition);
6. `rebalance.py`: partitions restored when assigned, finished and committed when revoked.

Shadow mode (`shadow.py`) scores the same chunks with a challenger, off the hot path; the label
feed (`label_feed.py`) folds delayed verdicts into the state. The parts share one
`WorkerContext` (`context.py`).

This module composes them and owns the lifecycle: start the clients, run the loops under
supervision (a loop that dies stops the worker, and `run` raises `WorkerFailed` naming it:
never a process that lives on and scores nothing), keep the state bounded, swap the model on
SIGHUP, and drain on SIGTERM, SIGINT or `--exit-when-idle`: stop fetching, let the scheduler
and the engine finish what is in flight, commit, leave the group, bounded by
`shutdown_timeout_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer

from fraudstream.config import Settings
from fraudstream.features import FeatureSpec
from fraudstream.mapping import Mapping as FieldMapping
from fraudstream.pipeline import TP, Admission
from fraudstream.rules import RuleSet
from fraudstream.runtime.gc_policy import GcWatch
from fraudstream.runtime.scoring import Scoring
from fraudstream.stream.checkpoint import Checkpoint
from fraudstream.stream.clients import check_connection, make_consumer, make_producer
from fraudstream.stream.context import Listener, Observer, WorkerContext, WorkerFailed
from fraudstream.stream.counters import Counters
from fraudstream.stream.engine import Engine
from fraudstream.stream.intake import Intake
from fraudstream.stream.label_feed import LabelFeed
from fraudstream.stream.outbox import Outbox
from fraudstream.stream.rebalance import Rebalance
from fraudstream.stream.reload import HotSwap, load_rule_file
from fraudstream.stream.shadow import Challenger, ShadowSlots
from fraudstream.stream.state_store import StateStore, maintenance_loop
from fraudstream.stream.topics import prepare_topics
from fraudstream.stream.verdicts import Verdicts

__all__ = ["ConsumerFactory", "Listener", "Observer", "Worker", "WorkerFailed"]

log = logging.getLogger(__name__)

ConsumerFactory = Callable[..., AIOKafkaConsumer]
"""`make_consumer`'s signature: (kafka settings, *topics, **overrides) -> a consumer."""


class Worker:
    def __init__(
        self,
        settings: Settings,
        scoring: Scoring,
        *,
        mapping: FieldMapping,
        spec: FeatureSpec,
        worker_id: str | None = None,
        listener: Listener | None = None,
        shadow: Scoring | None = None,
        reloader: Callable[[], Scoring] | None = None,
        consumer_factory: ConsumerFactory = make_consumer,
    ) -> None:
        """`shadow`: a challenger scoring the same records to the shadow topic (shadow.py).
        `reloader`: loads the model again for a hot swap on SIGHUP (`request_reload`)."""
        self.settings = settings
        self.spec = spec
        self.consumer_factory = consumer_factory
        ctx = self.ctx = WorkerContext(
            settings,
            scoring,
            worker_id or f"{socket.gethostname()}-{os.getpid()}",
            listener=listener,
        )
        counters = ctx.counters
        # read through ctx.scoring at report time: a hot swap brings its own memory and cache
        counters.narrative = lambda: self.ctx.scoring.narrative_stats()
        counters.model_restarts = lambda: int(getattr(self.ctx.scoring, "restarts", 0))
        counters.state_entities = self.state_entities
        counters.state_packed = lambda: sum(s.packed_count() for s in self.ctx.states.values())
        if shadow is not None and ctx.exactly_once:
            log.warning(
                "shadow_model_path: shadow mode runs only with processing_guarantee "
                "at_least_once (its scores are not part of the partition transactions); "
                "the challenger is not run"
            )
            shadow = None
        self.labels = LabelFeed(settings, spec) if spec.delayed else None
        self.gc_watch = GcWatch()
        self.admission = Admission(mapping, settings.admission_rules(ctx.worker_id))
        slots = ShadowSlots() if shadow is not None else None
        self.outbox = Outbox(ctx, slots)
        self.verdicts = Verdicts(ctx, self.outbox, load_rule_file(settings.rules_path))
        self.challenger = (
            Challenger(ctx, shadow, slots, self.outbox)
            if shadow is not None and slots is not None
            else None
        )
        self.engine = Engine(ctx, self.verdicts, self.challenger)
        self.intake = Intake(ctx, self.admission, self.engine, self.verdicts, self.labels)
        self.checkpoint = Checkpoint(ctx, self.outbox)
        self.rebalance = Rebalance(
            ctx, self.checkpoint, self.admission, slots, on_readable=self._readable
        )
        self.hot_swap = HotSwap(ctx, self.verdicts, reloader)
        self._loops: list[asyncio.Task[Any]] = []

    # ------------------------------------------------------------------------------ views

    @property
    def scoring(self) -> Scoring:
        return self.ctx.scoring

    @property
    def worker_id(self) -> str:
        return self.ctx.worker_id

    @property
    def counters(self) -> Counters:
        return self.ctx.counters

    @property
    def tracker(self) -> Any:
        return self.ctx.tracker

    @property
    def ready(self) -> asyncio.Event:
        """Set once the worker has joined its group and restored its state."""
        return self.ctx.ready

    @property
    def observer(self) -> Observer | None:
        return self.ctx.observer

    @observer.setter
    def observer(self, observer: Observer | None) -> None:
        self.ctx.observer = observer

    @property
    def rules(self) -> RuleSet | None:
        return self.verdicts.rules

    @property
    def shadow(self) -> Scoring | None:
        return self.challenger.scoring if self.challenger is not None else None

    @property
    def assigned_partitions(self) -> frozenset[int]:
        """The input partitions this member holds now (its share of the consumer group)."""
        return frozenset(self.ctx.assigned)

    def readiness(self) -> tuple[bool, str]:
        """(ready, why) for `/readyz`: its partitions assigned and their state restored, its
        loops running, not stopping. A member that holds no partition (more workers than
        partitions) is ready: it is where a rebalance will send work."""
        ctx = self.ctx
        if ctx.fatal is not None:
            return False, f"stopped: {ctx.fatal}"
        if ctx.stopping.is_set():
            return False, "stopping"
        if not ctx.ready.is_set():
            return False, "waiting for its partitions and their state"
        dead = [t.get_name() for t in self._loops if t.done()]
        if dead:
            return False, f"loop ended: {', '.join(dead)}"
        return True, f"fetching from partitions {sorted(ctx.assigned)}"

    def state_entities(self) -> int:
        """Entities held in memory, over this worker's partitions."""
        return sum(len(state) for state in self.ctx.states.values())

    def lag(self) -> dict[TP, int]:
        return self.intake.lag()

    # ------------------------------------------------------------------------------ lifecycle

    def stop(self) -> None:
        """Ask the worker to drain and exit (safe to call from a signal handler)."""
        self.ctx.stop()

    async def run(
        self, *, exit_when_idle: float | None = None, owns_process: bool = False
    ) -> Counters:
        """`owns_process`: this worker is its process's reason to be: it handles SIGTERM,
        SIGINT (stop) and SIGHUP (reload), and keeps the garbage collector's pauses short
        (runtime/gc_policy.py), which freezes objects process-wide."""
        settings, ctx = self.settings, self.ctx
        loop = asyncio.get_running_loop()
        if owns_process:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop)
        # Fail fast, naming the setting, on wrong credentials or an untrusted certificate.
        await check_connection(settings.kafka)
        partitions = await prepare_topics(settings, shadow=self.challenger is not None)
        client_id = f"{settings.kafka.client_id}-{ctx.worker_id}"
        ctx.producer = make_producer(settings.kafka, client_id=client_id)
        await ctx.producer.start()
        ctx.store = StateStore(settings, self.spec, ctx.producer, partitions=partitions)
        await ctx.store.start()
        if self.labels is not None:
            # every verdict on the topic is in the risk state before the first score
            ctx.store.shared = self.labels.state
            await self.labels.start(ctx.producer)
        if owns_process:
            loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        ctx.consumer = self.consumer_factory(
            settings.kafka,
            group_id=settings.group_id,
            client_id=client_id,
            max_poll_records=min(2000, settings.max_in_flight),
            # exactly_once: never score input from a transaction that is open or was aborted
            isolation_level="read_committed" if ctx.exactly_once else "read_uncommitted",
        )
        ctx.consumer.subscribe([settings.topics.input], listener=self.rebalance)
        await ctx.consumer.start()
        tasks = [
            asyncio.create_task(self.intake.run(exit_when_idle), name="fetch"),
            asyncio.create_task(self.engine.run(), name="dispatch"),
            asyncio.create_task(self.checkpoint.run(), name="commit"),
            asyncio.create_task(self.outbox.run(), name="sender"),
            asyncio.create_task(
                maintenance_loop(ctx.states, settings, self.spec, ctx.counters), name="state"
            ),
        ]
        if self.labels is not None:
            tasks.append(asyncio.create_task(self.labels.run(), name="labels"))
        if owns_process and settings.gc_freeze_interval_s > 0:
            self.gc_watch.install()
            ctx.counters.gc = self.gc_watch.stats
            tasks.append(
                asyncio.create_task(
                    self.gc_watch.freeze_loop(settings.gc_freeze_interval_s), name="gc"
                )
            )
        self._loops = tasks
        try:
            await self._supervise(tasks)
            if ctx.fatal is None:
                await self._drain(tasks[0])
        finally:
            for task in tasks:
                task.cancel()
            commits = self.checkpoint.cancel()
            await asyncio.gather(*tasks, *commits, return_exceptions=True)
            await self._close()
            self.gc_watch.uninstall()
            if owns_process:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    loop.remove_signal_handler(sig)
        if ctx.fatal is not None:
            raise WorkerFailed(
                f"processor stopped after an unrecoverable error: {ctx.fatal}"
            ) from ctx.fatal
        return ctx.counters

    async def _supervise(self, tasks: Sequence[asyncio.Task[Any]]) -> None:
        """Wait for a stop request, or for a loop task to end first: a loop that died while the
        process lives would score nothing (or commit nothing) in silence. Then the worker stops
        at once, without draining, and `run` raises naming the loop and its error: an
        orchestrator restarts it, and what was not committed is read again."""
        ctx = self.ctx
        stopping = asyncio.create_task(ctx.stopping.wait(), name="stop-request")
        watched: set[asyncio.Task[Any]] = {stopping, *tasks}
        try:
            while True:
                done, watched = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                if stopping in done:
                    return
                for task in done:
                    error = None if task.cancelled() else task.exception()
                    if error is None and ctx.stopping.is_set():
                        continue  # loops end by themselves once asked to stop
                    cause = error or RuntimeError("it returned while the worker was running")
                    failure = RuntimeError(f"the {task.get_name()} loop stopped: {cause!r}")
                    failure.__cause__ = cause
                    log.error(
                        "the %s loop stopped: %r; stopping the worker", task.get_name(), cause
                    )
                    ctx.fail(failure)
                    return
        finally:
            stopping.cancel()

    async def _drain(self, fetch: asyncio.Task[Any]) -> None:
        ctx = self.ctx
        deadline = time.monotonic() + self.settings.shutdown_timeout_s
        log.info("draining %d records in flight", ctx.tracker.in_flight())
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(
                asyncio.shield(fetch), timeout=max(0.0, deadline - time.monotonic())
            )
        await ctx.until(
            lambda: not (len(self.engine) or ctx.tracker.in_flight() or len(self.outbox)),
            deadline,
        )
        if ctx.tracker.in_flight():
            log.warning(
                "shutdown timeout: %d records still in flight; they will be read again on restart",
                ctx.tracker.in_flight(),
            )
        if ctx.fatal is None:
            await self.checkpoint.commit()

    async def _close(self) -> None:
        ctx = self.ctx
        if ctx.consumer is not None:
            with contextlib.suppress(Exception):
                await ctx.consumer.stop()
        for txn in list(ctx.txns.values()):
            await txn.stop()
        ctx.txns.clear()
        if ctx.store is not None:
            await ctx.store.stop()
        if ctx.producer is not None:
            with contextlib.suppress(Exception):
                await ctx.producer.stop()
        if self.labels is not None:
            await self.labels.stop()
        self.engine.close()
        if self.challenger is not None:
            self.challenger.close()

    def _readable(self) -> None:
        self.intake.last_input = time.monotonic()  # idleness counts from the moment we can read

    # ------------------------------------------------------------------------------ hot swap

    def swap_model(self, scoring: Scoring) -> None:
        """Score records routed from now on with `scoring` (`reload.py`)."""
        self.hot_swap.swap(scoring)

    def request_reload(self) -> None:
        """SIGHUP: load the rule file and the model folder again and swap them in."""
        self.hot_swap.request()

    @property
    def model_swaps(self) -> int:
        return self.hot_swap.swaps

    @property
    def reloader(self) -> Callable[[], Scoring] | None:
        """What SIGHUP loads the model with (None: the worker was given a model object)."""
        return self.hot_swap.reloader

    @reloader.setter
    def reloader(self, reloader: Callable[[], Scoring] | None) -> None:
        self.hot_swap.reloader = reloader
