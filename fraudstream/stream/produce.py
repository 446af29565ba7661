"""Sending a file or a generator of records to a topic, at a rate or as fast as possible.

Used by `fraudstream generate --topic`, `fraudstream replay` and the demo. Records go out in the
order given (per key, Kafka keeps that order), and the call returns only once every record is
acknowledged by the broker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

from fraudstream.config import KafkaSettings
from fraudstream.stream.clients import check_connection, make_producer

KeyValue = tuple[bytes | None, bytes]
Routed = tuple[str, bytes | None, bytes]
"""(topic, key, value)"""


async def produce_routed(
    kafka: KafkaSettings,
    items: Iterable[Routed],
    *,
    rate: float | None = None,
    paced: Callable[[str], bool] | None = None,
    progress: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Send `(topic, key, value)` items in order; `rate` in items per second counts only the
    items whose topic `paced` accepts (all by default). Returns once all are acknowledged."""
    await check_connection(kafka)
    producer = make_producer(kafka, linger_ms=5)
    await producer.start()
    sent = paced_sent = 0
    pending: list[asyncio.Future[Any]] = []
    try:
        start = time.monotonic()
        for topic, key, value in items:
            if stop is not None and stop.is_set():
                break
            if rate and (paced is None or paced(topic)):
                delay = start + paced_sent / rate - time.monotonic()
                if delay > 0.002:
                    await asyncio.sleep(delay)
                paced_sent += 1
            pending.append(await producer.send(topic, value, key=key))
            sent += 1
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
            if progress is not None and sent % 100 == 0:  # cheap; live counts stay current
                progress(sent)
        await asyncio.gather(*pending)
        if progress is not None:
            progress(sent)
    finally:
        await producer.stop()
    return sent


async def produce_records(
    kafka: KafkaSettings,
    topic: str,
    records: Iterable[KeyValue],
    *,
    rate: float | None = None,
    progress: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Send `(key, value)` pairs to `topic`; `rate` in records per second (None: as fast as the
    producer goes). Returns how many were sent and acknowledged."""
    items = ((topic, key, value) for key, value in records)
    return await produce_routed(kafka, items, rate=rate, progress=progress, stop=stop)
