"""`fraudstream loadtest --clients`: the Kafka client of the hot path, decided by measurement.

The worker's per-record cost includes its Kafka client's: reading each input record and sending
each output. This benchmark measures that cost for aiokafka (what the worker uses) and for
confluent-kafka (librdkafka, C) side by side, in one run, against the same broker, with the
worker's own settings and commit discipline:

* **produce**: N records of the size of a score record, keyed, `acks=all`, idempotent, linger 1 ms
  (`stream/clients.py::make_producer`), each with a delivery callback, then a flush;
* **consume**: the same N records read back in a consumer group in chunks of `FETCH_CHUNK`
  (`stream/intake.py`), fetch wait 5 ms and min 32 KiB (`make_consumer`), offsets committed
  synchronously every 250 ms (`commit_interval_ms`) and at the end.

Each figure is the process's CPU time (every thread: librdkafka's own threads included) per
record, and the wall time; best of `repeats`. Each client gets its own topic, written once.

The decision rule (issue: "if it cuts the per-record cost by more than 30%, move the hot path
to it") is applied to the worker's whole cost per record: the clients' produce + consume CPU
plus the event loop's own work on the record (`loadtest/bench_pipeline.py`, measured in the same
command), since that is what a faster client would cut a share of.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

from fraudstream.stream.intake import FETCH_CHUNK

VALUE = b'{"transaction_id":"tx-00000000","score":0.0123,' + b'"x":"' + b"y" * 300 + b'"}'
COMMIT_INTERVAL_S = 0.25
THRESHOLD = 0.30


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    fn(*args)
    return time.process_time() - cpu, time.perf_counter() - wall


def _keys(n: int) -> list[bytes]:
    return [f"acc-{i % 5000:06d}".encode() for i in range(n)]


# ---------------------------------------------------------------------------------- aiokafka


def aiokafka_produce(bootstrap: str, topic: str, n: int) -> None:
    from fraudstream.config import KafkaSettings
    from fraudstream.stream.clients import make_producer

    async def run() -> None:
        producer = make_producer(KafkaSettings(bootstrap=bootstrap))
        await producer.start()
        acked = 0

        def done(_: Any) -> None:
            nonlocal acked
            acked += 1

        try:
            for key in _keys(n):
                delivery = await producer.send(topic, VALUE, key=key)
                delivery.add_done_callback(done)
            await producer.flush()
        finally:
            await producer.stop()
        assert acked == n, (acked, n)

    asyncio.run(run())


def aiokafka_consume(bootstrap: str, topic: str, n: int) -> None:
    from aiokafka import TopicPartition

    from fraudstream.config import KafkaSettings
    from fraudstream.stream.clients import make_consumer

    async def run() -> None:
        consumer = make_consumer(
            KafkaSettings(bootstrap=bootstrap), topic, group_id=f"bench-{uuid.uuid4().hex[:8]}"
        )
        await consumer.start()
        seen = 0
        positions: dict[TopicPartition, int] = {}
        last_commit = time.monotonic()
        try:
            while seen < n:
                data = await consumer.getmany(timeout_ms=20, max_records=FETCH_CHUNK)
                for tp, messages in data.items():
                    seen += len(messages)
                    positions[tp] = messages[-1].offset + 1
                if positions and time.monotonic() - last_commit >= COMMIT_INTERVAL_S:
                    await consumer.commit(dict(positions))
                    last_commit = time.monotonic()
            await consumer.commit(dict(positions))
        finally:
            await consumer.stop()

    asyncio.run(run())


# ---------------------------------------------------------------------------------- confluent


def _confluent_common(bootstrap: str) -> dict[str, Any]:
    return {"bootstrap.servers": bootstrap, "client.id": "fraudstream-bench"}


def confluent_produce(bootstrap: str, topic: str, n: int) -> None:
    from confluent_kafka import Producer

    producer = Producer(
        {
            **_confluent_common(bootstrap),
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 1,
            "batch.size": 256 * 1024,
            "compression.type": "none",
        }
    )
    acked = 0

    def done(err: Any, _msg: Any) -> None:
        nonlocal acked
        if err is None:
            acked += 1

    for key in _keys(n):
        while True:
            try:
                producer.produce(topic, VALUE, key=key, on_delivery=done)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    producer.flush(60)
    assert acked == n, (acked, n)


def confluent_consume(bootstrap: str, topic: str, n: int) -> None:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            **_confluent_common(bootstrap),
            "group.id": f"bench-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 5,
            "fetch.min.bytes": 32 * 1024,
        }
    )
    consumer.subscribe([topic])
    seen = 0
    positions: dict[int, int] = {}
    last_commit = time.monotonic()
    try:
        while seen < n:
            for m in consumer.consume(num_messages=FETCH_CHUNK, timeout=0.02):
                partition, offset = m.partition(), m.offset()
                if m.error() is not None or partition is None or offset is None:
                    continue
                seen += 1
                positions[partition] = offset + 1
            if positions and time.monotonic() - last_commit >= COMMIT_INTERVAL_S:
                consumer.commit(
                    offsets=[TopicPartition(topic, p, o) for p, o in positions.items()],
                    asynchronous=False,
                )
                last_commit = time.monotonic()
        consumer.commit(
            offsets=[TopicPartition(topic, p, o) for p, o in positions.items()], asynchronous=False
        )
    finally:
        consumer.close()


CLIENTS: dict[str, tuple[Callable[[str, str, int], None], Callable[[str, str, int], None]]] = {
    "aiokafka": (aiokafka_produce, aiokafka_consume),
    "confluent-kafka": (confluent_produce, confluent_consume),
}


def measure(
    bootstrap: str, n: int, repeats: int, *, pipeline_us: float, partitions: int = 3
) -> dict[str, Any]:
    """Per client: produce and consume CPU and wall per record (best of `repeats`), and the
    decision; `pipeline_us`: the event loop's CPU per record besides the client's."""
    from fraudstream.localkafka.topics import TopicSpec, ensure_topics

    out: dict[str, Any] = {"records": n, "value_bytes": len(VALUE), "clients": {}}
    for name, (produce, consume) in CLIENTS.items():
        topics = [f"bench-{name}-{uuid.uuid4().hex[:8]}-{r}" for r in range(repeats)]
        asyncio.run(ensure_topics(bootstrap, {t: TopicSpec(partitions) for t in topics}))
        best: dict[str, float] = {}
        for topic in topics:
            p_cpu, p_wall = _timed(produce, bootstrap, topic, n)
            c_cpu, c_wall = _timed(consume, bootstrap, topic, n)
            for key, value in (
                ("produce_cpu_us", p_cpu),
                ("produce_wall_us", p_wall),
                ("consume_cpu_us", c_cpu),
                ("consume_wall_us", c_wall),
            ):
                us = value / n * 1e6
                best[key] = round(min(best.get(key, us), us), 2)
        best["cpu_us_per_record"] = round(best["produce_cpu_us"] + best["consume_cpu_us"], 2)
        out["clients"][name] = best
    a = out["clients"]["aiokafka"]["cpu_us_per_record"]
    c = out["clients"]["confluent-kafka"]["cpu_us_per_record"]
    out["client_cut"] = round(1.0 - c / a, 3) if a > 0 else 0.0
    out["pipeline_us_per_record"] = round(pipeline_us, 1)
    cut = (a - c) / (pipeline_us + a)
    out["cut"] = round(cut, 3)
    out["threshold"] = THRESHOLD
    out["decision"] = "move the hot path to confluent-kafka" if cut > THRESHOLD else "keep aiokafka"
    return out
