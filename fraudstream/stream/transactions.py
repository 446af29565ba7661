"""Exactly-once mode: one Kafka transaction stream per input partition.

Theory of operation
-------------------
In `processing_guarantee: exactly_once` every input partition p owned by a worker has its own
transactional producer, `transactional_id = <group>.<input topic>.<p>`. A partition's outputs
(scores, alerts, dead letters, alert-dedupe markers), its changelog writes and its input offset go
into one transaction, so a `read_committed` reader sees either all of a record's outputs and its
offset, or none of them.

Why one producer per partition: aiokafka cannot fence a zombie by consumer-group generation (it
has no `sendOffsetsToTransaction(groupMetadata)`), so fencing rides on the transactional id. The
worker that is assigned p starts a producer with p's id; `init_transactions` bumps the epoch,
aborts whatever transaction the previous owner left open, and makes every later call of the old
owner fail with `ProducerFenced`. A zombie can then neither commit outputs nor offsets.

Why outputs are released in offset order: a transaction must hold exactly the outputs of the
offsets it commits. Records finish out of order (stage-1 scores at once, language-model scores a
batch later), so a finished record's outputs wait in `PartitionTxn` until every earlier offset of
the partition has finished too, and only then go to the producer. At commit time the released
prefix, all acknowledged, *is* the committable offset prefix of `batching/offsets.py`.

Commit sequence of one partition (`stream/checkpoint.py` follows it):
1. stop releasing outputs (`committing`), so the transaction's content stops growing;
2. wait until every released output is acknowledged (`unacked == 0`);
3. write the partition's changed per-entity state to the changelog, in the transaction;
4. `send_offsets_to_transaction({p: committable position}, group)`;
5. `commit_transaction()`; on any error the worker stops without committing: the broker aborts
   the open transaction (or the next owner's `init_transactions` does) and the records are read
   again from the last committed offset, by this worker after a restart or by another one;
6. release the outputs held meanwhile (they open the next transaction).
"""

from __future__ import annotations

import contextlib
from collections import deque
from typing import Any

from aiokafka import AIOKafkaProducer

from fraudstream.config import Settings
from fraudstream.stream.clients import make_producer


def transactional_id(settings: Settings, partition: int) -> str:
    return f"{settings.group_id}.{settings.topics.input}.{partition}"


class InOrderRelease:
    """Outputs of a partition's records, let go in offset order (plain bookkeeping, no I/O).

    `read(offset)` in read order; `hold(offset, outputs)` when a record's outputs are ready;
    both `hold` and `release` return the outputs whose record and every earlier one are ready,
    unless `paused` (a commit is cutting the transaction)."""

    def __init__(self) -> None:
        self.paused = False
        self._order: deque[int] = deque()
        self._held: dict[int, list[Any]] = {}

    def read(self, offset: int) -> None:
        self._order.append(offset)

    def hold(self, offset: int, outputs: list[Any]) -> list[Any]:
        self._held[offset] = outputs
        return self.release()

    def release(self) -> list[Any]:
        if self.paused:
            return []
        out: list[Any] = []
        order, held = self._order, self._held
        while order and order[0] in held:
            out.extend(held.pop(order.popleft()))
        return out

    def __len__(self) -> int:
        """Records read whose outputs are not released yet."""
        return len(self._order)


class PartitionTxn:
    """The transactional producer of one input partition and its in-order release buffer."""

    def __init__(self, settings: Settings, partition: int, *, client_id: str) -> None:
        self.partition = partition
        self.transactional_id = transactional_id(settings, partition)
        self.producer: AIOKafkaProducer = make_producer(
            settings.kafka,
            client_id=client_id,
            transactional_id=self.transactional_id,
            transaction_timeout_ms=settings.transaction_timeout_ms,
        )
        self.open = False
        """A transaction has begun and not yet been committed."""
        self.unacked = 0
        """Outputs handed to the producer and not yet acknowledged."""
        self._release = InOrderRelease()

    async def start(self) -> None:
        # init_transactions: fences the previous owner of this id and aborts its open transaction
        await self.producer.start()

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.producer.stop()

    async def ensure_open(self) -> None:
        if not self.open:
            await self.producer.begin_transaction()
            self.open = True

    @property
    def committing(self) -> bool:
        return self._release.paused

    @committing.setter
    def committing(self, value: bool) -> None:
        self._release.paused = value

    def read(self, offset: int) -> None:
        """Register an input offset, in read order."""
        self._release.read(offset)

    def hold(self, offset: int, outputs: list[Any]) -> list[Any]:
        """The outputs of `offset` are ready; return those that may go to the producer now
        (counted as unacknowledged from here on)."""
        out = self._release.hold(offset, outputs)
        self.unacked += len(out)
        return out

    def release(self) -> list[Any]:
        out = self._release.release()
        self.unacked += len(out)
        return out

    @property
    def waiting(self) -> int:
        """Records read whose outputs are not released yet."""
        return len(self._release)
