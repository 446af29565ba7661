"""An independent reader: what is really on a topic, read with `read_committed`.

Tests, the chaos scenarios and the load tool count outputs with this, never with the processor's
own counters.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import TopicPartition

from fraudstream.config import KafkaSettings
from fraudstream.stream.clients import make_consumer


@dataclass(frozen=True, slots=True)
class Read:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int

    def json(self) -> Any:
        return None if self.value is None else orjson.loads(self.value)


async def read_topic(
    kafka: KafkaSettings,
    topic: str,
    *,
    isolation_level: str = "read_committed",
    timeout: float = 60.0,
) -> list[Read]:
    """Every record of `topic` up to its end offsets at the time of the call."""
    consumer = make_consumer(kafka, group_id=None, isolation_level=isolation_level)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        deadline = time.monotonic() + timeout
        while partitions is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {topic!r} not found")
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        # With read_committed, the end is the last stable offset: aborted and open transactions
        # stay invisible, which is the point.
        end = await consumer.end_offsets(tps)
        out: list[Read] = []
        remaining = {tp for tp in tps if end[tp] > 0}
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic!r} took over {timeout} s")
            batch = await consumer.getmany(*remaining, timeout_ms=200, max_records=10_000)
            for messages in batch.values():
                for m in messages:
                    out.append(Read(m.partition, m.offset, m.key, m.value, m.timestamp))
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        return out
    finally:
        await consumer.stop()


async def wait_for_count(
    kafka: KafkaSettings, topic: str, count: int, *, timeout: float = 60.0
) -> list[Read]:
    """Read `topic` again and again until it holds at least `count` records."""
    deadline = time.monotonic() + timeout
    while True:
        records = await read_topic(kafka, topic, timeout=timeout)
        if len(records) >= count or time.monotonic() > deadline:
            return records
        await asyncio.sleep(0.5)


def id_counts(records: list[Read], field: str = "transaction_id") -> Counter[str]:
    return Counter(r.json()[field] for r in records)
