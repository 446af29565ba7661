"""The processor: a Kafka shell around the pure core.

Theory of operation
-------------------
Three loops share one event loop, plus two threads for the model (see `runtime/runner.py`):

* **fetch**: `getmany` from the input topic (consumer group, key = account id); each record is
  registered with the offset tracker, then admitted (`pipeline.Admission`: decode, validate, map,
  per-entity state) or dead-lettered. Stage 1 scores the fetched batch at once; confident scores are
  final, the uncertain band is tokenised off the loop and queued in the micro-batching scheduler.
  When more than `max_in_flight` records are read but not yet acknowledged, the consumer pauses
  its partitions and resumes below half of that (bounded hand-offs: nothing buffers without bound).
* **dispatch**: takes an engine slot, then asks the scheduler `poll(now, free_at)`; runs a batch or
  sleeps until the scheduler's wake-up time or new work.
* **commit**: every `commit_interval_ms` it follows the commit sequence of `batching/offsets.py`:
  1. take the committable offsets (contiguous prefix of inputs whose outputs are all acknowledged),
  2. write the changed per-entity state to the changelog and wait for its acknowledgements,
  3. commit the offsets to the consumer group.
  A crash between any two steps repeats work on restart (at-least-once), never loses it; state is
  written before offsets, and replayed records do not fold twice into it (position check).

Every output (score, alert, dead letter) is sent with a callback that acknowledges it to the
tracker; a failed send is retried, and after repeated failures the processor stops without
committing, so a restart replays the input.

Exactly-once mode (`processing_guarantee: exactly_once`, see `stream/transactions.py`): each
assigned input partition has its own transactional producer; a record's outputs are released to
it in offset order, and the commit step becomes, per partition and independently of the others:
stop releasing, wait for the acknowledgements, write the state, add the offset to the
transaction, commit it. Any failure there (fenced by a new owner, the transaction timed out, the
broker gone) stops the worker without committing: read_committed readers never see the aborted
outputs, and the input is read again from the last committed offset.

Model failure: a failing batch is split in halves and retried down to single records; a record
that still fails is scored without the language model (stage 1, else the rules score: the
`review` band), flagged `fallback_after_model_error`, so the stream goes on and nothing is lost.

Alert dedupe (`dedupe.py`): a second alert for a transaction id within `alert_dedup_window_s`
is suppressed (the score goes out flagged `alert_suppressed_duplicate`). The alerted ids are
written to the state changelog (exactly_once: in the transaction; at_least_once: once the alert
is acknowledged, so a marker never stands for a lost alert) and restored with the partition.

Shutdown (SIGTERM, SIGINT, `--exit-when-idle`): stop fetching, let the scheduler and the engine
drain the in-flight batches, commit, leave the group, exit — bounded by `shutdown_timeout_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import signal
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from fraudstream import __version__
from fraudstream.batching import (
    Dispatch,
    Idle,
    Item,
    LatencyModel,
    OffsetTracker,
    Scheduler,
    Ticket,
    Wait,
)
from fraudstream.config import ConfigError, Settings
from fraudstream.dedupe import AlertDedupe, decode_marker, encode_marker
from fraudstream.features import FeatureSpec, FeatureState
from fraudstream.input_checks import INPUT_FLAGS, unscorable_record
from fraudstream.mapping import Mapping as FieldMapping
from fraudstream.pipeline import (
    TP,
    Admission,
    Decision,
    InputRecord,
    Rejected,
    Work,
    alert_record,
    band_of,
    score_record,
)
from fraudstream.records import DecodeError, dead_letter
from fraudstream.rules import RuleError, RuleSet, facts_of, load_rules
from fraudstream.runtime.gc_policy import GcStats, GcWatch
from fraudstream.runtime.runner import InferenceRunner
from fraudstream.runtime.scoring import Reason, Scoring, decide, remember
from fraudstream.stream import shadow as shadow_slots
from fraudstream.stream.clients import check_connection, make_consumer, make_producer
from fraudstream.stream.label_feed import LabelFeed
from fraudstream.stream.state_store import ALERTED_ROLE, StateStore, state_key
from fraudstream.stream.topics import changelog_topic, prepare_topics
from fraudstream.stream.transactions import PartitionTxn

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 5
FETCH_CHUNK = 64
"""Records per pass of the fetch loop. A pass (admission, stage 1, routing) holds the event loop
for ~150-250 us per record on a loaded two-core machine: 256 held it for 40-60 ms, and language-
model results and acknowledgements waited that long. Stage 1 costs ~70 us per call + ~13 us per
row, so chunks of 64 lose little to per-call overhead (measured at 2,000 tx/s, same broker, twice
each: p50 21 ms / p99 110-121 ms against 27 ms / 122 ms with 256)."""


_BatchResult = tuple[np.ndarray, dict[int, list[Reason]], np.ndarray]
"""Scores, reasons of the alerting rows, narrative risk per row (NaN: none)."""


_TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError)
OUTPUT_STUB_BYTES = 4096
"""How much of a refused output its dead-letter stub keeps (with the sha256 of the whole)."""


def load_rule_file(path: str | None) -> RuleSet | None:
    """The rule file of `rules_path` (None: no rules); a bad file is a `ConfigError`."""
    if not path:
        return None
    try:
        return load_rules(path)
    except RuleError as exc:
        raise ConfigError(f"rules_path: {exc}") from None


class WorkerFailed(RuntimeError):
    """The worker stopped on an error it cannot recover from (a loop died, a transaction
    could not be completed): `fraudstream run` exits non-zero so that it is restarted."""


@dataclass(frozen=True, slots=True)
class _Output:
    ticket: Ticket
    topic: str
    key: bytes | None
    value: bytes
    attempt: int
    partition: int | None = None
    txn: PartitionTxn | None = None
    """exactly_once: the transaction this output belongs to (a revoked one's are dropped)."""
    tracked: bool = True
    """False for the at-least-once alert-dedupe marker: it does not hold back the offset."""
    marker: bytes | None = None
    """at_least_once alerts: the changelog key to write once the alert is acknowledged."""


@dataclass
class Counters:
    records_in: int = 0
    scored: int = 0
    alerts: int = 0
    dead_letters: int = 0
    language_model: int = 0
    late: int = 0
    batches: int = 0
    retried_batches: int = 0
    fallbacks: int = 0
    alerts_suppressed: int = 0
    state_expired: int = 0
    """Entities forgotten after `state_idle_expiry_s` without activity (tombstoned)."""
    state_evicted: int = 0
    """Entities forgotten, least recently seen first, over `state_max_entities`."""
    state_entities: Callable[[], int] | None = None
    restore_seconds: float = 0.0
    """Time spent restoring partitions' state from the changelog, in all."""
    outputs_too_large: int = 0
    """Outputs the broker refused as too large, dead-lettered as a stub instead."""
    unscorable: int = 0
    """Records with a readable id that could not be scored: a dead letter and a review score."""
    flagged_input: dict[str, int] = field(default_factory=dict)
    """Scored records per input flag (`input_checks.py`): hidden characters, unknown fields..."""
    started_at: float = field(default_factory=time.monotonic)
    dead_letter_kinds: dict[str, int] = field(default_factory=dict)
    gc: GcStats | None = None
    """Garbage-collector pauses, when the processor manages them (`owns_process`)."""
    narrative: Callable[[], dict[str, dict[str, float]]] | None = None
    """The model's narrative memory and text-vector cache counters, read when reported."""
    model_restarts: Callable[[], int] | None = None
    """Restarts of the model's child process (after it died), read when reported."""

    def as_dict(self) -> dict[str, Any]:
        elapsed = max(time.monotonic() - self.started_at, 1e-9)
        return {
            "records_in": self.records_in,
            "scored": self.scored,
            "alerts": self.alerts,
            "dead_letters": self.dead_letters,
            "dead_letter_kinds": dict(self.dead_letter_kinds),
            "language_model": self.language_model,
            "late": self.late,
            "batches": self.batches,
            "retried_batches": self.retried_batches,
            "fallbacks": self.fallbacks,
            "alerts_suppressed": self.alerts_suppressed,
            "state": {
                "entities": self.state_entities() if self.state_entities is not None else 0,
                "expired": self.state_expired,
                "evicted": self.state_evicted,
                "restore_seconds": round(self.restore_seconds, 3),
            },
            "unscorable": self.unscorable,
            "outputs_too_large": self.outputs_too_large,
            "model_restarts": self.model_restarts() if self.model_restarts is not None else 0,
            "flagged_input": dict(self.flagged_input),
            "elapsed_s": round(elapsed, 3),
            "throughput_per_s": round(self.scored / elapsed, 1),
            **({} if self.gc is None else {"gc": self._gc()}),
            **self._narrative(),
        }

    def _narrative(self) -> dict[str, Any]:
        stats = self.narrative() if self.narrative is not None else {}
        if not stats:
            return {}
        return {
            "narrative": {
                name: {k: round(v, 4) if k == "hit_rate" else int(v) for k, v in kept.items()}
                for name, kept in stats.items()
            }
        }

    def _gc(self) -> dict[str, Any]:
        assert self.gc is not None
        return {
            "collections": self.gc.collections,
            "full_collections": self.gc.full_collections,
            "max_pause_ms": round(self.gc.max_pause_s * 1000, 1),
            "pauses_over_50ms": self.gc.long_pauses,
            "frozen_objects": self.gc.frozen,
        }


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


class Processor:
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
    ) -> None:
        """`shadow`: a challenger scoring the same records to the shadow topic (stream/shadow.py).
        `reloader`: loads the model again for a hot swap on SIGHUP (`request_reload`)."""
        self.settings = settings
        self.scoring = scoring
        self.reloader = reloader
        self.model_swaps = 0
        self._reloading = False
        self.labels = LabelFeed(settings, spec) if spec.delayed else None
        if shadow is not None and settings.processing_guarantee == "exactly_once":
            log.warning(
                "shadow_model_path: shadow mode runs only with processing_guarantee "
                "at_least_once (its scores are not part of the partition transactions); "
                "the challenger is not run"
            )
            shadow = None
        self.shadow = shadow
        self._shadow_slots: dict[Ticket, Any] = {}
        self._shadow_pool = (
            ThreadPoolExecutor(1, thread_name_prefix="fraudstream-shadow") if shadow else None
        )
        self.spec = spec
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.listener = listener
        self.observer: Observer | None = None
        self.counters = Counters()
        # read through self.scoring at report time: a hot swap brings its own memory and cache
        self.counters.narrative = lambda: self.scoring.narrative_stats()
        self.counters.model_restarts = lambda: int(getattr(self.scoring, "restarts", 0))
        self.counters.state_entities = self.state_entities
        self.gc_watch = GcWatch()
        self.rules = load_rule_file(settings.rules_path)
        self.admission = Admission(
            mapping,
            settings.admission_rules(self.worker_id),
        )
        self.tracker = OffsetTracker()
        self.latency_model = LatencyModel()
        self.scheduler: Scheduler[Work] = Scheduler(
            max_batch_size=settings.max_batch_size,
            token_budget=settings.token_budget,
            bucket_edges=(8, 16, 24, 32, 48, 64, 128),
            model=self.latency_model,
            margin=settings.latency_margin_ms / 1000.0,
        )
        self.runner: InferenceRunner[list[Work], Any, _BatchResult]
        self.runner = InferenceRunner(self._prepare, self._infer, name="fraudstream")
        self.states: dict[int, FeatureState] = {}
        self._tokenizer_pool = ThreadPoolExecutor(1, thread_name_prefix="fraudstream-tokenize")
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._store: StateStore | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._fatal: BaseException | None = None
        self._paused = False
        self._last_input = time.monotonic()
        self._batch_tasks: set[asyncio.Future[Any]] = set()
        self._loops: list[asyncio.Task[Any]] = []
        self._outbox: deque[_Output] = deque()
        self._outbox_ready = asyncio.Event()
        self._assigned: set[int] = set()
        self.exactly_once = settings.processing_guarantee == "exactly_once"
        self._txns: dict[int, PartitionTxn] = {}
        self._txn_commits: dict[int, asyncio.Future[None]] = {}
        self._dedupe: dict[int, AlertDedupe] = {}
        self.ready = asyncio.Event()
        """Set once the processor has joined its group and restored its state."""

    def readiness(self) -> tuple[bool, str]:
        """(ready, why) for `/readyz`: its partitions assigned and their state restored, its
        loops running, not stopping. A member that holds no partition (more workers than
        partitions) is ready: it is where a rebalance will send work."""
        if self._fatal is not None:
            return False, f"stopped: {self._fatal}"
        if self._stopping.is_set():
            return False, "stopping"
        if not self.ready.is_set():
            return False, "waiting for its partitions and their state"
        dead = [t.get_name() for t in self._loops if t.done()]
        if dead:
            return False, f"loop ended: {', '.join(dead)}"
        return True, f"fetching from partitions {sorted(self._assigned)}"

    @property
    def assigned_partitions(self) -> frozenset[int]:
        """The input partitions this member holds now (its share of the consumer group)."""
        return frozenset(self._assigned)

    # ------------------------------------------------------------------------------ lifecycle

    def stop(self) -> None:
        """Ask the processor to drain and exit (safe to call from a signal handler)."""
        self._stopping.set()
        self._wake.set()

    async def run(
        self, *, exit_when_idle: float | None = None, owns_process: bool = False
    ) -> Counters:
        """`owns_process`: this processor is its process's reason to be: it handles SIGTERM,
        SIGINT (stop) and SIGHUP (reload), and keeps the garbage collector's pauses short
        (runtime/gc_policy.py), which freezes objects process-wide."""
        settings = self.settings
        loop = asyncio.get_running_loop()
        if owns_process:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop)
        # Fail fast, naming the setting, on wrong credentials or an untrusted certificate.
        await check_connection(settings.kafka)
        partitions = await prepare_topics(settings, shadow=self.shadow is not None)
        self._producer = make_producer(
            settings.kafka, client_id=f"{settings.kafka.client_id}-{self.worker_id}"
        )
        await self._producer.start()
        self._store = StateStore(settings, self.spec, self._producer, partitions=partitions)
        await self._store.start()
        if self.labels is not None:
            # every verdict on the topic is in the risk state before the first score
            self._store.shared = self.labels.state
            await self.labels.start(self._producer)
        if owns_process:
            loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        self._consumer = make_consumer(
            settings.kafka,
            group_id=settings.group_id,
            client_id=f"{settings.kafka.client_id}-{self.worker_id}",
            max_poll_records=min(2000, settings.max_in_flight),
            # exactly_once: never score input from a transaction that is open or was aborted
            isolation_level="read_committed" if self.exactly_once else "read_uncommitted",
        )
        self._consumer.subscribe([settings.topics.input], listener=_Rebalance(self))
        await self._consumer.start()
        tasks = [
            asyncio.create_task(self._fetch_loop(exit_when_idle), name="fetch"),
            asyncio.create_task(self._dispatch_loop(), name="dispatch"),
            asyncio.create_task(self._commit_loop(), name="commit"),
            asyncio.create_task(self._sender_loop(), name="sender"),
            asyncio.create_task(self._state_loop(), name="state"),
        ]
        if self.labels is not None:
            tasks.append(asyncio.create_task(self.labels.run(), name="labels"))
        if owns_process and settings.gc_freeze_interval_s > 0:
            self.gc_watch.install()
            self.counters.gc = self.gc_watch.stats
            tasks.append(asyncio.create_task(self._gc_loop(), name="gc"))
        self._loops = tasks
        try:
            await self._supervise(tasks)
            if self._fatal is None:
                await self._drain(tasks)
        finally:
            for task in tasks:
                task.cancel()
            commits = list(self._txn_commits.values())
            for commit in commits:
                commit.cancel()
            await asyncio.gather(*tasks, *commits, return_exceptions=True)
            await self._close()
            self.gc_watch.uninstall()
            if owns_process:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    loop.remove_signal_handler(sig)
        if self._fatal is not None:
            raise WorkerFailed(
                f"processor stopped after an unrecoverable error: {self._fatal}"
            ) from self._fatal
        return self.counters

    async def _supervise(self, tasks: Sequence[asyncio.Task[Any]]) -> None:
        """Wait for a stop request, or for a loop task to end first: a loop that died while the
        process lives would score nothing (or commit nothing) in silence. Then the worker stops
        at once, without draining, and `run` raises naming the loop and its error: an
        orchestrator restarts it, and what was not committed is read again."""
        stopping = asyncio.create_task(self._stopping.wait(), name="stop-request")
        watched: set[asyncio.Task[Any]] = {stopping, *tasks}
        try:
            while True:
                done, watched = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                if stopping in done:
                    return
                for task in done:
                    error = None if task.cancelled() else task.exception()
                    if error is None and self._stopping.is_set():
                        continue  # loops end by themselves once asked to stop
                    cause = error or RuntimeError("it returned while the worker was running")
                    if self._fatal is None:
                        self._fatal = RuntimeError(f"the {task.get_name()} loop stopped: {cause!r}")
                        self._fatal.__cause__ = cause
                    log.error(
                        "the %s loop stopped: %r; stopping the worker", task.get_name(), cause
                    )
                    self.stop()
                    return
        finally:
            stopping.cancel()

    async def _drain(self, tasks: Sequence[asyncio.Task[Any]]) -> None:
        deadline = time.monotonic() + self.settings.shutdown_timeout_s
        log.info("draining %d records in flight", self.tracker.in_flight())
        fetch = tasks[0]
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(
                asyncio.shield(fetch), timeout=max(0.0, deadline - time.monotonic())
            )
        while (
            len(self.scheduler) or self.tracker.in_flight() or self._outbox
        ) and time.monotonic() < deadline:
            if self._fatal is not None:
                break
            self._wake.set()
            await asyncio.sleep(0.01)
        if self.tracker.in_flight():
            log.warning(
                "shutdown timeout: %d records still in flight; they will be read again on restart",
                self.tracker.in_flight(),
            )
        if self._fatal is None:
            await self._commit()

    async def _close(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
        for txn in list(self._txns.values()):
            await txn.stop()
        self._txns.clear()
        if self._store is not None:
            await self._store.stop()
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
        if self.labels is not None:
            await self.labels.stop()
        self.runner.close()
        self._tokenizer_pool.shutdown(wait=True)
        if self._shadow_pool is not None:
            self._shadow_pool.shutdown(wait=True)

    # ------------------------------------------------------------------------------ fetch

    async def _fetch_loop(self, exit_when_idle: float | None) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        max_in_flight = self.settings.max_in_flight
        while not self._stopping.is_set():
            if self._paused and self.tracker.in_flight() < max_in_flight // 2:
                consumer.resume(*consumer.assignment())
                self._paused = False
            # Small chunks (FETCH_CHUNK): the dispatcher and sender get the loop between them.
            data = await consumer.getmany(timeout_ms=20, max_records=FETCH_CHUNK)
            now = time.monotonic()
            if not data:
                if (
                    exit_when_idle is not None
                    and self.ready.is_set()
                    and now - self._last_input >= exit_when_idle
                    and not self.tracker.in_flight()
                    and not len(self.scheduler)
                ):
                    log.info("input idle for %.1f s: stopping", exit_when_idle)
                    self.stop()
                continue
            works = self._admit(data)
            if works:
                await self._route(works)
            self._last_input = time.monotonic()
            if not self._paused and self.tracker.in_flight() >= max_in_flight:
                consumer.pause(*consumer.assignment())
                self._paused = True

    def _admit(self, data: dict[TopicPartition, list[Any]]) -> list[Work]:
        works: list[Work] = []
        wall = time.time()
        perf = time.monotonic
        for tp, messages in data.items():
            state = self.states.get(tp.partition)
            if state is None:
                # Revoked while the fetch was in flight (its new owner reads it), or assigned
                # but not restored yet: then read these records again once it is, instead of
                # letting the consumer's position run past them.
                consumer = self._consumer
                if messages and consumer is not None and tp in consumer.assignment():
                    consumer.seek(tp, messages[0].offset)
                continue
            key: TP = (tp.topic, tp.partition)
            # due verdicts are applied just before the event that reaches their due time
            gated = state if self.labels is None else self.labels.gate(state)
            txn = self._txns.get(tp.partition)
            for m in messages:
                ticket = self.tracker.read(key, m.offset)
                if txn is not None:
                    txn.read(m.offset)
                self.counters.records_in += 1
                rec = InputRecord(tp.topic, tp.partition, m.offset, m.timestamp, m.key, m.value)
                out = self.admission.admit(rec, gated, now=perf(), wall_now=wall, clock=perf)
                if isinstance(out, Rejected):
                    self._emit_dead_letter(out, ticket)
                else:
                    out.ticket = ticket
                    works.append(out)
        return works

    async def _route(self, works: list[Work]) -> None:
        # One model for the whole chunk, even if a swap lands while it waits for the tokenizer.
        scoring = self.scoring
        if self.shadow is not None:
            self._submit_shadow(works)
        rows = [w.row for w in works]
        routed = decide(scoring, rows)
        stage1, to_lm = routed.stage1, routed.to_lm
        final: list[int] = []
        for i, work in enumerate(works):
            work.scoring = scoring
            if stage1 is not None:
                work.stage1 = float(stage1[i])
            if routed.texts is not None and routed.risks is not None:
                work.text = routed.texts[i]
                work.narrative_risk = routed.risks[i]
            if not to_lm[i]:
                final.append(i)
        if final:
            assert stage1 is not None
            threshold = self._threshold(scoring)
            alerts = [i for i in final if stage1[i] >= threshold]
            reasons = (
                scoring.stage1_reasons(
                    [rows[i] for i in alerts],
                    None if routed.risks is None else [routed.risks[i] for i in alerts],
                )
                if alerts
                else []
            )
            by_index = dict(zip(alerts, reasons, strict=True))
            for i in final:
                works[i].timings.update(queue=0.0, inference=0.0)
                self._emit_score(works[i], float(stage1[i]), "stage1", by_index.get(i, []))
        lm = [works[i] for i in range(len(works)) if to_lm[i]]
        if lm:
            loop = asyncio.get_running_loop()
            token_ids = await loop.run_in_executor(
                self._tokenizer_pool, scoring.tokenize, [w.event.narrative for w in lm]
            )
            now = time.monotonic()
            for work, ids in zip(lm, token_ids, strict=True):
                work.token_ids = ids
                work.tokens = len(ids)
                work.timings["queue"] = now  # start of queue wait, turned into a duration later
                # A narrative read before costs a lookup in the model's cache of text vectors:
                # the scheduler's token budget counts the tokens a forward pass will pay for.
                cost = 1 if work.narrative_risk is not None else max(1, len(ids))
                self.scheduler.add(Item(payload=work, deadline=work.deadline, tokens=cost))
            self._wake.set()

    # ------------------------------------------------------------------------------ dispatch

    async def _dispatch_loop(self) -> None:
        while True:
            await self.runner.acquire_slot()
            decision: Dispatch[Work] | Wait | Idle
            while True:
                now = time.monotonic()
                decision = self.scheduler.poll(now, free_at=self.runner.busy_until(now))
                if isinstance(decision, Dispatch):
                    break
                self._wake.clear()
                timeout = decision.until - now if isinstance(decision, Wait) else None
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
            task = asyncio.ensure_future(self._run_batch(decision))
            self._batch_tasks.add(task)
            task.add_done_callback(self._batch_tasks.discard)

    async def _run_batch(self, decision: Dispatch[Work]) -> None:
        works = [item.payload for item in decision.batch]
        dispatched = time.monotonic()
        estimate = self.latency_model.estimate(len(works), decision.padded_len)
        try:
            (probs, reasons, risks), times = await self.runner.run(works, estimate)
        except Exception as exc:  # a failing model must not stop the stream
            log.exception("inference failed for a batch of %d; splitting it", len(works))
            await self._split_retry(works, decision.padded_len, dispatched, exc)
            return
        self.scheduler.complete(decision, times.infer_s)
        self._emit_batch(works, probs, reasons, risks, times, decision.padded_len, dispatched)

    async def _split_retry(
        self, works: list[Work], padded_len: int, dispatched: float, exc: BaseException
    ) -> None:
        """A batch failed (out of memory, one poisonous input): retry its halves, down to single
        records, so one bad record costs only itself; a single record that still fails gets the
        fallback score, flagged. Each retry takes an engine slot like any batch."""
        if len(works) == 1:
            self._fallback(works, exc)
            return
        self.counters.retried_batches += 1
        mid = len(works) // 2
        for half in (works[:mid], works[mid:]):
            await self.runner.acquire_slot()
            estimate = self.latency_model.estimate(len(half), padded_len)
            try:
                (probs, reasons, risks), times = await self.runner.run(half, estimate)
            except Exception as error:
                log.warning("inference failed again for %d records: %s", len(half), error)
                await self._split_retry(half, padded_len, dispatched, error)
                continue
            self._emit_batch(half, probs, reasons, risks, times, padded_len, dispatched)

    def _emit_batch(
        self,
        works: list[Work],
        probs: np.ndarray,
        reasons: dict[int, list[Reason]],
        risks: np.ndarray,
        times: Any,
        padded_len: int,
        dispatched: float,
    ) -> None:
        self.counters.batches += 1
        # The narratives are read: later payments that carry one get its risk from the memory
        # (on the event loop, the memory's only user).
        for i, work in enumerate(works):
            if work.text is not None and not np.isnan(risks[i]):
                remember(work.scoring or self.scoring, [work.text], risks[i : i + 1])
        fill = padded_len and sum(w.tokens for w in works) / (len(works) * padded_len)
        if self.observer is not None:
            self.observer.on_batch(len(works), len(works) * padded_len, float(fill))
        for i, work in enumerate(works):
            work.timings["queue"] = (
                dispatched - work.timings["queue"] + times.prepare_s + times.wait_s
            )
            work.timings["inference"] = times.infer_s
            if time.monotonic() > work.deadline:
                work.flags.append("late")
                self.counters.late += 1
            self.counters.language_model += 1
            self._emit_score(
                work,
                float(probs[i]),
                "language_model",
                reasons.get(i, []),
                batch={
                    "size": len(works),
                    "tokens": len(works) * padded_len,
                    "fill": round(float(fill), 3),
                },
            )

    def _fallback(self, works: list[Work], exc: BaseException) -> None:
        """The language model failed on these records even alone: score them without it, flagged
        `fallback_after_model_error`, so nothing is lost. The stage-1 score when there is one;
        else the rules score: the alert threshold, i.e. the `review` band, because a transaction
        nobody could score is one an analyst should see rather than one to let through."""
        log.error("language model failed on a single record (%s): fallback score", exc)
        for work in works:
            work.flags.append("fallback_after_model_error")
            work.timings["queue"] = 0.0
            work.timings["inference"] = 0.0
            self.counters.fallbacks += 1
            if work.stage1 is not None:
                work.flags.append("fallback_stage1")
                self._emit_score(work, work.stage1, "fallback", [])
            else:
                work.flags.append("fallback_rules")
                reason = Reason("model", "the language model failed on this record", 1.0)
                self._emit_score(work, self.alert_threshold, "fallback", [reason])

    # ------------------------------------------------------------------------------ outputs

    @property
    def alert_threshold(self) -> float:
        return self._threshold(self.scoring)

    def _threshold(self, scoring: Scoring) -> float:
        t = self.settings.alert_threshold
        return scoring.alert_threshold if t is None else t

    def _emit_score(
        self,
        work: Work,
        score: float,
        stage: str,
        reasons: Sequence[Reason],
        batch: dict[str, Any] | None = None,
    ) -> None:
        t0 = time.monotonic()
        scoring: Scoring = work.scoring or self.scoring  # the model that routed it
        threshold = self._threshold(scoring)
        band: str | None = None
        alert: bool | None = None
        fired: list[dict[str, Any]] | None = None
        if self.rules is not None:
            ev = work.event
            outcome = self.rules.decide(
                facts_of(ev.amount, ev.categorical, ev.numeric, work.row.named(), ev.entities),
                score,
            )
            score, band, alert, fired = (
                outcome.score,
                outcome.band,
                outcome.alert,
                outcome.records(),
            )
        if alert is None:
            alert = score >= threshold
        decision = Decision(
            score=min(1.0, max(0.0, score)),
            band=band or band_of(score, threshold, max(threshold, scoring.block_threshold)),
            reasons=[
                *(r.as_dict() for r in reasons[:5]),
                *work.input_reasons,
                *(
                    {"code": "rule", "text": f"rule {f['id']}: {f['reason']}", "weight": 0.0}
                    for f in fired or ()
                ),
            ],
            model_version=scoring.version,
            stage=stage,
            alert=alert,
        )
        work.timings["produce"] = 0.0
        if alert:
            dedupe = self._dedupe.get(work.source.partition)
            if dedupe is not None and not dedupe.first(work.event.transaction_id, time.time()):
                # the same transaction id alerted within alert_dedup_window_s: score, no alert
                alert = False
                work.flags.append("alert_suppressed_duplicate")
                self.counters.alerts_suppressed += 1
        now_ms = int(time.time() * 1000)
        record = score_record(work, decision, now_ms=now_ms)
        if fired is not None:
            record["rules"] = fired
        if batch is not None:
            record["batch"] = batch
        record["timings_ms"]["produce"] = round((time.monotonic() - t0) * 1000.0, 3)
        topics = self.settings.topics
        key = work.source.key
        outputs: list[tuple[str, bytes]] = [(topics.scores, orjson.dumps(record))]
        marker: bytes | None = None
        if alert:
            alert_doc = alert_record(record, work, threshold)
            outputs.append((topics.alerts, orjson.dumps(alert_doc)))
            marker = state_key(ALERTED_ROLE, work.event.transaction_id)
            self.counters.alerts += 1
        self.counters.scored += 1
        for flag in work.flags:
            if flag in INPUT_FLAGS:
                self.counters.flagged_input[flag] = self.counters.flagged_input.get(flag, 0) + 1
        self._send(work.ticket, key, outputs, marker=marker)
        if self.observer is not None:
            self.observer.on_score(record, work.ticket)
            if alert:
                self.observer.on_alert(alert_doc)
        if self.listener is not None:
            self.listener("score", record)

    def _emit_dead_letter(self, rejected: Rejected, ticket: Ticket) -> None:
        self.counters.dead_letters += 1
        kinds = self.counters.dead_letter_kinds
        kinds[rejected.error.kind] = kinds.get(rejected.error.kind, 0) + 1
        outputs = [(self.settings.topics.dlq, rejected.payload)]
        record = None
        if rejected.ids is not None:
            # Fail closed: the payment named in it gets a verdict too (input_checks.py).
            src = rejected.source
            record = unscorable_record(
                transaction_id=rejected.ids[0],
                account_id=rejected.ids[1],
                error=rejected.error,
                source={
                    "topic": src.topic,
                    "partition": src.partition,
                    "offset": src.offset,
                    "timestamp_ms": src.timestamp_ms,
                },
                model_version=self.scoring.version,
                now_ms=int(time.time() * 1000),
            )
            outputs.append((self.settings.topics.scores, orjson.dumps(record)))
            self.counters.unscorable += 1
        self._send(ticket, rejected.output_key, outputs)
        if self.listener is not None:
            self.listener(
                "dead_letter", {"kind": rejected.error.kind, "offset": rejected.source.offset}
            )
            if record is not None:
                self.listener("score", record)

    def _send(
        self,
        ticket: Ticket,
        key: bytes | None,
        outputs: list[tuple[str, bytes]],
        *,
        marker: bytes | None = None,
    ) -> None:
        """Queue a record's outputs. `marker`: the record alerted; remember its transaction id
        in the changelog (exactly_once: in the same transaction; at_least_once: once the alert
        is acknowledged, so a marker never stands for an alert that was lost)."""
        txn = self._txns.get(ticket.tp[1]) if self.exactly_once else None
        count = len(outputs) + (1 if marker is not None and txn is not None else 0)
        slot = self._shadow_slots.get(ticket)
        if slot is not None:
            # shadow mode: the challenger's score is one more output of this record
            if slot == shadow_slots.WAITING:
                count += 1
                self._shadow_slots[ticket] = shadow_slots.DECLARED
            else:
                del self._shadow_slots[ticket]
                if slot != shadow_slots.NOTHING:
                    outputs = [*outputs, (self.settings.topics.shadow, slot)]
                    count += 1
        if not self.tracker.produced(ticket, count):
            self._shadow_slots.pop(ticket, None)
            return  # the partition was revoked meanwhile: its new owner scores the record again
        if txn is None:
            for topic, value in outputs:
                tagged = marker if topic == self.settings.topics.alerts else None
                self._outbox.append(_Output(ticket, topic, key, value, 1, marker=tagged))
        else:
            ready = [_Output(ticket, topic, key, value, 1, txn=txn) for topic, value in outputs]
            if marker is not None:
                ready.append(self._marker_output(ticket, marker, txn=txn))
            self._outbox.extend(txn.hold(ticket.offset, ready))
        self._outbox_ready.set()

    def _marker_output(
        self, ticket: Ticket, marker: bytes, *, txn: PartitionTxn | None = None
    ) -> _Output:
        return _Output(
            ticket,
            changelog_topic(self.settings),
            marker,
            encode_marker(time.time()),
            1,
            partition=ticket.tp[1],
            txn=txn,
            tracked=txn is not None,
        )

    async def _sender_loop(self) -> None:
        """Hands outputs to the producer in the order they were made (one coroutine, no task per
        record); `producer.send` only waits when the producer's buffer is full."""
        assert self._producer is not None
        producer = self._producer
        outbox = self._outbox
        while True:
            if not outbox:
                self._outbox_ready.clear()
                await self._outbox_ready.wait()
                continue
            out = outbox.popleft()
            target = producer
            if out.txn is not None:
                if self._txns.get(out.txn.partition) is not out.txn:
                    continue  # revoked: the partition's new owner produces it again
                try:
                    await out.txn.ensure_open()
                except KafkaError as exc:
                    self._send_failed(out, exc)
                    continue
                target = out.txn.producer
            try:
                delivery = await target.send(
                    out.topic, out.value, key=out.key, partition=out.partition
                )
            except KafkaError as exc:
                self._send_failed(out, exc)
                continue
            delivery.add_done_callback(functools.partial(self._delivered, out))

    def _delivered(self, out: _Output, f: asyncio.Future[Any]) -> None:
        if f.cancelled() or f.exception() is not None:
            self._send_failed(out, None if f.cancelled() else f.exception())
            return
        if not out.tracked:
            return
        if self.observer is not None:
            self.observer.on_acked(out.topic, out.ticket)
        if out.txn is not None:
            out.txn.unacked -= 1
        self.tracker.acked(out.ticket)
        if out.marker is not None:
            self._outbox.append(self._marker_output(out.ticket, out.marker))
            self._outbox_ready.set()

    def _send_failed(self, out: _Output, error: BaseException | None) -> None:
        if not out.tracked:
            # a lost dedupe marker costs at most one repeated alert after a crash
            log.warning("could not write an alert-dedupe marker: %s", error)
            return
        if out.txn is not None:
            if self._txns.get(out.txn.partition) is not out.txn or self._fatal is not None:
                return  # revoked meanwhile, or already stopping: said once is enough
            # A transaction with a failed send cannot be committed; stopping leaves it to be
            # aborted, and the records to be read again from the last committed offset.
            log.error("exactly_once: send to %s failed (%s); stopping", out.topic, error)
            self._fatal = error or RuntimeError("send cancelled")
            self.stop()
            return
        if isinstance(error, _TOO_LARGE) and out.topic != self.settings.topics.dlq:
            self._dead_letter_output(out, error)
            return
        if out.attempt >= MAX_SEND_ATTEMPTS:
            log.error(
                "giving up sending to %s after %d attempts: %s", out.topic, out.attempt, error
            )
            self._fatal = error or RuntimeError("send cancelled")
            self.stop()
            return
        log.warning("send to %s failed (%s); retrying", out.topic, error)
        retry = _Output(
            out.ticket,
            out.topic,
            out.key,
            out.value,
            out.attempt + 1,
            partition=out.partition,
            marker=out.marker,
        )
        asyncio.get_running_loop().call_later(0.2 * out.attempt, self._requeue, retry)

    def _dead_letter_output(self, out: _Output, error: BaseException) -> None:
        """An output the broker refuses as too large (a topic's `max.message.bytes` below what a
        record needs): in its place, a dead letter holding its head and sha256, so that the
        stream goes on and nothing is silently lost (retrying could never succeed)."""
        ticket = out.ticket
        self.counters.outputs_too_large += 1
        kinds = self.counters.dead_letter_kinds
        kinds["output_too_large"] = kinds.get("output_too_large", 0) + 1
        log.warning(
            "the broker refused a %d-byte record for %s as too large (%s): dead-lettered instead",
            len(out.value),
            out.topic,
            type(error).__name__,
        )
        stub = dead_letter(
            DecodeError(
                "output_too_large",
                f"the {out.topic} record of {len(out.value):,} bytes was refused by the broker "
                f"({type(error).__name__}); its head and sha256 are kept here",
            ),
            topic=ticket.tp[0],
            partition=ticket.tp[1],
            offset=ticket.offset,
            timestamp_ms=None,
            key=out.key,
            value=out.value,
            now_ms=int(time.time() * 1000),
            processor_version=__version__,
            worker=self.worker_id,
            max_payload_bytes=OUTPUT_STUB_BYTES,
        )
        self._requeue(
            _Output(ticket, self.settings.topics.dlq, out.key, stub, 1, partition=out.partition)
        )

    def _requeue(self, out: _Output) -> None:
        self._outbox.append(out)
        self._outbox_ready.set()

    # ------------------------------------------------------------------------------ commit

    async def _state_loop(self) -> None:
        """Bounded state: entities idle past the horizon expire, and a partition over
        `state_max_entities` forgets its least recently seen; both become tombstones in the
        changelog at the next flush, so a new owner restores only the live ones."""
        settings = self.settings
        idle = settings.state_idle_expiry_s
        if idle is None:
            idle = self.spec.horizon_s()
        while True:
            await asyncio.sleep(settings.state_maintenance_interval_s)
            for state in list(self.states.values()):
                if idle > 0 and math.isfinite(state.stream_time):
                    self.counters.state_expired += state.expire(state.stream_time, idle)
                if settings.state_max_entities > 0:
                    self.counters.state_evicted += state.evict(settings.state_max_entities)

    def state_entities(self) -> int:
        """Entities held in memory, over this worker's partitions."""
        return sum(len(state) for state in self.states.values())

    async def _gc_loop(self) -> None:
        # the first freeze right away: the model, the libraries and the restored state
        while True:
            self.gc_watch.freeze()
            await asyncio.sleep(self.settings.gc_freeze_interval_s)

    async def _commit_loop(self) -> None:
        interval = self.settings.commit_interval_ms / 1000.0
        while True:
            await asyncio.sleep(interval)
            await self._commit(wait=False)

    async def _commit(self, only: set[int] | None = None, *, wait: bool = True) -> None:
        """The commit sequence (see the module docstring and `batching/offsets.py`)."""
        assert self._consumer is not None and self._store is not None
        if self.exactly_once:
            parts = set(self._txns) if only is None else only & set(self._txns)
            if not wait:
                # Each partition commits on its own: one slow transaction must not hold the
                # others open past transaction_timeout_ms.
                for p in parts:
                    running = self._txn_commits.get(p)
                    if running is None or running.done():
                        self._txn_commits[p] = asyncio.ensure_future(self._commit_txn(p))
                return
            for p in sorted(parts):
                running = self._txn_commits.get(p)
                if running is not None and not running.done():
                    await asyncio.wait([running])
            await asyncio.gather(*(self._commit_txn(p) for p in sorted(parts)))
            return
        offsets = self.tracker.committable()  # step 1
        if only is not None:
            offsets = {tp: o for tp, o in offsets.items() if tp[1] in only}
        if not offsets:
            # Nothing new to commit, but expiry or eviction may have left tombstones: written
            # now, not at the next input (an idle partition would hold them forever).
            idle = [
                p for p, st in self.states.items() if st.has_dirty() and (only is None or p in only)
            ]
            if idle:
                await self._store.flush(self.states, idle)
            return
        await self._store.flush(self.states, {tp[1] for tp in offsets})  # step 2
        try:
            await self._consumer.commit(
                {TopicPartition(*tp): off for tp, off in offsets.items()}
            )  # step 3
        except (CommitFailedError, KafkaError) as exc:
            # A rebalance took the partition away: its new owner replays from the last commit.
            log.warning("commit failed (%s); the records will be read again", exc)
            return
        self.tracker.committed(offsets)

    async def _commit_txn(self, partition: int) -> None:
        """exactly_once: the commit sequence of `stream/transactions.py`, for one partition."""
        assert self._store is not None
        txn = self._txns.get(partition)
        if txn is None or txn.committing or self._fatal is not None:
            return
        tp = (self.settings.topics.input, partition)
        txn.committing = True  # step 1
        try:
            deadline = time.monotonic() + self.settings.kafka.request_timeout_ms / 1000.0
            while txn.unacked > 0:  # step 2
                if self._fatal is not None:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"outputs of partition {partition} not acknowledged within "
                        "kafka.request_timeout_ms"
                    )
                await asyncio.sleep(0.002)
            offsets = {k: v for k, v in self.tracker.committable().items() if k == tp}
            if not txn.open and not offsets:
                return
            await txn.ensure_open()
            await self._store.flush(self.states, [partition], producer=txn.producer)  # step 3
            if offsets:
                await txn.producer.send_offsets_to_transaction(  # step 4
                    {TopicPartition(*tp): offsets[tp]}, self.settings.group_id
                )
            await self._before_txn_commit(partition)
            await txn.producer.commit_transaction()  # step 5
            txn.open = False
            if offsets:
                self.tracker.committed(offsets)
        except Exception as exc:
            # Fenced by a new owner, transaction timed out, broker gone: stop without
            # committing; read_committed readers never see this transaction's outputs.
            log.error(
                "exactly_once: committing partition %d failed (%s: %s); stopping",
                partition,
                type(exc).__name__,
                exc,
            )
            self._fatal = exc
            self.stop()
            return
        finally:
            txn.committing = False
            if self._fatal is None:
                # step 6, on every way out: outputs held meanwhile must not wait for the next
                # commit (an early return when there was nothing to commit included)
                released = txn.release()
                if released:
                    self._outbox.extend(released)
                    self._outbox_ready.set()

    async def _before_txn_commit(self, partition: int) -> None:
        """A seam for fault injection: the chaos tool delays transaction commits here."""

    # ------------------------------------------------------------------------------ model work

    def _prepare(self, works: list[Work]) -> Any:
        # A batch formed across a hot swap holds records tokenised by two models: each group
        # runs on the model that tokenised it.
        groups: dict[int, tuple[Scoring, list[int]]] = {}
        for i, w in enumerate(works):
            scoring = w.scoring or self.scoring
            groups.setdefault(id(scoring), (scoring, []))[1].append(i)
        return len(works), [
            (
                scoring,
                index,
                scoring.prepare(
                    [works[i].row for i in index], [works[i].token_ids or [] for i in index]
                ),
            )
            for scoring, index in groups.values()
        ]

    def _infer(self, prepared: Any) -> _BatchResult:
        """Scores, reasons of the alerting rows, and the narratives' own risk (NaN where the
        model has no text head), for one batch (inference thread)."""
        n, groups = prepared
        probs = np.zeros(n, dtype=np.float64)
        risks = np.full(n, np.nan)
        by_index: dict[int, list[Reason]] = {}
        for scoring, index, batch in groups:
            p, reasons, logits = scoring.predict_explain(batch, self._threshold(scoring))
            for j, x in enumerate(p):
                probs[index[j]] = x
            for j, r in reasons.items():
                by_index[index[j]] = r
            if logits is not None:
                risks[index] = logits
        return probs, by_index, risks

    # ------------------------------------------------------------------------------ hot swap

    def swap_model(self, scoring: Scoring) -> None:
        """Score records routed from now on with `scoring`; records already routed (queued or
        in a running batch) finish on the model that routed them. Call on the event loop."""
        old = self.scoring.version
        self.scoring = scoring
        self.model_swaps += 1
        log.info("model swapped: %s -> %s", old, scoring.version)

    def request_reload(self) -> None:
        """SIGHUP: load the rule file and the model folder again (the model off the loop) and
        swap them in; on failure keep the current ones and say why."""
        if self.settings.rules_path:
            try:
                self.rules = load_rule_file(self.settings.rules_path)
                log.info("SIGHUP: rules reloaded from %s", self.settings.rules_path)
            except ConfigError as exc:
                log.error("SIGHUP: rules not reloaded, the current ones stay: %s", exc)
        if self.reloader is None:
            log.warning("SIGHUP: this processor was given a model object; nothing to reload")
            return
        if self._reloading:
            log.info("SIGHUP: a reload is already running")
            return
        self._reloading = True
        task = asyncio.ensure_future(self._reload(self.reloader))
        self._batch_tasks.add(task)
        task.add_done_callback(self._batch_tasks.discard)

    async def _reload(self, reloader: Callable[[], Scoring]) -> None:
        try:
            scoring = await asyncio.to_thread(reloader)
        except Exception as exc:
            log.error("model reload failed; still scoring with %s: %s", self.scoring.version, exc)
            return
        finally:
            self._reloading = False
        self.swap_model(scoring)

    # ------------------------------------------------------------------------------ shadow

    def _submit_shadow(self, works: list[Work]) -> None:
        """Register a shadow output slot per record, then let the challenger score them in its
        own thread; the champion goes on meanwhile (see stream/shadow.py)."""
        for w in works:
            self._shadow_slots[w.ticket] = shadow_slots.WAITING
        task = asyncio.ensure_future(self._run_shadow(works))
        self._batch_tasks.add(task)
        task.add_done_callback(self._batch_tasks.discard)

    async def _run_shadow(self, works: list[Work]) -> None:
        challenger = self.shadow
        assert challenger is not None and self._shadow_pool is not None
        values: list[bytes]
        try:
            scores, stages = await asyncio.get_running_loop().run_in_executor(
                self._shadow_pool,
                shadow_slots.challenger_scores,
                challenger,
                [w.row for w in works],
                self.settings.max_batch_size,
            )
            threshold = self._threshold(challenger)
            block = max(threshold, challenger.block_threshold)
            now_ms = int(time.time() * 1000)
            values = []
            for work, score, stage in zip(works, scores, stages, strict=True):
                decision = Decision(
                    score=min(1.0, max(0.0, float(score))),
                    band=band_of(float(score), threshold, block),
                    reasons=[],
                    model_version=challenger.version,
                    stage=stage,
                    alert=float(score) >= threshold,
                )
                values.append(orjson.dumps(score_record(work, decision, now_ms=now_ms)))
        except Exception:  # a broken challenger must never stop the champion
            log.exception("shadow model failed on %d records; no shadow scores", len(works))
            values = [shadow_slots.NOTHING] * len(works)
        for work, value in zip(works, values, strict=True):
            ticket = work.ticket
            slot = self._shadow_slots.get(ticket)
            if slot is None:
                continue  # revoked meanwhile
            if slot == shadow_slots.WAITING:
                self._shadow_slots[ticket] = value  # the champion sends it with its own
                continue
            del self._shadow_slots[ticket]
            if value == shadow_slots.NOTHING:
                self.tracker.acked(ticket)  # declared, but there is nothing to send
            else:
                self._outbox.append(
                    _Output(ticket, self.settings.topics.shadow, work.source.key, value, 1)
                )
        self._outbox_ready.set()

    def lag(self) -> dict[TP, int]:
        """Per assigned input partition: records on the broker not yet done (outputs all
        acknowledged). The high watermark is the one of the last fetch response."""
        consumer = self._consumer
        if consumer is None:
            return {}
        out: dict[TP, int] = {}
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                continue
            key: TP = (tp.topic, tp.partition)
            done = self.tracker.position(key)
            if done is not None:
                out[key] = max(0, high - done)
            elif high == 0:
                out[key] = 0  # an empty partition; otherwise unknown until its first record
        return out

    # ------------------------------------------------------------------------------ rebalance

    async def on_assigned(self, partitions: set[int]) -> None:
        assert self._store is not None
        if self._fatal is not None:
            # A stopping worker (e.g. a fenced zombie that rejoined) must not start producers:
            # that would fence the partitions' healthy new owners in turn.
            return
        for p in sorted(partitions - self._assigned):
            if self.exactly_once:
                # Before the restore: init_transactions fences the partition's previous owner
                # and aborts its open transaction, which a read_committed restore waits behind.
                txn = PartitionTxn(
                    self.settings, p, client_id=f"{self.settings.kafka.client_id}-{self.worker_id}"
                )
                try:
                    await txn.start()
                except Exception as exc:
                    log.error(
                        "exactly_once: cannot start the transactional producer %r (%s: %s); "
                        "fix: transaction_timeout_ms must not exceed the broker's "
                        "transaction.max.timeout.ms, and the principal needs the Write and "
                        "Describe ACLs on transactional ids starting with %r",
                        txn.transactional_id,
                        type(exc).__name__,
                        exc,
                        f"{self.settings.group_id}.",
                    )
                    self._fatal = exc
                    self.stop()
                    await txn.stop()
                    return
                self._txns[p] = txn
            began = time.monotonic()
            self.states[p] = await self._store.restore(p)
            self.counters.restore_seconds += time.monotonic() - began
            self._dedupe[p] = self._restore_dedupe(p)
            self._assigned.add(p)
        self._last_input = time.monotonic()  # idleness counts from the moment we can read
        self.ready.set()
        log.info("assigned partitions %s", sorted(self._assigned))

    async def on_revoked(self, partitions: set[int]) -> None:
        """Finish the work of the partitions we lose, commit it, then forget them."""
        topic = self.settings.topics.input
        deadline = time.monotonic() + self.settings.shutdown_timeout_s
        while (
            any(self.tracker.in_flight((topic, p)) for p in partitions)
            and time.monotonic() < deadline
            and self._fatal is None  # nothing more will be acknowledged
        ):
            self._wake.set()
            await asyncio.sleep(0.01)
        await self._commit(only=partitions)
        for p in partitions:
            self.tracker.revoke([(topic, p)])
            self.admission.revoke((topic, p))
            for ticket in [t for t in self._shadow_slots if t.tp == (topic, p)]:
                del self._shadow_slots[ticket]
            self.states.pop(p, None)
            self._dedupe.pop(p, None)
            self._assigned.discard(p)
            txn = self._txns.pop(p, None)
            if txn is not None:
                await txn.stop()
        log.info("revoked partitions %s", sorted(partitions))

    def _restore_dedupe(self, partition: int) -> AlertDedupe:
        assert self._store is not None
        dedupe = AlertDedupe(self.settings.alert_dedup_window_s, self.settings.duplicate_window)
        now = time.time()
        for transaction_id, raw in self._store.alerted.pop(partition, []):
            at = decode_marker(raw)
            if at is not None:
                dedupe.load(transaction_id, at, now)
        return dedupe


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, processor: Processor) -> None:
        self.processor = processor

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        if revoked:
            await self.processor.on_revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self.processor.on_assigned({tp.partition for tp in assigned})
