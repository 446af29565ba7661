"""The outbox: every output (score, alert, dead letter, shadow score, dedupe marker) goes to the
broker in the order it was made, and is acknowledged to the offset tracker when the broker has
it.

Theory of operation
-------------------
`send` declares a record's outputs to the tracker (`batching/offsets.py`: its offset is
committable once all of them are acknowledged) and queues them. One sender coroutine hands them
to the producer in order (no task per record; `producer.send` only waits when the producer's
buffer is full), each with a delivery callback:

* acknowledged: the tracker hears of it; an at-least-once alert then queues its dedupe marker
  (so that a marker never stands for an alert that was lost);
* refused as too large: a dead letter holding the output's head and sha256 takes its place
  (retrying could never succeed, and nothing may vanish);
* failed otherwise: retried with a growing delay, and after `MAX_SEND_ATTEMPTS` the worker stops
  without committing, so a restart reads the input again. In exactly_once mode a failed send
  stops the worker at once: its transaction cannot be committed and is left to be aborted.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import (
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from fraudstream import __version__
from fraudstream.batching import Ticket
from fraudstream.dedupe import encode_marker
from fraudstream.records import DecodeError, dead_letter
from fraudstream.stream.context import WorkerContext
from fraudstream.stream.shadow import ShadowSlots
from fraudstream.stream.topics import changelog_topic
from fraudstream.stream.transactions import PartitionTxn

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 5
OUTPUT_STUB_BYTES = 4096
"""How much of a refused output its dead-letter stub keeps (with the sha256 of the whole)."""
_TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError)


@dataclass(frozen=True, slots=True)
class Output:
    ticket: Ticket
    topic: str
    key: bytes | None
    value: bytes
    attempt: int = 1
    partition: int | None = None
    txn: PartitionTxn | None = None
    """exactly_once: the transaction this output belongs to (a revoked one's are dropped)."""
    tracked: bool = True
    """False for the at-least-once alert-dedupe marker: it does not hold back the offset."""
    marker: bytes | None = None
    """at_least_once alerts: the changelog key to write once the alert is acknowledged."""


class Outbox:
    def __init__(self, ctx: WorkerContext, shadow: ShadowSlots | None = None) -> None:
        self.ctx = ctx
        self.shadow = shadow
        self._queue: deque[Output] = deque()
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._queue)

    def send(
        self,
        ticket: Ticket,
        key: bytes | None,
        outputs: list[tuple[str, bytes]],
        *,
        marker: bytes | None = None,
    ) -> None:
        """Declare a record's outputs and queue them. `marker`: the record alerted; remember
        its transaction id in the changelog (exactly_once: in the same transaction;
        at_least_once: once the alert is acknowledged)."""
        ctx = self.ctx
        txn = ctx.txns.get(ticket.tp[1]) if ctx.exactly_once else None
        count = len(outputs) + (1 if marker is not None and txn is not None else 0)
        if self.shadow is not None:
            outputs, more = self.shadow.champion(ticket, outputs, ctx.settings.topics.shadow)
            count += more
        if not ctx.tracker.produced(ticket, count):
            if self.shadow is not None:
                self.shadow.forget(ticket)
            return  # the partition was revoked meanwhile: its new owner scores the record again
        if txn is None:
            alerts = ctx.settings.topics.alerts
            for topic, value in outputs:
                tagged = marker if topic == alerts else None
                self._queue.append(Output(ticket, topic, key, value, marker=tagged))
        else:
            ready = [Output(ticket, topic, key, value, txn=txn) for topic, value in outputs]
            if marker is not None:
                ready.append(self._marker(ticket, marker, txn=txn))
            self._queue.extend(txn.hold(ticket.offset, ready))
        self._ready.set()

    def push(self, outputs: Iterable[Output]) -> None:
        """Queue outputs already declared (released by a transaction, a retry, a shadow score)."""
        self._queue.extend(outputs)
        self._ready.set()

    def send_declared(self, ticket: Ticket, topic: str, key: bytes | None, value: bytes) -> None:
        """Queue one output the record declared already (a shadow score that came second)."""
        self.push([Output(ticket, topic, key, value)])

    def _marker(self, ticket: Ticket, marker: bytes, *, txn: PartitionTxn | None = None) -> Output:
        return Output(
            ticket,
            changelog_topic(self.ctx.settings),
            marker,
            encode_marker(time.time()),
            partition=ticket.tp[1],
            txn=txn,
            tracked=txn is not None,
        )

    async def run(self) -> None:
        """The sender loop: hands outputs to the producer in the order they were made."""
        ctx = self.ctx
        assert ctx.producer is not None
        producer = ctx.producer
        queue = self._queue
        while True:
            if not queue:
                self._ready.clear()
                await self._ready.wait()
                continue
            out = queue.popleft()
            target = producer
            if out.txn is not None:
                if ctx.txns.get(out.txn.partition) is not out.txn:
                    continue  # revoked: the partition's new owner produces it again
                try:
                    await out.txn.ensure_open()
                except KafkaError as exc:
                    self._failed(out, exc)
                    continue
                target = out.txn.producer
            try:
                delivery = await target.send(
                    out.topic, out.value, key=out.key, partition=out.partition
                )
            except KafkaError as exc:
                self._failed(out, exc)
                continue
            delivery.add_done_callback(functools.partial(self._delivered, out))

    def _delivered(self, out: Output, f: asyncio.Future[Any]) -> None:
        if f.cancelled() or f.exception() is not None:
            self._failed(out, None if f.cancelled() else f.exception())
            return
        if not out.tracked:
            return
        ctx = self.ctx
        if ctx.observer is not None:
            ctx.observer.on_acked(out.topic, out.ticket)
        if out.txn is not None:
            out.txn.unacked -= 1
        ctx.tracker.acked(out.ticket)
        ctx.moved()
        if out.marker is not None:
            self.push([self._marker(out.ticket, out.marker)])

    def _failed(self, out: Output, error: BaseException | None) -> None:
        ctx = self.ctx
        if not out.tracked:
            # a lost dedupe marker costs at most one repeated alert after a crash
            log.warning("could not write an alert-dedupe marker: %s", error)
            return
        if out.txn is not None:
            if ctx.txns.get(out.txn.partition) is not out.txn or ctx.fatal is not None:
                return  # revoked meanwhile, or already stopping: said once is enough
            # A transaction with a failed send cannot be committed; stopping leaves it to be
            # aborted, and the records to be read again from the last committed offset.
            log.error("exactly_once: send to %s failed (%s); stopping", out.topic, error)
            ctx.fail(error or RuntimeError("send cancelled"))
            return
        if isinstance(error, _TOO_LARGE) and out.topic != ctx.settings.topics.dlq:
            self._too_large(out, error)
            return
        if out.attempt >= MAX_SEND_ATTEMPTS:
            log.error(
                "giving up sending to %s after %d attempts: %s", out.topic, out.attempt, error
            )
            ctx.fail(error or RuntimeError("send cancelled"))
            return
        log.warning("send to %s failed (%s); retrying", out.topic, error)
        retry = Output(
            out.ticket,
            out.topic,
            out.key,
            out.value,
            out.attempt + 1,
            partition=out.partition,
            marker=out.marker,
        )
        asyncio.get_running_loop().call_later(0.2 * out.attempt, self.push, [retry])

    def _too_large(self, out: Output, error: BaseException) -> None:
        """An output the broker refuses as too large (a topic's `max.message.bytes` below what a
        record needs): in its place, a dead letter holding its head and sha256, so that the
        stream goes on and nothing is silently lost."""
        ctx = self.ctx
        ticket = out.ticket
        ctx.counters.outputs_too_large += 1
        kinds = ctx.counters.dead_letter_kinds
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
            worker=ctx.worker_id,
            max_payload_bytes=OUTPUT_STUB_BYTES,
        )
        self.push([Output(ticket, ctx.settings.topics.dlq, out.key, stub, partition=out.partition)])
