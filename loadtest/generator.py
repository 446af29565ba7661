"""The open-loop generator, a process of its own: `python -m loadtest.generator --pool FILE`.

It never shares an event loop with the collector or the processor. The orchestrator drives it
with one JSON command per line on stdin and reads one JSON event per line from its stdout:

    -> {"cmd": "step", "topic": T, "run": R, "step": K, "rate": X, "count": N, "offset": O}
    <- {"ev": "started", "step": K, "start": EPOCH}        record i is due at start + i / rate
    <- {"ev": "progress", "step": K, "sent": .., "acked": .., "errors": .., "behind_ms": ..}
    <- {"ev": "done", "step": K, "sent": .., "acked": .., "errors": .., "send_lag_ms": {...}}
    -> {"cmd": "abort"}                                      stop the running step early
    -> {"cmd": "probe", "topic": T, "id": ID}                one record now (readiness check)
    -> {"cmd": "exit"}

Each record goes out when its intended time has come, with the intended time as its Kafka
timestamp; the generator never waits for the processor (only for room in its own producer
buffer). `send_lag_ms` is how late the generator itself was against its schedule: that delay is
inside the measured latency, and this figure tells how much of it the generator caused.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from aiokafka.partitioner import DefaultPartitioner

from loadtest.data import load_templates
from loadtest.schedule import Schedule, txid
from loadtest.stats import rounded, summarize

PROGRESS_EVERY_S = 0.25
CHUNK = 256
"""Records sent between two yields to the event loop (lets the producer's sender run)."""


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(event).decode() + "\n")
    sys.stdout.flush()


class Generator:
    def __init__(self, templates: list[tuple[bytes, bytes, bytes]], producer: Any) -> None:
        self.templates = templates
        self.producer = producer
        self.abort = asyncio.Event()
        self.acked = 0
        self.errors = 0
        self._partitions: dict[str, tuple[int, list[int]]] = {}

    def _count(self, pending: deque[asyncio.Future[Any]]) -> None:
        """Count the delivered (or failed) sends at the head of `pending`. Polling the futures
        in order costs less than a done-callback per record (one event-loop handle each)."""
        while pending and pending[0].done():
            fut = pending.popleft()
            if fut.cancelled() or fut.exception() is not None:
                self.errors += 1
            else:
                self.acked += 1

    async def partitions(self, topic: str) -> list[int]:
        """Each template's partition, as the default partitioner would choose it from the key.
        Computed once per topic: aiokafka's partitioner is pure Python (murmur2) and would
        otherwise be the generator's largest cost per record."""
        available = sorted(await self.producer.partitions_for(topic))
        cached = self._partitions.get(topic)
        if cached is None or cached[0] != len(available):
            part = DefaultPartitioner()
            chosen = [part(key, available, available) for key, _, _ in self.templates]
            cached = self._partitions[topic] = (len(available), chosen)
        return cached[1]

    async def probe(self, topic: str, ident: str) -> None:
        key, head, tail = self.templates[0]
        value = head + ident.encode() + tail
        fut = await self.producer.send(topic, value, key=key, timestamp_ms=int(time.time() * 1000))
        await fut

    async def step(self, cmd: dict[str, Any]) -> None:
        topic: str = cmd["topic"]
        k: int = cmd["step"]
        count: int = cmd["count"]
        rate: float = cmd["rate"]
        offset: int = cmd.get("offset", 0)
        templates = self.templates
        pool = len(templates)
        self.abort.clear()
        self.acked = self.errors = 0
        ids = [txid(cmd["run"], k, i).encode() for i in range(count)]
        partitions = await self.partitions(topic)
        lag = np.full(count, np.nan)
        sched = Schedule(rate, count, time.time() + 0.05)
        emit({"ev": "started", "step": k, "start": sched.start})
        sent = 0
        pending: deque[asyncio.Future[Any]] = deque()

        async def progress() -> None:
            while True:
                await asyncio.sleep(PROGRESS_EVERY_S)
                self._count(pending)
                behind = time.time() - sched.intended(sent) if sent < count else 0.0
                emit(
                    {
                        "ev": "progress",
                        "step": k,
                        "sent": sent,
                        "acked": self.acked,
                        "errors": self.errors,
                        "behind_ms": round(max(0.0, behind) * 1000.0, 2),
                    }
                )

        reporter = asyncio.create_task(progress())
        send = self.producer.send
        start, inv = sched.start, 1.0 / rate
        clock = time.time
        track = pending.append
        try:
            while sent < count and not self.abort.is_set():
                due = min(sched.due(clock()), sent + CHUNK)
                while sent < due:
                    j = (offset + sent) % pool
                    key, head, tail = templates[j]
                    intended = start + sent * inv
                    fut = await send(
                        topic,
                        head + ids[sent] + tail,
                        key=key,
                        partition=partitions[j],
                        timestamp_ms=int(intended * 1000.0 + 0.5),
                    )
                    lag[sent] = clock() - intended
                    track(fut)
                    sent += 1
                if sent < count:
                    delay = start + sent * inv - clock()
                    await asyncio.sleep(delay if delay > 0 else 0)
            await self.producer.flush()
            self._count(pending)
        finally:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
        emit(
            {
                "ev": "done",
                "step": k,
                "start": sched.start,
                "sent": sent,
                "acked": self.acked,
                "errors": self.errors,
                "aborted": self.abort.is_set(),
                "finished": time.time(),
                "send_lag_ms": rounded(summarize(lag[:sent] * 1000.0)),
            }
        )


async def _stdin_lines() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def serve(pool: Path, config_file: str | None, bootstrap: str | None) -> None:
    from fraudstream.cli_common import build_settings
    from fraudstream.stream.clients import make_producer

    settings = build_settings(config_file, {"kafka.bootstrap": bootstrap})
    gen = Generator(
        load_templates(pool),
        make_producer(settings.kafka, client_id="fraudstream-loadtest-generator", linger_ms=1),
    )
    await gen.producer.start()
    reader = await _stdin_lines()
    commands: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def read_commands() -> None:
        while True:
            line = await reader.readline()
            if not line:
                await commands.put({"cmd": "exit"})
                return
            cmd = orjson.loads(line)
            if cmd["cmd"] == "abort":
                gen.abort.set()
            else:
                await commands.put(cmd)

    reading = asyncio.create_task(read_commands())
    emit({"ev": "ready", "records": len(gen.templates)})
    try:
        while True:
            cmd = await commands.get()
            if cmd["cmd"] == "exit":
                break
            if cmd["cmd"] == "step":
                await gen.step(cmd)
            elif cmd["cmd"] == "probe":
                await gen.probe(cmd["topic"], cmd["id"])
    finally:
        reading.cancel()
        await gen.producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.generator")
    parser.add_argument("--pool", type=Path, required=True)
    parser.add_argument("--config", default=None)
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()
    from fraudstream.cli_common import quiet_third_party

    quiet_third_party()
    asyncio.run(serve(args.pool, args.config, args.bootstrap))


if __name__ == "__main__":
    main()
