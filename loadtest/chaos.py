"""`fraudstream chaos <scenario> --json`: fault injection under load, counted from the outside.

Every scenario runs real processor workers as subprocesses (`loadtest/chaos_worker.py`: the real
`Worker` with `FakeScoring` instead of the language model, see there why), feeds them an
open-loop stream of transactions, injects its fault, lets the last worker drain, and then counts
with an independent `read_committed` reader (`stream/audit.py`), never with the workers' logs:

* **missing**: transaction ids the generator had acknowledged by the broker that have no score;
* **duplicates**: scores beyond the first per transaction id (0 is promised in exactly_once mode;
  at_least_once promises only missing = 0 and reports its duplicates);
* **duplicate_alerts**: the same for alerts.

Scenarios: `kill9` (SIGKILL at random moments, a new worker each time, both modes), `bounce`
(stop and start the broker), `rebalance` (workers 1 -> 2 -> 3 -> 1), `stuck-commit` (exactly_once
transaction commits delayed past `transaction_timeout_ms`, and slow ones below it), `zombie`
(exactly_once: a worker frozen past its session timeout, then woken up, must be fenced), `hostile`
(malformed input and payments in disguise, 26 kinds, mixed with good input: every payment gets a
decision), `sigterm` (drain and exit 0), and
`all`. The pytest fault tests (tests/integration/test_faults.py) call the same functions with
smaller counts.

Scenarios that stop the broker (`bounce`) always start their own local broker; the others use
`--bootstrap` or, without it, a private local broker that is stopped at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import orjson
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from fraudstream.config import Settings
from fraudstream.stream.audit import id_counts, read_topic
from fraudstream.stream.clients import make_consumer, make_producer
from fraudstream.stream.topics import prepare_topics
from fraudstream.testing import transaction
from loadtest.chaos_worker import chaos_settings

ALERT_EVERY = 10  # every 10th good transaction carries a suspicious narrative


# ------------------------------------------------------------------------------------------ data


def good_record(i: int, *, accounts: int = 200) -> tuple[bytes, bytes, str]:
    """(key, value, transaction id) of the i-th good transaction."""
    narrative = "URGENT gift card for tax office" if i % ALERT_EVERY == 0 else f"TESCO STORES {i}"
    tid = f"tx-{i:08d}"
    tx = transaction(
        transaction_id=tid,
        account_id=f"acc-{i % accounts:05d}",
        narrative=narrative,
        timestamp=f"2026-01-{1 + (i // 86400) % 28:02d}T{(i // 3600) % 24:02d}:"
        f"{(i // 60) % 60:02d}:{i % 60:02d}Z",
    )
    return tx["account_id"].encode(), orjson.dumps(tx), tid


# Hostile kinds that are valid payments in disguise: scored, with this flag (input_checks.py).
EVASIONS: dict[str, str] = {
    "zero_width": "hidden_characters",
    "bidi": "hidden_characters",
    "homoglyph": "confusable_letters",
    "fullwidth": "compatibility_forms",
    "combining_marks": "combining_marks",
    "unknown_field": "unknown_fields",
}
# Kinds that cannot be scored but name their payment: a dead letter and a review score.
REVIEWED = frozenset(
    {
        "wrong_type",
        "missing_field",
        "negative_amount",
        "far_past",
        "far_future",
        "null_key",
        "empty_key",
        "huge_key",
    }
)


def hostile_records(
    per_kind: int, *, huge: int = 2
) -> Iterator[tuple[str, bytes | None, bytes | None]]:
    """(kind, key, value) of hostile inputs: malformed records (`REVIEWED` and the rest) and
    valid payments in disguise (`EVASIONS`). `huge` 10 MB messages are sent in all (they are
    expensive, not numerous)."""
    base = transaction()

    def tx(i: int, **changes: Any) -> bytes:
        return orjson.dumps({**base, "transaction_id": f"bad-{i:08d}", **changes})

    def raw_amount(i: int, text: str) -> bytes:
        return tx(i, amount=0).replace(b'"amount":0', b'"amount":' + text.encode())

    n = 0
    kinds: list[tuple[str, Callable[[int], tuple[bytes | None, bytes | None]]]] = [
        ("truncated_json", lambda i: (b"acc-1", tx(i)[: 20 + i % 40])),
        ("wrong_type", lambda i: (b"acc-1", tx(i, amount=str(i)))),
        ("missing_field", lambda i: (b"acc-1", orjson.dumps({"transaction_id": f"bad-{i}"}))),
        ("nan_amount", lambda i: (b"acc-1", raw_amount(i, "NaN"))),
        ("inf_amount", lambda i: (b"acc-1", raw_amount(i, "Infinity"))),
        ("huge_amount", lambda i: (b"acc-1", raw_amount(i, "1e308"))),
        ("negative_amount", lambda i: (b"acc-1", tx(i, amount=-1.0 - i))),
        (
            "invalid_utf8",
            lambda i: (b"acc-1", b'{"narrative": "\xff\xfe' + str(i).encode() + b'"}'),
        ),
        ("deep_nesting", lambda i: (b"acc-1", b"[" * 10_000 + b"]" * 10_000)),
        ("zero_width", lambda i: (b"acc-1", tx(i, narrative=f"TESCO\u200b STORES {i}"))),
        ("bidi", lambda i: (b"acc-1", tx(i, narrative=f"PAY \u202eLAPYAP\u202c {i}"))),
        ("homoglyph", lambda i: (b"acc-1", tx(i, narrative=f"P\u0430ypal refund {i}"))),
        ("fullwidth", lambda i: (b"acc-1", tx(i, narrative=f"\uff27\uff29\uff26\uff34 card {i}"))),
        (
            "combining_marks",
            lambda i: (b"acc-1", tx(i, narrative=f"s\u0336a\u0336f\u0336e account {i}")),
        ),
        ("far_past", lambda i: (b"acc-1", tx(i, timestamp="1970-01-02T00:00:00Z"))),
        ("far_future", lambda i: (b"acc-1", tx(i, timestamp="2999-01-01T00:00:00Z"))),
        ("null_key", lambda i: (None, tx(i))),
        ("empty_key", lambda i: (b"", tx(i))),
        ("huge_key", lambda i: (b"k" * 5000, tx(i))),
        ("not_object", lambda i: (b"acc-1", orjson.dumps([i, i]))),
        ("empty_value", lambda i: (b"acc-1", b"")),
        ("null_value", lambda i: (b"acc-1", None)),
        ("unknown_field", lambda i: (b"acc-1", tx(i, surprise=True))),
    ]
    for _ in range(per_kind):
        for kind, make in kinds:
            key, value = make(n)
            n += 1
            yield kind, key, value
    for _ in range(huge):
        yield "oversized_10mb", b"acc-1", tx(n, narrative="x" * (10 * 1024 * 1024))
        n += 1


def _tx_id(value: bytes | None) -> str:
    doc = orjson.loads(value or b"{}")
    return str(doc["transaction_id"])


# ------------------------------------------------------------------------------------------ workers


@dataclass
class Env:
    """One scenario's topics, broker and worker options."""

    bootstrap: str
    guarantee: str = "at_least_once"
    partitions: int = 3
    prefix: str = field(default_factory=lambda: f"chaos-{uuid.uuid4().hex[:10]}")
    log_dir: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="fraudstream-chaos-"))
    )
    worker_args: tuple[str, ...] = ()

    @property
    def settings(self) -> Settings:
        return chaos_settings(
            self.bootstrap, self.prefix, partitions=self.partitions, guarantee=self.guarantee
        )


class Worker:
    """A processor subprocess whose log goes to a file of its own."""

    count = 0

    def __init__(self, env: Env, *extra: str, idle_exit: float | None = 5.0) -> None:
        Worker.count += 1
        self.name = f"w{Worker.count:03d}"
        self.log_path = env.log_dir / f"{env.prefix}-{self.name}.log"
        args = [
            sys.executable,
            "-m",
            "loadtest.chaos_worker",
            "--bootstrap",
            env.bootstrap,
            "--prefix",
            env.prefix,
            "--partitions",
            str(env.partitions),
            "--guarantee",
            env.guarantee,
            "--worker-id",
            self.name,
            *env.worker_args,
            *extra,
        ]
        if idle_exit is not None:
            args += ["--exit-when-idle", str(idle_exit)]
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)
        self.started = time.monotonic()
        self.rusage: Any = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def assigned(self) -> bool:
        return "assigned partitions [" in self.log()

    def alive(self) -> bool:
        return self._try_reap() is None

    def _try_reap(self) -> int | None:
        """Like `Popen.poll`, but with wait4, to keep the child's peak memory (ru_maxrss)."""
        if self.proc.returncode is None:
            with contextlib.suppress(ChildProcessError):
                pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
                if pid:
                    self.rusage = usage
                    self.proc.returncode = os.waitstatus_to_exitcode(status)
        return self.proc.returncode

    def signal(self, sig: int) -> None:
        if self.alive():
            self.proc.send_signal(sig)

    def reap(self, timeout: float) -> int:
        """Wait for the exit (SIGKILL after `timeout`); keeps the child's resource usage."""
        deadline = time.monotonic() + timeout
        while self._try_reap() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._try_reap() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
        return self.proc.returncode

    async def wait_assigned(self, timeout: float = 90.0) -> float:
        t0 = time.monotonic()
        while not self.assigned():
            if not self.alive():
                raise RuntimeError(f"worker {self.name} exited early:\n{self.log()[-3000:]}")
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"worker {self.name} got no partitions in {timeout} s")
            await asyncio.sleep(0.1)
        return time.monotonic() - t0

    async def wait_exit(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return await asyncio.to_thread(self.reap, 0.0 if self.alive() else 1.0)


class Supervisor:
    """Keeps workers running as an orchestrator would: one that exits with an error (fatal, as
    designed for fencing, a stuck transaction or a broker gone too long) is replaced."""

    def __init__(
        self, env: Env, *, extra_for: Callable[[int], tuple[str, ...]] | None = None
    ) -> None:
        self.env = env
        self.workers: list[Worker] = []
        self.restarts = 0
        self.crashes: list[str] = []
        self._extra_for = extra_for or (lambda n: ())
        self.stopping = False
        self.idle_exit: float | None = 5.0
        """Workers stop by themselves once the input is idle this long; None for a scenario in
        which the input may look idle while the broker is away (then `settle` stops them)."""
        self._started = 0
        self._task: asyncio.Task[None] | None = None

    def start(self, **kw: Any) -> Worker:
        kw.setdefault("idle_exit", self.idle_exit)
        w = Worker(self.env, *self._extra_for(self._started), **kw)
        self._started += 1
        self.workers.append(w)
        return w

    async def watch(self) -> None:
        while True:
            for w in list(self.workers):
                code = w._try_reap()
                if code is not None and code != 0 and code != -signal.SIGKILL and not self.stopping:
                    self.workers.remove(w)
                    w.reap(1.0)
                    self.crashes.append(f"{w.name} exit {code}")
                    self.restarts += 1
                    self.start()
                elif code == 0:
                    self.workers.remove(w)
                    w.reap(1.0)
            await asyncio.sleep(0.2)

    def __enter__(self) -> Supervisor:
        self._task = asyncio.get_running_loop().create_task(self.watch())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        for w in self.workers:
            w.signal(signal.SIGKILL)
            w.reap(5.0)

    async def settle(
        self, progress: Progress, quiet_s: float = 6.0, timeout: float = 180.0
    ) -> None:
        """Wait until the visible output stopped growing for `quiet_s`, then SIGTERM every
        worker (drain, commit, exit 0) and wait for them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = time.monotonic()
            if progress.samples and progress.longest_stall(now - quiet_s, now) == 0.0:
                recent = [n for ts, n in progress.samples if ts >= now - quiet_s]
                if len(recent) > 10 and recent[0] == recent[-1]:
                    break
            await asyncio.sleep(0.5)
        self.stopping = True
        for w in self.workers:
            w.signal(signal.SIGTERM)
        await self.drain(timeout=60.0)

    async def drain(self, timeout: float = 180.0) -> None:
        """Wait until every worker exited on its own (idle); a crash is replaced meanwhile."""
        deadline = time.monotonic() + timeout
        while self.workers and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        if self.workers:
            raise TimeoutError(f"workers still running after {timeout} s")


# ------------------------------------------------------------------------------------------ load


class Generator:
    """Open-loop load: `rate` good transactions per second until stopped. Counts as *sent* only
    what the broker acknowledged; a failed send (broker down) is sent again later."""

    def __init__(self, settings: Settings, rate: float) -> None:
        self.settings = settings
        self.rate = rate
        self.acked: set[str] = set()
        self.failed_sends = 0
        self.last_error = ""
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self, timeout: float = 120.0) -> set[str]:
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout)
        return self.acked

    async def _run(self) -> None:
        retry: deque[int] = deque()
        pending: set[asyncio.Future[Any]] = set()
        topic = self.settings.topics.input
        broken = asyncio.Event()

        def done(i: int, tid: str, f: asyncio.Future[Any]) -> None:
            pending.discard(f)
            if f.cancelled() or f.exception() is not None:
                self.failed_sends += 1
                self.last_error = type(f.exception()).__name__ if not f.cancelled() else "cancelled"
                retry.append(i)
                # aiokafka's idempotent producer does not recover its sequence numbers after a
                # batch failed (OutOfOrderSequenceNumber for ever): start a fresh producer.
                broken.set()
            else:
                self.acked.add(tid)

        start = time.monotonic()
        i = 0
        while not self._stop.is_set() or retry or pending:
            producer = make_producer(self.settings.kafka, linger_ms=5, request_timeout_ms=5000)
            try:
                await producer.start()
            except KafkaError:
                with contextlib.suppress(KafkaError):
                    await producer.stop()
                await asyncio.sleep(0.5)
                continue
            broken.clear()
            try:
                while (not self._stop.is_set() or retry or pending) and not broken.is_set():
                    if self._stop.is_set() and not retry:
                        await asyncio.sleep(0.05)
                        continue
                    if retry:
                        j = retry.popleft()
                    else:
                        delay = start + i / self.rate - time.monotonic()
                        if delay > 0.002:
                            await asyncio.sleep(delay)
                        j, i = i, i + 1
                    key, value, tid = good_record(j)
                    try:
                        fut = await producer.send(topic, value, key=key)
                    except KafkaError:
                        self.failed_sends += 1
                        retry.append(j)
                        await asyncio.sleep(0.2)
                        continue
                    pending.add(fut)
                    fut.add_done_callback(lambda f, j=j, tid=tid: done(j, tid, f))
            finally:
                with contextlib.suppress(KafkaError):
                    await producer.stop()  # fails what it still holds: they go to `retry`
            if broken.is_set():
                await asyncio.sleep(0.5)


class Progress:
    """Samples the committed end of the scores topic (what a read_committed reader can see)
    every 0.1 s, to time stalls: a broker bounce, a rebalance."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.samples: list[tuple[float, int]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        topic = self.settings.topics.scores
        tps = [TopicPartition(topic, p) for p in range(self.settings.topics.partitions)]
        consumer = make_consumer(
            self.settings.kafka,
            group_id=None,
            isolation_level="read_committed",
            request_timeout_ms=3000,
        )
        await consumer.start()
        try:
            consumer.assign(tps)
            while True:
                with contextlib.suppress(KafkaError, asyncio.TimeoutError):
                    ends = await asyncio.wait_for(consumer.end_offsets(tps), 3.0)
                    self.samples.append((time.monotonic(), sum(ends.values())))
                await asyncio.sleep(0.1)
        finally:
            await consumer.stop()

    def first_progress_after(self, t: float) -> float | None:
        """Seconds from `t` until the visible count first grows."""
        before = [n for ts, n in self.samples if ts <= t]
        base = before[-1] if before else 0
        for ts, n in self.samples:
            if ts > t and n > base:
                return round(ts - t, 2)
        return None

    def longest_stall(self, t0: float, t1: float) -> float:
        """The longest time within [t0, t1] during which the visible count did not grow."""
        last = t0
        worst = 0.0
        prev: int | None = None
        for ts, n in self.samples:
            if ts < t0:
                prev = n
                continue
            if ts > t1:
                break
            if prev is not None and n > prev:
                worst = max(worst, ts - last)
                last = ts
            prev = n
        return round(max(worst, 0.0), 2)


# ------------------------------------------------------------------------------------------ counting


async def tally(settings: Settings, sent: set[str]) -> dict[str, Any]:
    """Count outputs with an independent read_committed reader."""
    scores = await read_topic(settings.kafka, settings.topics.scores, timeout=120)
    alerts = await read_topic(settings.kafka, settings.topics.alerts, timeout=120)
    counts = id_counts(scores)
    alert_counts = id_counts([a for a in alerts if a.value], field="alert_id")
    expected_alerts = {t for t in sent if int(t.split("-")[1]) % ALERT_EVERY == 0}
    alerted = {k.removeprefix("alert-") for k in alert_counts}
    return {
        "sent": len(sent),
        "scores": len(scores),
        "missing": len(sent - counts.keys()),
        "duplicates": sum(c - 1 for c in counts.values()),
        "alerts": len(alerts),
        "missing_alerts": len(expected_alerts - alerted),
        "duplicate_alerts": sum(c - 1 for c in alert_counts.values()),
    }


async def prepare(env: Env) -> Settings:
    settings = env.settings
    await prepare_topics(settings)
    return settings


# ------------------------------------------------------------------------------------------ scenarios


async def kill9(
    env: Env, *, kills: int = 20, rate: float = 500.0, seed: int = 1, batch_delay_s: float = 0.002
) -> dict[str, Any]:
    """SIGKILL the worker at random moments under load, `kills` times, a new worker each time."""
    rng = random.Random(seed)
    env.worker_args = (*env.worker_args, "--batch-delay-s", str(batch_delay_s))
    settings = await prepare(env)
    gen = Generator(settings, rate)
    resume: list[float] = []
    t0 = time.monotonic()
    with Supervisor(env) as sup:
        gen.start()
        worker = sup.start()
        for _ in range(kills):
            resume.append(await worker.wait_assigned())
            await asyncio.sleep(rng.uniform(0.3, 2.0))
            worker.signal(signal.SIGKILL)
            sup.workers.remove(worker)
            worker.reap(5.0)
            worker = sup.start()
        resume.append(await worker.wait_assigned())
        sent = await gen.stop()
        await sup.drain()
        restarts = sup.restarts
    counts = await tally(settings, sent)
    return {
        "scenario": "kill9",
        "guarantee": env.guarantee,
        "kills": kills,
        "rate_per_s": rate,
        **counts,
        "fatal_restarts": restarts,
        "mean_rejoin_s": round(sum(resume[1:]) / max(1, len(resume) - 1), 2),
        "elapsed_s": round(time.monotonic() - t0, 1),
    }


async def bounce(
    env: Env,
    *,
    broker: Any,
    bounces: int = 1,
    down_s: float = 5.0,
    rate: float = 300.0,
) -> dict[str, Any]:
    """Stop and start the (scenario's own) broker under load."""
    settings = await prepare(env)
    gen = Generator(settings, rate)
    progress = Progress(settings)
    resume: list[float | None] = []
    stalls: list[float] = []
    t0 = time.monotonic()
    with Supervisor(env) as sup:
        sup.idle_exit = None
        gen.start()
        progress.start()
        worker = sup.start()
        await worker.wait_assigned()
        for _ in range(bounces):
            await asyncio.sleep(3.0)
            down_at = time.monotonic()
            await asyncio.to_thread(broker.down)
            await asyncio.sleep(down_s)
            await asyncio.to_thread(broker.up)
            up_at = time.monotonic()
            deadline = up_at + 120
            while progress.first_progress_after(up_at) is None and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            resume.append(progress.first_progress_after(up_at))
            stalls.append(progress.longest_stall(down_at, time.monotonic()))
        await asyncio.sleep(2.0)
        sent = await gen.stop()
        await sup.settle(progress)
        await progress.stop()
        restarts, crashes = sup.restarts, list(sup.crashes)
    counts = await tally(settings, sent)
    return {
        "scenario": "bounce",
        "guarantee": env.guarantee,
        "bounces": bounces,
        "down_s": down_s,
        **counts,
        "resume_after_broker_up_s": resume,
        "output_stall_s": stalls,
        "failed_generator_sends": gen.failed_sends,
        "worker_restarts": restarts,
        "worker_exits": crashes,
        "elapsed_s": round(time.monotonic() - t0, 1),
    }


async def rebalance(env: Env, *, rate: float = 300.0, hold_s: float = 6.0) -> dict[str, Any]:
    """Workers 1 -> 2 -> 3 -> 1 under load; the longest output stall after each change."""
    settings = await prepare(env)
    gen = Generator(settings, rate)
    progress = Progress(settings)
    pauses: dict[str, float] = {}
    t0 = time.monotonic()
    with Supervisor(env) as sup:
        gen.start()
        progress.start()
        first = sup.start()
        await first.wait_assigned()
        await asyncio.sleep(hold_s)
        for label in ("1->2", "2->3"):
            changed = time.monotonic()
            w = sup.start()
            await w.wait_assigned()
            await asyncio.sleep(hold_s)
            pauses[label] = progress.longest_stall(changed, time.monotonic())
        changed = time.monotonic()
        for w in sup.workers[1:]:
            w.signal(signal.SIGTERM)  # a clean leave: drain, commit, leave the group
        await asyncio.sleep(hold_s + 4)
        pauses["3->1"] = progress.longest_stall(changed, time.monotonic())
        sent = await gen.stop()
        await sup.drain()
        await progress.stop()
        restarts = sup.restarts
    counts = await tally(settings, sent)
    return {
        "scenario": "rebalance",
        "guarantee": env.guarantee,
        **counts,
        "longest_stall_s": pauses,
        "fatal_restarts": restarts,
        "elapsed_s": round(time.monotonic() - t0, 1),
    }


async def stuck_commit(
    env: Env,
    *,
    stuck: int = 1,
    stuck_s: float = 14.0,
    slow_s: float = 1.0,
    timeout_ms: int = 3000,
    rate: float = 300.0,
    run_s: float = 10.0,
) -> dict[str, Any]:
    """exactly_once: the first `stuck` workers hold one transaction open `stuck_s` (past
    `timeout_ms`, so the broker aborts it); later workers delay every 10th commit `slow_s`
    (below the timeout: commits late, still valid)."""
    env.guarantee = "exactly_once"
    env.worker_args = (*env.worker_args, "--transaction-timeout-ms", str(timeout_ms))

    def extra(n: int) -> tuple[str, ...]:
        if n < stuck:
            return ("--stuck-commit-every", "6", "--stuck-commit-s", str(stuck_s))
        return ("--stuck-commit-every", "10", "--stuck-commit-s", str(slow_s))

    settings = await prepare(env)
    gen = Generator(settings, rate)
    t0 = time.monotonic()
    with Supervisor(env, extra_for=extra) as sup:
        gen.start()
        await sup.start().wait_assigned()
        deadline = time.monotonic() + stuck * (stuck_s + 60)
        while sup.restarts < stuck and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        await asyncio.sleep(run_s)  # the replacement runs under load, with slow commits
        sent = await gen.stop()
        await sup.drain()
        restarts, crashes = sup.restarts, list(sup.crashes)
    counts = await tally(settings, sent)
    uncommitted = await read_topic(
        settings.kafka, settings.topics.scores, isolation_level="read_uncommitted", timeout=120
    )
    return {
        "scenario": "stuck-commit",
        "guarantee": "exactly_once",
        "transaction_timeout_ms": timeout_ms,
        "stuck_commit_s": stuck_s,
        "slow_commit_s": slow_s,
        **counts,
        "stuck_workers_stopped": restarts,
        "worker_exits": crashes,
        # aborted outputs exist on the log (proof the fault happened) but stay invisible
        "aborted_records_on_log": len(uncommitted) - counts["scores"],
        "aborted_visible_to_read_committed": counts["duplicates"],
        "elapsed_s": round(time.monotonic() - t0, 1),
    }


async def zombie(env: Env, *, freeze_s: float = 12.0, rate: float = 300.0) -> dict[str, Any]:
    """exactly_once: freeze a worker (SIGSTOP) past its session timeout so that a second worker
    takes its partitions, then let it run again (SIGCONT): the zombie must be fenced (its
    transactions can no longer commit) and nothing may be missing or repeated."""
    env.guarantee = "exactly_once"
    settings = await prepare(env)
    gen = Generator(settings, rate)
    progress = Progress(settings)
    t0 = time.monotonic()
    with Supervisor(env) as sup:
        sup.idle_exit = None
        gen.start()
        progress.start()
        frozen = sup.start()
        await frozen.wait_assigned()
        await asyncio.sleep(2.0)
        frozen.signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        heir = sup.start()
        await heir.wait_assigned()
        takeover_s = round(time.monotonic() - stopped_at, 2)
        await asyncio.sleep(max(0.0, freeze_s - (time.monotonic() - stopped_at)))
        frozen.signal(signal.SIGCONT)
        await frozen.wait_exit(timeout=60.0)
        await asyncio.sleep(3.0)
        sent = await gen.stop()
        await sup.settle(progress)
        await progress.stop()
        crashes = list(sup.crashes)
    counts = await tally(settings, sent)
    log = frozen.log()
    return {
        "scenario": "zombie",
        "guarantee": "exactly_once",
        "freeze_s": freeze_s,
        **counts,
        "takeover_s": takeover_s,
        "zombie_fenced": "ProducerFenced" in log,
        "zombie_exit_code": frozen.proc.returncode,
        "worker_exits": crashes,
        "elapsed_s": round(time.monotonic() - t0, 1),
    }


async def hostile(
    env: Env, *, good: int = 10_000, per_kind: int = 500, huge: int = 2
) -> dict[str, Any]:
    """Hostile input of many kinds mixed with good input, one worker, counted from the outside:
    every malformed record on the dead-letter topic with a reason (and a review score when it
    names its payment), every payment in disguise (`EVASIONS`, and good ids re-sent with other
    content) scored once with its flag, every good one scored once, no crash, peak memory."""
    from fraudstream.stream.produce import produce_routed

    settings = await prepare(env)
    topic = settings.topics.input
    bad = list(hostile_records(per_kind, huge=huge))
    rng = random.Random(7)
    goods = [good_record(i) for i in range(good)]
    # A repeated transaction id: the same bytes again (kind "duplicate", a producer's retry:
    # dead-lettered) or other content under it (kind "changed_resend": a second payment,
    # scored and flagged), placed after all the good ones so the original is read first.
    copies = min(good, max(1, per_kind))
    changed = [
        (k, v.replace(b'"amount":42.0', b'"amount":4200.0'), t)
        for k, v, t in goods[copies : 2 * copies]
    ]
    keyed: list[tuple[float, tuple[str, bytes | None, bytes | None]]] = [
        (i / good, ("good", k, v)) for i, (k, v, _) in enumerate(goods)
    ]
    keyed += [(rng.random(), item) for item in bad]
    keyed += [
        (rng.uniform(2 * copies / good, 1.0), ("duplicate", k, v)) for k, v, _ in goods[:copies]
    ]
    keyed += [
        (rng.uniform(2 * copies / good, 1.0), ("changed_resend", k, v)) for k, v, _ in changed
    ]
    keyed.sort(key=lambda kv: kv[0])
    stream = [item for _, item in keyed]
    t0 = time.monotonic()
    worker = Worker(env, idle_exit=5.0)
    await worker.wait_assigned()
    # a null value (tombstone) is one of the hostile kinds: the producer sends it as such
    routed: list[Any] = [(topic, k, v) for _, k, v in stream]
    await produce_routed(settings.kafka, routed)
    code = await worker.wait_exit(timeout=600)
    scores = await read_topic(settings.kafka, settings.topics.scores, timeout=120)
    dead = await read_topic(settings.kafka, settings.topics.dlq, timeout=120)
    with_reason = sum(1 for r in dead if (r.json() or {}).get("error", {}).get("kind"))
    kinds: dict[str, int] = {}
    for r in dead:
        kind = r.json()["error"]["kind"]
        kinds[kind] = kinds.get(kind, 0) + 1
    by_id: dict[str, list[dict[str, Any]]] = {}
    for r in scores:
        doc = r.json()
        by_id.setdefault(doc["transaction_id"], []).append(doc)
    good_ids = {g[2] for g in goods}
    changed_ids = {t for _, _, t in changed}
    evasions = [(kind, _tx_id(v)) for kind, _, v in stream if kind in EVASIONS]
    reviewed = [_tx_id(v) for kind, _, v in stream if kind in REVIEWED]
    dead_expected = sum(
        1 for kind, _, _ in stream if kind not in {"good", "changed_resend", *EVASIONS}
    )

    def flagged(tid: str, flag: str, index: int = 0) -> bool:
        got = by_id.get(tid, [])
        return len(got) > index and flag in got[index]["flags"]

    peak_rss_mb = round(worker.rusage.ru_maxrss / 1024, 1) if worker.rusage is not None else None
    return {
        "scenario": "hostile",
        "good_sent": good,
        "bad_sent": len(stream) - good - len(changed),
        "bad_input_kinds": len({k for k, _, _ in stream if k != "good"}),
        "dead_letters": len(dead),
        "dead_letters_expected": dead_expected,
        "dead_letters_with_reason": with_reason,
        "dead_letter_kinds": dict(sorted(kinds.items())),
        "good_scored": sum(1 for t in good_ids if t in by_id),
        "missing": sum(1 for t in good_ids if t not in by_id),
        # beyond one score per good id, but for the re-sent ones with other content (two each)
        "duplicates": sum(
            len(by_id.get(t, [])) - (2 if t in changed_ids else 1) for t in good_ids if t in by_id
        ),
        "evasions_sent": len(evasions),
        "evasions_scored_flagged": sum(
            1 for kind, t in evasions if len(by_id.get(t, [])) == 1 and flagged(t, EVASIONS[kind])
        ),
        "changed_resends_sent": len(changed),
        "changed_resends_flagged": sum(
            1 for t in changed_ids if flagged(t, "duplicate_id_changed_content", 1)
        ),
        "unscorable_sent": len(reviewed),
        "unscorable_reviewed": sum(
            1
            for t in reviewed
            if len(by_id.get(t, [])) == 1
            and by_id[t][0]["band"] == "review"
            and flagged(t, "unscorable_input")
        ),
        "worker_exit_code": code,
        "peak_rss_mb": peak_rss_mb,
        "elapsed_s": round(time.monotonic() - t0, 1),
    }


async def sigterm(
    env: Env, *, records: int = 3000, rate: float = 1000.0, shutdown_timeout_s: float = 10.0
) -> dict[str, Any]:
    """SIGTERM a worker under load: it drains and exits 0 within shutdown_timeout_s; a restarted
    worker then finds nothing missing."""
    env.worker_args = (
        *env.worker_args,
        "--shutdown-timeout-s",
        str(shutdown_timeout_s),
        # a slow model (0.3 s a batch): the input outruns it, so SIGTERM finds work in flight
        "--batch-delay-s",
        "0.3",
    )
    settings = await prepare(env)
    gen = Generator(settings, rate)
    worker = Worker(env, idle_exit=None)
    await worker.wait_assigned()
    gen.start()
    while len(gen.acked) < records // 2:
        await asyncio.sleep(0.05)
    signalled = time.monotonic()
    worker.signal(signal.SIGTERM)
    code = await worker.wait_exit(timeout=shutdown_timeout_s + 60)
    exit_s = round(time.monotonic() - signalled, 2)
    while len(gen.acked) < records:
        await asyncio.sleep(0.05)
    sent = await gen.stop()
    drained_log = worker.log()
    found = re.search(r"draining (\d+) records in flight", drained_log)
    second = Worker(env, idle_exit=5.0)
    second_code = await second.wait_exit(timeout=180)
    counts = await tally(settings, sent)
    return {
        "scenario": "sigterm",
        "guarantee": env.guarantee,
        "exit_code": code,
        "exit_s": exit_s,
        "shutdown_timeout_s": shutdown_timeout_s,
        "in_flight_at_sigterm": int(found.group(1)) if found else None,
        "left_in_flight_at_timeout": "still in flight" in drained_log,
        "restart_exit_code": second_code,
        **counts,
    }


# ------------------------------------------------------------------------------------------ command

SCENARIOS = ("kill9", "bounce", "rebalance", "stuck-commit", "zombie", "hostile", "sigterm")


@contextlib.contextmanager
def private_broker() -> Iterator[tuple[Any, str]]:
    """A local broker in a temporary home on a fixed free port (so it can be bounced)."""
    from fraudstream.localkafka import LocalBroker, free_port

    with tempfile.TemporaryDirectory(prefix="fraudstream-chaos-broker-") as home:
        broker = LocalBroker(Path(home), port=free_port())
        info = broker.up()
        try:
            yield broker, info.bootstrap
        finally:
            broker.down()


async def run_scenarios(
    names: list[str], bootstrap: str | None, modes: list[str], kills: int, hostile_good: int
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []

    def emit(result: dict[str, Any]) -> None:
        results.append(result)
        click.echo(orjson.dumps(result).decode(), err=True)

    with contextlib.ExitStack() as stack:
        shared = bootstrap or ""
        if not shared and any(n != "bounce" for n in names):
            shared = stack.enter_context(private_broker())[1]
        for name in names:
            if name == "kill9":
                for mode in modes:
                    emit(await kill9(Env(shared, guarantee=mode), kills=kills))
            elif name == "bounce":
                for mode in modes:
                    with private_broker() as (broker, own):
                        emit(await bounce(Env(own, guarantee=mode), broker=broker))
            elif name == "rebalance":
                for mode in modes:
                    emit(await rebalance(Env(shared, guarantee=mode)))
            elif name == "stuck-commit":
                emit(await stuck_commit(Env(shared)))
            elif name == "zombie":
                emit(await zombie(Env(shared)))
            elif name == "hostile":
                per_kind = max(1, math.ceil(hostile_good / 20))
                emit(await hostile(Env(shared), good=hostile_good, per_kind=per_kind))
            elif name == "sigterm":
                for mode in modes:
                    emit(await sigterm(Env(shared, guarantee=mode)))
    return results


@click.command("chaos")
@click.argument("scenario", type=click.Choice([*SCENARIOS, "all"]))
@click.option("--bootstrap", default=None, help="Use this broker (default: a private one).")
@click.option(
    "--mode",
    type=click.Choice(["at_least_once", "exactly_once", "both"]),
    default="both",
    help="Processing guarantee of the workers (stuck-commit and zombie: exactly_once only).",
)
@click.option("--kills", type=int, default=20, show_default=True, help="kill9: how many kills.")
@click.option(
    "--hostile-good",
    type=int,
    default=10_000,
    show_default=True,
    help="hostile: good records (about as many hostile ones, of 26 kinds, go with them).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON document.")
def chaos(
    scenario: str, bootstrap: str | None, mode: str, kills: int, hostile_good: int, as_json: bool
) -> None:
    """Inject a fault under load and count the outputs with an independent read_committed reader.

    Workers run the real processor with a fake model (a keyword rule), so that the figures
    measure the delivery machinery, not model loading. Each scenario prints one JSON line on
    stderr as it ends; --json prints them all on stdout at the end."""
    # While the broker is away aiokafka logs an error per reconnect attempt, thousands a second;
    # the scenarios count the failures that matter themselves.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    names = list(SCENARIOS) if scenario == "all" else [scenario]
    modes = ["at_least_once", "exactly_once"] if mode == "both" else [mode]
    results = asyncio.run(run_scenarios(names, bootstrap, modes, kills, hostile_good))
    if as_json:
        click.echo(
            orjson.dumps(
                {"results": results, "cpus": os.cpu_count()}, option=orjson.OPT_INDENT_2
            ).decode()
        )
