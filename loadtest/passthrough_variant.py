"""A raw passthrough: consume, decode, produce a minimal score-shaped record, commit. No model,
no state, no scheduler: the ceiling that the load test compares the real pipelines with.

    python -m loadtest.passthrough_variant --bootstrap HOST:PORT --input-topic T --scores-topic S

It keeps the at-least-once discipline of the processor in its simplest form: a fetched chunk's
offsets are committed only once every record it produced is acknowledged by the broker, and
chunks are committed in the order they were read. Each output carries `transaction_id`,
`source.timestamp_ms` (the input's Kafka timestamp) and `scored_at_ms`, like a risk score, so the
load test reads it the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import deque
from typing import Any

import click
import orjson
from aiokafka import TopicPartition

from fraudstream.cli_common import build_settings, settings_options, setup_logging
from fraudstream.config import Settings
from fraudstream.stream.clients import make_consumer, make_producer
from fraudstream.stream.topics import prepare_topics

log = logging.getLogger(__name__)


def passthrough_record(value: bytes | None, timestamp_ms: int | None, now_ms: int) -> bytes:
    """The output for one input: its id and timestamps; an undecodable input keeps a null id."""
    ident: Any = None
    try:
        doc = orjson.loads(value) if value is not None else None
        if isinstance(doc, dict):
            ident = doc.get("transaction_id")
    except orjson.JSONDecodeError:
        pass
    return orjson.dumps(
        {
            "transaction_id": ident,
            "stage": "passthrough",
            "source": {"timestamp_ms": timestamp_ms},
            "scored_at_ms": now_ms,
        }
    )


async def run_passthrough(settings: Settings, stop: asyncio.Event) -> int:
    """Pass records from the input topic to the scores topic until `stop` is set; returns how
    many were passed."""
    await prepare_topics(settings)
    producer = make_producer(settings.kafka, client_id=f"{settings.kafka.client_id}-passthrough")
    consumer = make_consumer(
        settings.kafka, group_id=settings.group_id, client_id="fraudstream-passthrough"
    )
    await producer.start()
    consumer.subscribe([settings.topics.input])
    await consumer.start()
    pending: deque[tuple[list[asyncio.Future[Any]], dict[TopicPartition, int]]] = deque()
    passed = 0
    scores = settings.topics.scores
    interval = settings.commit_interval_ms / 1000.0

    async def commit_loop() -> None:
        while True:
            await asyncio.sleep(interval)
            await commit_done()

    async def commit_done(wait: bool = False) -> None:
        offsets: dict[TopicPartition, int] = {}
        while pending and (wait or all(f.done() for f in pending[0][0])):
            futures, chunk = pending.popleft()
            await asyncio.gather(*futures)  # raises if a send failed: nothing is committed
            offsets.update(chunk)
        if offsets:
            await consumer.commit(offsets)

    committer = asyncio.create_task(commit_loop())
    # A failed send or commit ends the run without committing past it (a restart replays it).
    committer.add_done_callback(lambda t: None if t.cancelled() else stop.set())
    try:
        while not stop.is_set():
            data = await consumer.getmany(timeout_ms=20, max_records=2000)
            if not data:
                continue
            now_ms = int(time.time() * 1000)
            futures = []
            chunk: dict[TopicPartition, int] = {}
            for tp, messages in data.items():
                for m in messages:
                    out = passthrough_record(m.value, m.timestamp, now_ms)
                    futures.append(await producer.send(scores, out, key=m.key))
                chunk[tp] = messages[-1].offset + 1
                passed += len(messages)
            pending.append((futures, chunk))
        await commit_done(wait=True)
    finally:
        committer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await committer  # re-raises the committer's error, if it had one
        with contextlib.suppress(Exception):
            await consumer.stop()
        with contextlib.suppress(Exception):
            await producer.stop()
    return passed


async def _main(settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return await run_passthrough(settings, stop)


@click.command("passthrough")
@settings_options
@click.option("--input-topic", default=None)
@click.option("--scores-topic", default=None)
@click.option("--group-id", default=None)
@click.option("--partitions", type=int, default=None)
def main(
    config_file: str | None,
    bootstrap: str | None,
    input_topic: str | None,
    scores_topic: str | None,
    group_id: str | None,
    partitions: int | None,
) -> None:
    """Consume, produce, commit: the ceiling of any pipeline on this broker and machine."""
    settings = build_settings(
        config_file,
        {
            "kafka.bootstrap": bootstrap,
            "topics.input": input_topic,
            "topics.scores": scores_topic,
            "topics.partitions": partitions,
            "group_id": group_id,
        },
    )
    setup_logging(settings)
    passed = asyncio.run(_main(settings))
    click.echo(orjson.dumps({"passed": passed}).decode(), err=True)


if __name__ == "__main__":
    main()
