"""The labels topic, consumed by every worker into the delayed-label risk state.

Theory of operation
-------------------
The label-fed tables (`FeatureSpec.label_roles()`: a terminal's or merchant's delayed risk) are
read by every input partition, since one terminal sees the cards of every partition. So each
worker reads *all* partitions of the labels topic with its own group-less consumer, into one
`FeatureState` whose label-fed tables the partitions' states share (`FeatureState(shared=...)`).

No loss without commits: that state is not written to a changelog nor are label offsets committed;
at start the worker reads the labels topic from its beginning to its end *before* it joins the
input group (`start`), so every verdict still on the topic is in the state before the first score.
Keep the labels topic's retention at least the longest delay + window of the model (the default
retention, 7 days, is shorter than the handbook model's 7 + 30 days: set `retention.ms`).

The delay (see `fraudstream/labels.py`): verdicts wait in `DueLabels` and are applied, in due
order, right before the first event whose time reaches transaction time + delay, by the
`_Gated` wrapper around each partition's state. Training (`build_features`) does exactly that.

A verdict without the transaction's time and entities (`fraudstream label TX --fraud`) is completed
from this worker's memory of recent transactions; the completed record is published back to the
labels topic so that the other workers, and this one after a restart, apply it too (the repeat is
then dropped by transaction id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from fraudstream.config import Settings
from fraudstream.events import Event, LabelEvent
from fraudstream.features import FeatureRow, FeatureSpec, FeatureState
from fraudstream.labels import (
    DueLabels,
    Label,
    LabelBook,
    RecentTransactions,
    completed_record,
    decode_label,
)
from fraudstream.pipeline import PartitionState
from fraudstream.stream.clients import make_consumer

log = logging.getLogger(__name__)


class LabelFeed:
    def __init__(self, settings: Settings, spec: FeatureSpec) -> None:
        self.settings = settings
        self.spec = spec
        self.topic = settings.topics.labels
        roles = spec.label_roles()
        owned = sorted({d.role for d in spec.delayed} - set(roles))
        if owned:
            # Such a block's state would have to follow its input partition through rebalances;
            # the labels topic feeds only roles no partition owns.
            log.warning(
                "delayed-risk roles %s also have velocity state or key the stream; the labels "
                "topic does not feed them (their features stay 0); fix: give their delayed block "
                "a role without a velocity block",
                owned,
            )
        self.state = FeatureState(spec, track_dirty=False)
        delays = [float(d.delay_s) for d in spec.delayed if d.role in roles]
        self.active = bool(roles)
        capacity = max(1, settings.duplicate_window)
        self.book = LabelBook(
            RecentTransactions(roles, capacity),
            applied_capacity=capacity,
            max_future_s=settings.max_future_skew_s,
            max_age_s=settings.max_event_age_days * 86400.0,
        )
        self.due = DueLabels(min(delays, default=0.0), capacity)
        self.counts = {"read": 0, "applied": 0, "invalid": 0, "completed": 0}
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._sends: set[asyncio.Future[Any]] = set()

    # -- the hot path (fetch loop) --

    def gate(self, state: FeatureState) -> PartitionState:
        return _Gated(state, self) if self.active else state

    def apply_due(self, t: float) -> None:
        for label in self.due.due(t):
            self._apply(label)

    def _apply(self, label: LabelEvent) -> None:
        self.state.apply_label(label)
        self.counts["applied"] += 1

    # -- the consumer --

    async def start(self, producer: AIOKafkaProducer) -> None:
        """Read the labels topic from its beginning to its current end (see the module doc)."""
        if not self.active:
            return
        self._producer = producer
        consumer = make_consumer(
            self.settings.kafka,
            group_id=None,
            client_id=f"{self.settings.kafka.client_id}-labels",
        )
        await consumer.start()
        self._consumer = consumer
        partitions = consumer.partitions_for_topic(self.topic)
        for _ in range(50):
            if partitions:
                break
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(self.topic)
            await asyncio.sleep(0.1)
        if not partitions:
            raise RuntimeError(
                f"topics.labels: topic {self.topic!r} has no partitions; fix: create it "
                "(the processor creates it when it starts) or check --labels-topic"
            )
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if end[tp] > 0}
        while remaining:
            await self.poll(100)
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        log.info("labels: %d read from %s at start", self.counts["read"], self.topic)

    async def run(self) -> None:
        if self._consumer is None:
            return
        while True:
            await self.poll(200)

    async def poll(self, timeout_ms: int) -> None:
        assert self._consumer is not None
        data = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=2000)
        for messages in data.values():
            for m in messages:
                self.counts["read"] += 1
                label = decode_label(m.value)
                if not isinstance(label, Label):
                    self.counts["invalid"] += 1
                    # Every worker reads every label: a dead letter here would be written N times.
                    log.warning(
                        "labels: %s[%d]@%d skipped: %s (%s)",
                        m.topic,
                        m.partition,
                        m.offset,
                        label.message,
                        label.field,
                    )
                    continue
                self.add(label)

    def add(self, label: Label) -> None:
        event, completed = self.book.resolve(label, time.time())
        if event is None:
            return
        if completed:
            self.counts["completed"] += 1
            self._publish(orjson.dumps(completed_record(label, event)), label.transaction_id)
        early = self.due.add(event)
        if early is not None:
            self._apply(early)

    def _publish(self, value: bytes, key: str) -> None:
        producer = self._producer
        if producer is None:
            return

        async def send() -> None:
            try:
                await (await producer.send(self.topic, value, key=key.encode()))
            except Exception as exc:  # this worker applied it; others miss it: say so
                log.warning("labels: could not publish the completed label of %s: %s", key, exc)

        task = asyncio.ensure_future(send())
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def stop(self) -> None:
        if self._sends:
            with contextlib.suppress(Exception):
                await asyncio.wait(list(self._sends), timeout=5)
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
            self._consumer = None

    def as_dict(self) -> dict[str, int]:
        return {
            **self.counts,
            "unresolved": self.book.unresolved,
            "repeated": self.book.repeated,
            "corrections": self.book.corrections,
            "out_of_range": self.book.out_of_range,
            "waiting": len(self.due),
            "released_early": self.due.released_early,
        }


class _Gated:
    """A partition's state behind the labels: due verdicts first, then the event."""

    __slots__ = ("feed", "state")

    def __init__(self, state: FeatureState, feed: LabelFeed) -> None:
        self.state = state
        self.feed = feed

    def process(self, event: Event, position: int | None = None) -> FeatureRow:
        self.feed.apply_due(event.timestamp)
        self.feed.book.recent.remember(event)
        return self.state.process(event, position)
