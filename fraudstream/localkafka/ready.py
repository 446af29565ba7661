"""Waiting until a starting broker answers Kafka requests, not just until its JVM runs.

Two phases: a cheap TCP connect loop while the JVM boots (so that aiokafka does not log a
connection error every 100 ms), then a real metadata request through aiokafka's admin client,
which succeeds only once the broker serves clients. The async part runs on a private event loop
in a worker thread, so `LocalBroker.up()` may be called from sync code and from inside a running
loop (an async test) alike.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fraudstream.localkafka.errors import LocalKafkaError


class BrokerDied(LocalKafkaError):
    """The broker's process exited while we waited for it to answer."""


def split_bootstrap(bootstrap: str) -> tuple[str, int]:
    host, _, port = bootstrap.rpartition(":")
    return host, int(port)


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


async def describe_cluster(bootstrap: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """One metadata round trip through a fresh admin client, closed before returning."""
    from aiokafka.admin import AIOKafkaAdminClient  # lazy: `fraudstream kafka status` skips it

    timeout_ms = max(1000, int(timeout * 1000))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms)
    try:
        async with asyncio.timeout(timeout):
            await admin.start()
            cluster: dict[str, Any] = await admin.describe_cluster()
    finally:
        await admin.close()
    return cluster


async def _wait(bootstrap: str, deadline: float, is_running: Callable[[], bool]) -> None:
    host, port = split_bootstrap(bootstrap)
    last_error: BaseException | None = None
    while True:
        if not is_running():
            raise BrokerDied(f"the broker exited before it answered at {bootstrap}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise LocalKafkaError(f"the broker did not answer at {bootstrap} in time{detail}")
        if tcp_open(host, port):
            try:
                cluster = await describe_cluster(bootstrap, timeout=min(10.0, remaining))
            except Exception as exc:  # any failure here means "not yet"
                last_error = exc
            else:
                if cluster.get("brokers"):
                    return
        await asyncio.sleep(0.2)


def wait_until_answers(bootstrap: str, *, timeout: float, is_running: Callable[[], bool]) -> None:
    """Block until the broker at `bootstrap` answers a metadata request.

    Raises `BrokerDied` as soon as `is_running()` turns false, `LocalKafkaError` on timeout.
    """
    deadline = time.monotonic() + timeout
    # Set when this thread gives up (say, Ctrl-C), so that the worker stops soon too.
    cancelled = threading.Event()

    def still_running() -> bool:
        return not cancelled.is_set() and is_running()

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="localkafka-ready")
    try:
        pool.submit(asyncio.run, _wait(bootstrap, deadline, still_running)).result()
    finally:
        cancelled.set()
        pool.shutdown(wait=True)
