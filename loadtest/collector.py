"""The collector: reads the scores topic, joins each score to its send and times it.

It runs in the orchestrator's process, never in the generator's. A score's latency is the time
from its record's *intended* send time (the schedule, see `schedule.py`) to the moment the
collector has read it from the scores topic, i.e. the moment it is readable downstream.

The join is by transaction id, which encodes (run, step, index): each step keeps one array of
arrival times indexed by record, so a duplicate, a missing record or a record of another run is
seen at once. The collector also keeps the processor's own `scored_at_ms` per record, which splits
the latency into "until the processor produced it" and "until a reader could read it".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from aiokafka import TopicPartition

from fraudstream.config import KafkaSettings
from fraudstream.localkafka.topics import admin_client
from fraudstream.stream.clients import admin_kwargs, make_consumer
from loadtest.schedule import Schedule, parse_txid

log = logging.getLogger(__name__)


@dataclass
class StepTrack:
    """What the collector knows of one step while it runs."""

    step: int
    rate: float
    count: int
    budget_s: float
    start: float | None = None
    recv: np.ndarray = field(init=False)
    scored_at: np.ndarray = field(init=False)
    batch: np.ndarray = field(init=False)
    received: int = 0
    duplicates: int = 0
    over_budget: int = 0
    timestamp_mismatch: int = 0
    stages: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.recv = np.full(self.count, np.nan)
        self.scored_at = np.full(self.count, np.nan)
        self.batch = np.zeros(self.count, dtype=np.int32)

    @property
    def schedule(self) -> Schedule:
        assert self.start is not None
        return Schedule(self.rate, self.count, self.start)

    def add(self, index: int, now: float, doc: dict[str, Any]) -> None:
        if not 0 <= index < self.count:
            self.duplicates += 1  # not one of ours: count it as noise, never as a join
            return
        if not math.isnan(self.recv[index]):
            self.duplicates += 1
            return
        self.recv[index] = now
        self.received += 1
        scored = doc.get("scored_at_ms")
        if isinstance(scored, int | float):
            self.scored_at[index] = scored / 1000.0
        batch = doc.get("batch")
        if isinstance(batch, dict) and isinstance(batch.get("size"), int):
            self.batch[index] = batch["size"]
        self.stages[str(doc.get("stage", "?"))] += 1
        if self.start is not None:
            intended = self.start + index / self.rate
            if now - intended > self.budget_s:
                self.over_budget += 1
            source = doc.get("source")
            ts = source.get("timestamp_ms") if isinstance(source, dict) else None
            if isinstance(ts, int) and abs(ts - intended * 1000.0) > 1.0:
                self.timestamp_mismatch += 1

    def late_unscored(self, now: float, sent: int) -> int:
        """Records sent more than the budget ago that have no score yet (a lower bound)."""
        if self.start is None:
            return 0
        due = min(sent, self.schedule.due(now - self.budget_s))
        return max(0, due - self.received)

    def latencies(self) -> np.ndarray:
        """Seconds from intended send to arrival per record (NaN: not arrived)."""
        assert self.start is not None
        intended = self.start + np.arange(self.count) / self.rate
        return self.recv - intended


class Collector:
    """Reads one scores topic from its beginning; routes each score to its step."""

    def __init__(self, kafka: KafkaSettings, topic: str, run: str) -> None:
        self.kafka = kafka
        self.topic = topic
        self.run = run
        self.steps: dict[int, StepTrack] = {}
        self.probes: set[str] = set()
        self.foreign = 0
        self.read = 0
        self.model_version: str | None = None
        self._consumer: Any = None
        self._task: asyncio.Task[None] | None = None

    def track(self, step: StepTrack) -> None:
        self.steps[step.step] = step

    async def start(self, timeout: float = 30.0) -> None:
        consumer = make_consumer(
            self.kafka,
            group_id=None,
            client_id="fraudstream-loadtest-collector",
            max_poll_records=10_000,
            fetch_max_wait_ms=2,
        )
        await consumer.start()
        deadline = time.monotonic() + timeout
        partitions = consumer.partitions_for_topic(self.topic)
        while not partitions:
            if time.monotonic() > deadline:
                await consumer.stop()
                raise TimeoutError(f"scores topic {self.topic!r} not found")
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(self.topic)
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        self._consumer = consumer
        self._task = asyncio.create_task(self._loop(), name=f"collect-{self.topic}")

    async def _loop(self) -> None:
        consumer = self._consumer
        loads = orjson.loads
        while True:
            data = await consumer.getmany(timeout_ms=50, max_records=10_000)
            now = time.time()
            for messages in data.values():
                for m in messages:
                    self.read += 1
                    try:
                        doc = loads(m.value)
                        ident = doc["transaction_id"]
                    except (orjson.JSONDecodeError, KeyError, TypeError):
                        self.foreign += 1
                        continue
                    parsed = parse_txid(ident) if isinstance(ident, str) else None
                    if parsed is None or parsed[0] != self.run:
                        self.probes.add(str(ident))
                        continue
                    track = self.steps.get(parsed[1])
                    if track is None:
                        self.foreign += 1
                        continue
                    track.add(parsed[2], now, doc)
                    if self.model_version is None:
                        self.model_version = doc.get("model_version")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()


class LagSampler:
    """Consumer lag of the processor's group on the input topic: end offset minus committed
    offset, summed over partitions (it moves in steps of the processor's commit interval)."""

    def __init__(self, kafka: KafkaSettings, topic: str, group: str) -> None:
        self.kafka = kafka
        self.topic = topic
        self.group = group
        self._consumer: Any = None
        self._admin_cm: Any = None
        self._admin: Any = None

    async def start(self) -> None:
        self._consumer = make_consumer(
            self.kafka, group_id=None, client_id="fraudstream-loadtest-lag"
        )
        await self._consumer.start()
        kwargs = admin_kwargs(self.kafka)
        bootstrap = kwargs.pop("bootstrap_servers")
        self._admin_cm = admin_client(bootstrap, kwargs)
        self._admin = await self._admin_cm.__aenter__()

    async def sample(self) -> int | None:
        try:
            partitions = self._consumer.partitions_for_topic(self.topic) or set()
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            if not tps:
                await self._consumer._client.force_metadata_update()
                return None
            end = await self._consumer.end_offsets(tps)
            committed = await self._admin.list_consumer_group_offsets(self.group)
        except Exception as exc:  # lag is informative only: a failed sample is a gap
            log.debug("lag sample failed: %s", exc)
            return None
        lag = 0
        for tp in tps:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            lag += max(0, end[tp] - done)
        return lag

    async def stop(self) -> None:
        if self._admin_cm is not None:
            with contextlib.suppress(Exception):
                await self._admin_cm.__aexit__(None, None, None)
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
