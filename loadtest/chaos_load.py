"""The load and the count of the fault scenarios (`loadtest/chaos.py`): an open-loop generator
that counts as sent only what the broker acknowledged (`Generator`), a watch of the visible
output (`Progress`: stalls, resumption), the independent count (`tally`), and `under_load`, the
shape every scenario shares (topics, load, supervised workers, then the count)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from fraudstream.config import Settings
from fraudstream.stream.audit import id_counts, read_topic
from fraudstream.stream.clients import make_consumer, make_producer
from fraudstream.stream.topics import prepare_topics
from loadtest.chaos_data import ALERT_EVERY, good_record
from loadtest.chaos_processes import Env, Supervisor
from loadtest.schedule import Schedule


class Generator:
    """Open-loop load: `rate` good transactions per second until stopped. Counts as *sent* only
    what the broker acknowledged; a failed send (broker down) is sent again later."""

    def __init__(self, settings: Settings, rate: float) -> None:
        self.settings = settings
        self.rate = rate
        self.acked: set[str] = set()
        self.failed_sends = 0
        self.last_error = ""
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self, timeout: float = 120.0) -> set[str]:
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout)
        return self.acked

    async def _run(self) -> None:
        retry: deque[int] = deque()
        pending: set[asyncio.Future[Any]] = set()
        topic = self.settings.topics.input
        broken = asyncio.Event()

        def done(i: int, tid: str, f: asyncio.Future[Any]) -> None:
            pending.discard(f)
            if f.cancelled() or f.exception() is not None:
                self.failed_sends += 1
                self.last_error = type(f.exception()).__name__ if not f.cancelled() else "cancelled"
                retry.append(i)
                # aiokafka's idempotent producer does not recover its sequence numbers after a
                # batch failed (OutOfOrderSequenceNumber for ever): start a fresh producer.
                broken.set()
            else:
                self.acked.add(tid)

        # the load test's open-loop schedule (record i due at start + i / rate), without end
        schedule = Schedule(self.rate, count=sys.maxsize, start=time.time())
        i = 0
        while not self._stop.is_set() or retry or pending:
            producer = make_producer(self.settings.kafka, linger_ms=5, request_timeout_ms=5000)
            try:
                await producer.start()
            except KafkaError:
                with contextlib.suppress(KafkaError):
                    await producer.stop()
                await asyncio.sleep(0.5)
                continue
            broken.clear()
            try:
                while (not self._stop.is_set() or retry or pending) and not broken.is_set():
                    if self._stop.is_set() and not retry:
                        await asyncio.sleep(0.05)
                        continue
                    if retry:
                        j = retry.popleft()
                    else:
                        delay = schedule.intended(i) - time.time()
                        if delay > 0.002:
                            await asyncio.sleep(delay)
                        j, i = i, i + 1
                    key, value, tid = good_record(j)
                    try:
                        fut = await producer.send(topic, value, key=key)
                    except KafkaError:
                        self.failed_sends += 1
                        retry.append(j)
                        await asyncio.sleep(0.2)
                        continue
                    pending.add(fut)
                    fut.add_done_callback(lambda f, j=j, tid=tid: done(j, tid, f))
            finally:
                with contextlib.suppress(KafkaError):
                    await producer.stop()  # fails what it still holds: they go to `retry`
            if broken.is_set():
                await asyncio.sleep(0.5)


class Progress:
    """Samples the committed end of the scores topic (what a read_committed reader can see)
    every 0.1 s, to time stalls: a broker bounce, a rebalance."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.samples: list[tuple[float, int]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        topic = self.settings.topics.scores
        tps = [TopicPartition(topic, p) for p in range(self.settings.topics.partitions)]
        consumer = make_consumer(
            self.settings.kafka,
            group_id=None,
            isolation_level="read_committed",
            request_timeout_ms=3000,
        )
        await consumer.start()
        try:
            consumer.assign(tps)
            while True:
                with contextlib.suppress(KafkaError, asyncio.TimeoutError):
                    ends = await asyncio.wait_for(consumer.end_offsets(tps), 3.0)
                    self.samples.append((time.monotonic(), sum(ends.values())))
                await asyncio.sleep(0.1)
        finally:
            await consumer.stop()

    def first_progress_after(self, t: float) -> float | None:
        """Seconds from `t` until the visible count first grows."""
        before = [n for ts, n in self.samples if ts <= t]
        base = before[-1] if before else 0
        for ts, n in self.samples:
            if ts > t and n > base:
                return round(ts - t, 2)
        return None

    def longest_stall(self, t0: float, t1: float) -> float:
        """The longest time within [t0, t1] during which the visible count did not grow."""
        last = t0
        worst = 0.0
        prev: int | None = None
        for ts, n in self.samples:
            if ts < t0:
                prev = n
                continue
            if ts > t1:
                break
            if prev is not None and n > prev:
                worst = max(worst, ts - last)
                last = ts
            prev = n
        return round(max(worst, 0.0), 2)


# ------------------------------------------------------------------------------------------ counting


async def tally(settings: Settings, sent: set[str]) -> dict[str, Any]:
    """Count outputs with an independent read_committed reader."""
    scores = await read_topic(settings.kafka, settings.topics.scores, timeout=120)
    alerts = await read_topic(settings.kafka, settings.topics.alerts, timeout=120)
    counts = id_counts(scores)
    alert_counts = id_counts([a for a in alerts if a.value], field="alert_id")
    expected_alerts = {t for t in sent if int(t.split("-")[1]) % ALERT_EVERY == 0}
    alerted = {k.removeprefix("alert-") for k in alert_counts}
    return {
        "sent": len(sent),
        "scores": len(scores),
        "missing": len(sent - counts.keys()),
        "duplicates": sum(c - 1 for c in counts.values()),
        "alerts": len(alerts),
        "missing_alerts": len(expected_alerts - alerted),
        "duplicate_alerts": sum(c - 1 for c in alert_counts.values()),
    }


async def prepare(env: Env) -> Settings:
    settings = env.settings
    await prepare_topics(settings)
    return settings


@dataclass
class Run:
    """One scenario under way: its settings, load, workers and clock (`under_load`)."""

    env: Env
    settings: Settings
    gen: Generator
    sup: Supervisor
    progress: Progress | None
    t0: float = field(default_factory=time.monotonic)
    sent: set[str] = field(default_factory=set)
    restarts: int = 0
    crashes: list[str] = field(default_factory=list)

    async def finish(self, *, settle: bool = False) -> None:
        """Stop the load and let the workers finish: `settle` (wait for the output to go quiet,
        then SIGTERM them), or drain (they stop by themselves once idle)."""
        self.sent = await self.gen.stop()
        if settle:
            assert self.progress is not None
            await self.sup.settle(self.progress)
        else:
            await self.sup.drain()
        if self.progress is not None:
            await self.progress.stop()
        self.restarts, self.crashes = self.sup.restarts, list(self.sup.crashes)

    async def report(self, scenario: str, **figures: Any) -> dict[str, Any]:
        """The scenario's result: its figures and the independent count."""
        counts = await tally(self.settings, self.sent)
        return {
            "scenario": scenario,
            "guarantee": self.env.guarantee,
            **figures,
            **counts,
            "elapsed_s": round(time.monotonic() - self.t0, 1),
        }


@asynccontextmanager
async def under_load(
    env: Env,
    rate: float,
    *,
    watch: bool = False,
    idle_exit: float | None = 5.0,
    extra_for: Callable[[int], tuple[str, ...]] | None = None,
) -> AsyncIterator[Run]:
    """The scenarios' shared shape: the topics, the load at `rate` (and a watch of the output
    with `watch`), supervised workers (none started yet); on leaving, the workers still running
    are killed. Call `Run.finish` inside, `Run.report` after."""
    settings = await prepare(env)
    gen = Generator(settings, rate)
    progress = Progress(settings) if watch else None
    with Supervisor(env, extra_for=extra_for) as sup:
        sup.idle_exit = idle_exit
        gen.start()
        if progress is not None:
            progress.start()
        yield Run(env, settings, gen, sup, progress)
