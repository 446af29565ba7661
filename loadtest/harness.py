"""The orchestrator: processes under test, the generator process, steps, sweeps, comparisons.

Theory of operation
-------------------
Three kinds of process, none sharing an event loop with another:

* the **generator** (`loadtest/generator.py`), one for the whole run, driven over its stdin;
* the **process under test** (an *instance*: `fraudstream run`, the Faust worker, the
  passthrough), each instance on fresh topics and a fresh consumer group, so no step inherits
  another instance's backlog, offsets or state;
* this process: the **collector** (reads the instance's scores topic), the consumer-lag sampler,
  the live display and the step logic.

A *step* sends `rate x seconds` records on the open-loop schedule, then waits up to `drain_s` for
the last scores. A record with no score by then is *missing*: it fails the step and enters the
percentiles with its waiting time so far (a lower bound), never as if it were fast. A step is
*aborted* early, once enough records are already known to be over the budget that its p99 must
exceed it whatever the rest does (the verdict cannot change; it only saves time). An instance
that is still behind after a step is given up to `settle_s` more to catch up (its late scores no
longer count), so that the next step starts on an idle processor; one that does not catch up is
replaced by a fresh instance.

A fresh instance first answers a probe record (it has joined its group and loaded its model),
then runs an unjudged warm-up step (first batches, lazy initialisation), then the judged steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from fraudstream.config import KafkaSettings
from fraudstream.localkafka.topics import TopicSpec, delete_topics, ensure_topics
from fraudstream.stream.clients import admin_kwargs
from loadtest import cpu
from loadtest.collector import Collector, LagSampler, StepTrack
from loadtest.display import Display
from loadtest.schedule import step_count
from loadtest.stats import per_second, rounded, summarize
from loadtest.sweep import SweepSearch, judge, round_rate
from loadtest.variants import Launch, Topics, Variant, command

log = logging.getLogger(__name__)

MONITOR_EVERY_S = 0.25
LAG_EVERY_S = 1.0


class LoadTestError(RuntimeError):
    pass


@dataclass(frozen=True)
class Options:
    kafka: KafkaSettings
    launch: Launch
    out: Path
    step_s: float = 10.0
    warmup_s: float = 3.0
    warmup_rate: float = 500.0
    drain_s: float = 10.0
    settle_s: float = 60.0
    retries: int = 0
    startup_timeout_s: float = 240.0
    seed: int = 7
    pool_size: int = 50_000
    abort_early: bool = True
    keep_topics: bool = False
    profile: bool = False
    """Sample each process under test with py-spy (when installed) into `out/profiles/`."""

    @property
    def budget_s(self) -> float:
        return self.launch.budget_ms / 1000.0


# ------------------------------------------------------------------------------- generator


class GeneratorProcess:
    """The generator subprocess and the events it reports."""

    def __init__(self, pool: Path, opts: Options, log_path: Path) -> None:
        self.pool = pool
        self.opts = opts
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self.events: dict[tuple[str, int], asyncio.Future[dict[str, Any]]] = {}
        self.progress: dict[int, dict[str, Any]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[dict[str, Any]] | None = None
        self._log: Any = None

    async def start(self) -> None:
        argv = [sys.executable, "-m", "loadtest.generator", "--pool", str(self.pool)]
        argv += ["--bootstrap", self.opts.launch.bootstrap]
        if self.opts.launch.config_file:
            argv += ["--config", self.opts.launch.config_file]
        self._log = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            limit=1 << 20,
        )
        self._ready = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), 120)
        except TimeoutError:
            raise LoadTestError(f"the generator did not start; see {self.log_path}") from None

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                err = LoadTestError(f"the generator exited; see {self.log_path}")
                for fut in [*self.events.values(), self._ready]:
                    if fut is not None and not fut.done():
                        fut.set_exception(err)
                return
            ev = orjson.loads(line)
            kind = ev.get("ev")
            if kind == "ready":
                assert self._ready is not None
                if not self._ready.done():
                    self._ready.set_result(ev)
            elif kind == "progress":
                self.progress[ev["step"]] = ev
            elif kind in ("started", "done"):
                self.future(kind, ev["step"]).set_result(ev)

    def future(self, kind: str, step: int) -> asyncio.Future[dict[str, Any]]:
        key = (kind, step)
        if key not in self.events:
            self.events[key] = asyncio.get_running_loop().create_future()
        return self.events[key]

    async def send(self, cmd: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(orjson.dumps(cmd) + b"\n")
        await self.proc.stdin.drain()

    async def close(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(Exception):
            await self.send({"cmd": "exit"})
        try:
            await asyncio.wait_for(self.proc.wait(), 15)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._log is not None:
            self._log.close()


# ------------------------------------------------------------------------------- instances


class Instance:
    """One process under test on its own topics, with its collector and lag sampler."""

    def __init__(self, variant: Variant, topics: Topics, opts: Options, run: str) -> None:
        self.variant = variant
        self.topics = topics
        self.opts = opts
        self.run = run
        self.workdir = opts.out / "work" / topics.prefix
        self.log_path = opts.out / "logs" / f"{topics.prefix}.log"
        self.argv = command(variant, topics, opts.launch, self.workdir / "faust-data")
        self.proc: subprocess.Popen[bytes] | None = None
        self.collector = Collector(opts.kafka, topics.scores, run)
        self.lag = LagSampler(opts.kafka, topics.input, topics.group)
        self._log: Any = None
        self._spy: subprocess.Popen[bytes] | None = None
        self.profile_path: Path | None = None

    async def start(self, gen: GeneratorProcess, display: Display) -> float:
        """Create the topics, start the process, wait for its first score; returns seconds."""
        t0 = time.monotonic()
        launch = self.opts.launch
        kwargs = admin_kwargs(self.opts.kafka)
        bootstrap = kwargs.pop("bootstrap_servers")
        spec = TopicSpec(launch.partitions, 1)
        await ensure_topics(
            bootstrap,
            {
                self.topics.input: spec,
                self.topics.scores: spec,
                self.topics.alerts: spec,
                self.topics.dlq: spec,
                self.topics.labels: spec,
            },
            client_kwargs=kwargs,
        )
        await self.collector.start()
        await self.lag.start()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._log.write(("$ " + " ".join(self.argv) + "\n").encode())
        self._log.flush()
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.opts.launch.env())
        self.proc = subprocess.Popen(
            self.argv,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.opts.startup_timeout_s
        n = 0
        while not self.collector.probes:
            self.check_alive()
            if time.monotonic() > deadline:
                raise LoadTestError(
                    f"{self.variant.name}: no score within {self.opts.startup_timeout_s:g} s "
                    f"of starting; see {self.log_path}\n{self.log_tail()}"
                )
            if n % 4 == 0:
                await gen.send({"cmd": "probe", "topic": self.topics.input, "id": f"probe-{n}"})
            n += 1
            display.status(f"[{self.variant.letter}] {self.variant.name}: starting ({n / 4:.0f} s)")
            await asyncio.sleep(0.25)
        if self.opts.profile:
            self._start_profiler()
        return time.monotonic() - t0

    def _start_profiler(self) -> None:
        """py-spy, attached to the process under test until it stops (collapsed stacks per
        thread, idle time excluded)."""
        spy = Path(sys.executable).parent / "py-spy"
        if not spy.is_file() or self.proc is None:
            log.warning("--profile: py-spy is not installed next to %s", sys.executable)
            return
        out = self.opts.out / "profiles" / f"{self.topics.prefix}-{self.variant.name}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        self.profile_path = out
        argv = [str(spy), "record", "--pid", str(self.proc.pid), "--rate", "100", "--threads"]
        argv += ["--format", "raw", "--output", str(out), "--duration", "36000", "--nonblocking"]
        self._spy = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    async def _stop_profiler(self) -> None:
        if self._spy is None or self._spy.poll() is not None:
            return
        self._spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            await asyncio.wait_for(asyncio.to_thread(self._spy.wait), 30)
        except TimeoutError:
            self._spy.kill()
            await asyncio.to_thread(self._spy.wait)

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise LoadTestError(
                f"{self.variant.name} exited with code {self.proc.returncode}; see "
                f"{self.log_path}\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def stop(self) -> int | None:
        code: int | None = None
        await self._stop_profiler()
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(asyncio.to_thread(self.proc.wait), 20)
                except TimeoutError:
                    log.warning("%s did not stop on SIGTERM; killing it", self.variant.name)
                    self.proc.kill()
                    await asyncio.to_thread(self.proc.wait)
            code = self.proc.returncode
        await self.collector.stop()
        await self.lag.stop()
        if self._log is not None:
            self._log.close()
        if not self.opts.keep_topics:
            kwargs = admin_kwargs(self.opts.kafka)
            bootstrap = kwargs.pop("bootstrap_servers")
            with contextlib.suppress(Exception):
                await delete_topics(bootstrap, self.topics.all(), client_kwargs=kwargs)
        return code


# ------------------------------------------------------------------------------- results


@dataclass
class StepResult:
    doc: dict[str, Any]

    @property
    def passed(self) -> bool:
        return bool(self.doc["passed"])

    @property
    def drained(self) -> bool:
        return bool(self.doc["drained"])

    @property
    def rate(self) -> float:
        return float(self.doc["rate"])


@dataclass
class VariantRun:
    variant: Variant
    steps: list[dict[str, Any]] = field(default_factory=list)
    instances: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    sweep: SweepSearch | None = None
    model_version: str | None = None
    error: str | None = None

    def as_dict(self, common_rate: float | None) -> dict[str, Any]:
        at_common = [s for s in self.steps if s.get("purpose") == "common-rate"]
        common = at_common[-1] if at_common else None
        best = self.sweep.best if self.sweep is not None else None
        if self.sweep is None:
            passed = [s["rate"] for s in self.steps if s["passed"] and s.get("judged", True)]
            best = max(passed) if passed else None
        return {
            "variant": self.variant.name,
            "letter": self.variant.letter,
            "label": self.variant.label,
            "model_version": self.model_version,
            "max_rate_within_budget": best,
            "common_rate": common_rate,
            "p99_at_common_rate_ms": common["latency_ms"]["p99"] if common else None,
            "common_rate_passed": common["passed"] if common else None,
            "sweep": self.sweep.as_dict() if self.sweep is not None else None,
            "instances": self.instances,
            "steps": self.steps,
            "error": self.error,
        }


# ------------------------------------------------------------------------------- the harness


class Harness:
    def __init__(self, opts: Options, pool: Path, display: Display) -> None:
        self.opts = opts
        self.pool = pool
        self.display = display
        self.run_id = "lt" + uuid.uuid4().hex[:6]
        self.gen = GeneratorProcess(pool, opts, opts.out / "logs" / "generator.log")
        self._step_ids = 0
        self._instance_ids = 0
        self.cursor = 0
        self._broker_pid = cpu.broker_pid()
        """The broker's JVM when it runs on this machine (its CPU is reported per step)."""

    async def __aenter__(self) -> Harness:
        (self.opts.out / "logs").mkdir(parents=True, exist_ok=True)
        await self.gen.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.gen.close()

    # -------------------------------------------------------------------- instance lifecycle

    async def _new_instance(self, vr: VariantRun) -> Instance:
        self._instance_ids += 1
        topics = Topics(f"{self.run_id}-{vr.variant.letter}{self._instance_ids}")
        inst = Instance(vr.variant, topics, self.opts, self.run_id)
        try:
            startup = await inst.start(self.gen, self.display)
        except BaseException:
            await inst.stop()
            raise
        vr.instances.append(
            {"prefix": topics.prefix, "argv": inst.argv, "startup_s": round(startup, 2)}
        )
        # Unjudged warm-up: first batches, lazy initialisation, JIT caches.
        if self.opts.warmup_s > 0:
            await self.step(inst, vr, self.opts.warmup_rate, self.opts.warmup_s, "warm-up")
        return inst

    async def _stop_instance(self, inst: Instance, vr: VariantRun) -> None:
        code = await inst.stop()
        for doc in vr.instances:
            if doc["prefix"] == inst.topics.prefix:
                doc["exit_code"] = code
                doc["log"] = str(inst.log_path)
                if inst.profile_path is not None:
                    doc["profile"] = str(inst.profile_path)

    # -------------------------------------------------------------------- one step

    async def step(
        self, inst: Instance, vr: VariantRun, rate: float, seconds: float, purpose: str
    ) -> StepResult:
        opts = self.opts
        self._step_ids += 1
        k = self._step_ids
        count = step_count(rate, seconds)
        track = StepTrack(k, rate, count, opts.budget_s)
        inst.collector.track(track)
        offset = self.cursor
        self.cursor += count
        load_before = os.getloadavg()
        cpu_before = self._cpu(inst)
        await self.gen.send(
            {
                "cmd": "step",
                "topic": inst.topics.input,
                "run": self.run_id,
                "step": k,
                "rate": rate,
                "count": count,
                "offset": offset,
            }
        )
        started = await asyncio.wait_for(self.gen.future("started", k), 60)
        track.start = start = float(started["start"])
        done_fut = self.gen.future("done", k)
        judged = purpose != "warm-up"
        # Over-budget records that make p99 exceed the budget whatever the others do.
        must_fail_at = count - math.ceil(0.99 * count - 1e-9) + 1
        lag_samples: list[tuple[float, int]] = []
        backlog_samples: deque[tuple[float, int]] = deque()
        aborted = False
        next_lag = 0.0
        label = f"[{vr.variant.letter}] {vr.variant.name} {purpose} {rate:g}/s"
        while not done_fut.done():
            await asyncio.sleep(MONITOR_EVERY_S)
            inst.check_alive()
            now = time.time()
            prog = self.gen.progress.get(k, {})
            sent = int(prog.get("sent", 0))
            if now >= next_lag:
                next_lag = now + LAG_EVERY_S
                lag = await inst.lag.sample()
                if lag is not None:
                    lag_samples.append((now - start, lag))
            # The generator's progress is up to a quarter second old; the schedule is not.
            expected = sent if aborted else max(sent, track.schedule.due(now))
            backlog_samples.append((now - start, max(0, expected - track.received)))
            late = track.over_budget + track.late_unscored(now, sent)
            self.display.status(
                self._line(label, now - start, count / rate, sent, track, prog, lag_samples)
            )
            if (
                judged
                and opts.abort_early
                and not aborted
                and late >= must_fail_at
                and now - start >= 1.0
            ):
                aborted = True
                await self.gen.send({"cmd": "abort"})
        done = done_fut.result()
        sent = int(done["sent"])
        # Drain: wait for the scores of everything sent, at most drain_s after the last send.
        drain_until = max(time.time(), float(done["finished"])) + opts.drain_s
        while track.received < sent and time.time() < drain_until:
            inst.check_alive()
            now = time.time()
            if now >= next_lag:
                next_lag = now + LAG_EVERY_S
                lag = await inst.lag.sample()
                if lag is not None:
                    lag_samples.append((now - start, lag))
            backlog_samples.append((now - start, max(0, sent - track.received)))
            self.display.status(
                self._line(label + " draining", now - start, count / rate, sent, track, {}, [])
            )
            await asyncio.sleep(MONITOR_EVERY_S)
        closed = time.time()
        cpu_after = self._cpu(inst)
        if vr.model_version is None:
            vr.model_version = inst.collector.model_version
        result = self._result(
            track,
            done,
            purpose=purpose,
            judged=judged,
            aborted=aborted,
            closed=closed,
            variant_start=vr.started,
            lag=lag_samples,
            backlog=list(backlog_samples),
            load=(load_before, os.getloadavg()),
        )
        result.doc["instance"] = inst.topics.prefix
        result.doc["cpu_us_per_record"] = cpu.per_record(cpu_before, cpu_after, sent)
        vr.steps.append(result.doc)
        self.display.done(self._summary_line(label, result.doc))
        return result

    def _cpu(self, inst: Instance) -> dict[str, float]:
        """CPU seconds so far of the processes that share the machine (`loadtest/cpu.py`)."""
        roots = {
            "processor": inst.proc.pid if inst.proc is not None else None,
            "generator": self.gen.proc.pid if self.gen.proc is not None else None,
            "harness": os.getpid(),
            "broker": self._broker_pid,
        }
        # one worker's child is its model process; with --workers, the workers and the server
        children = "model" if self.opts.launch.workers <= 1 else "workers and model server"
        return cpu.sample(roots, {"processor": children})

    def _line(
        self,
        label: str,
        t: float,
        total: float,
        sent: int,
        track: StepTrack,
        prog: dict[str, Any],
        lag: list[tuple[float, int]],
    ) -> str:
        lat = track.latencies()[: max(sent, 0)] if track.start is not None else np.array([])
        got = lat[~np.isnan(lat)] * 1000.0
        p50 = f"{np.percentile(got, 50):.1f}" if len(got) else "-"
        p99 = f"{np.percentile(got, 99):.1f}" if len(got) else "-"
        behind = prog.get("behind_ms")
        parts = [
            f"{label}  t={t:4.1f}/{total:g}s",
            f"sent {sent}",
            f"scored {track.received}",
            f"backlog {max(0, sent - track.received)}",
            f"p50 {p50} p99 {p99} ms",
        ]
        if lag:
            parts.append(f"lag {lag[-1][1]}")
        if behind:
            parts.append(f"gen behind {behind:.0f} ms")
        parts.append(f"load {os.getloadavg()[0]:.1f}")
        return "  ".join(parts)

    @staticmethod
    def _summary_line(label: str, doc: dict[str, Any]) -> str:
        lat = doc["latency_ms"]
        fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
        verdict = "PASS" if doc["passed"] else "FAIL"
        if not doc["judged"]:
            verdict = "warm-up"
        return (
            f"{label}: {verdict}  {doc['throughput_per_s']:.0f}/s scored  "
            f"p50 {fmt(lat['p50'])} p99 {fmt(lat['p99'])} p99.9 {fmt(lat['p99.9'])} "
            f"max {fmt(lat['max'])} ms  missing {doc['missing']}  ({doc['reason']})"
            + (
                "\n    CPU per record: "
                + ", ".join(f"{k} {v:,.0f} us" for k, v in doc["cpu_us_per_record"].items())
                if doc.get("cpu_us_per_record")
                else ""
            )
        )

    def _result(
        self,
        track: StepTrack,
        done: dict[str, Any],
        *,
        purpose: str,
        judged: bool,
        aborted: bool,
        closed: float,
        variant_start: float,
        lag: list[tuple[float, int]],
        backlog: list[tuple[float, int]],
        load: tuple[tuple[float, float, float], tuple[float, float, float]],
    ) -> StepResult:
        assert track.start is not None
        sent = int(done["sent"])
        start = track.start
        intended = start + np.arange(sent) / track.rate
        recv = track.recv[:sent]
        missing_mask = np.isnan(recv)
        missing = int(missing_mask.sum())
        # A missing record enters the percentiles with the time it waited until the step closed.
        lat_s = np.where(missing_mask, closed - intended, recv - intended)
        got = recv[~missing_mask]
        last = float(got.max()) if len(got) else start
        window = max(sent / track.rate, last - start, 1e-3)
        processor_s = track.scored_at[:sent] - intended
        sizes = track.batch[:sent]
        sizes = sizes[sizes > 0]
        latency = rounded(summarize(lat_s * 1000.0))
        verdict = judge(
            p99_ms=latency["p99"],
            budget_ms=self.opts.launch.budget_ms,
            sent=sent,
            planned=track.count,
            missing=missing,
            send_errors=int(done["errors"]),
            aborted=aborted,
        )
        series_end = max(closed, start + sent / track.rate)
        offered = per_second(intended, None, start, series_end)
        scored = per_second(got, (got - intended[~missing_mask]) * 1000.0, start, series_end)
        doc: dict[str, Any] = {
            "step": track.step,
            "purpose": purpose,
            "judged": judged,
            "rate": track.rate,
            "duration_s": round(sent / track.rate, 3),
            "planned": track.count,
            "sent": sent,
            "acked": int(done["acked"]),
            "send_errors": int(done["errors"]),
            "scored": track.received,
            "missing": missing,
            "duplicates": track.duplicates,
            "timestamp_mismatch": track.timestamp_mismatch,
            "aborted": aborted,
            "drained": missing == 0,
            "passed": verdict.passed if judged else False,
            "reason": verdict.reason,
            "throughput_per_s": round(len(got) / window, 1),
            "latency_ms": latency,
            "until_produced_ms": rounded(summarize(processor_s * 1000.0)),
            "generator_send_lag_ms": done.get("send_lag_ms"),
            "batch_size": rounded(summarize(sizes)) if len(sizes) else None,
            "stages": dict(track.stages),
            "load_avg_before": [round(x, 2) for x in load[0]],
            "load_avg_after": [round(x, 2) for x in load[1]],
            "t0_s": round(start - variant_start, 3),
            "series": {
                "t": [row["t"] for row in offered],
                "offered_per_s": [row["count"] for row in offered],
                "scored_per_s": [row["count"] for row in scored],
                "p50_ms": [row.get("p50") for row in scored],
                "p99_ms": [row.get("p99") for row in scored],
                "consumer_lag": [[round(t, 2), v] for t, v in lag],
                "backlog": [[round(t, 2), v] for t, v in backlog[:: max(1, len(backlog) // 200)]],
            },
        }
        return StepResult(doc)

    async def _settle(self, inst: Instance, vr: VariantRun, result: StepResult) -> bool:
        """Wait until the instance has scored everything of the step (late scores no longer
        count); False when it does not within `settle_s`."""
        track = inst.collector.steps[result.doc["step"]]
        deadline = time.monotonic() + self.opts.settle_s
        label = f"[{vr.variant.letter}] {vr.variant.name}: catching up"
        while track.received < result.doc["sent"]:
            inst.check_alive()
            if time.monotonic() > deadline:
                return False
            self.display.status(f"{label} ({result.doc['sent'] - track.received} left)")
            await asyncio.sleep(MONITOR_EVERY_S)
        result.doc["caught_up_s"] = round(self.opts.settle_s - (deadline - time.monotonic()), 2)
        return True

    # -------------------------------------------------------------------- plans

    async def run_variant(
        self,
        variant: Variant,
        *,
        rates: list[tuple[float, str]] | None = None,
        sweep: SweepSearch | None = None,
        after: Callable[[VariantRun], list[tuple[float, str]]] | None = None,
    ) -> VariantRun:
        """Fixed `rates` (rate, purpose) first, then the `sweep`, then the rates `after` gives."""
        vr = VariantRun(variant, sweep=sweep)
        inst: Instance | None = None
        try:
            inst = await self._new_instance(vr)

            async def one(rate: float, purpose: str) -> StepResult:
                nonlocal inst
                if inst is None:
                    inst = await self._new_instance(vr)
                result = await self.step(inst, vr, rate, self.opts.step_s, purpose)
                if not result.drained and not await self._settle(inst, vr, result):
                    await self._stop_instance(inst, vr)  # still behind: start afresh
                    inst = None
                return result

            for rate, purpose in rates or []:
                await one(rate, purpose)
            if sweep is not None:
                while (proposed := sweep.next_rate()) is not None:
                    result = await one(proposed, "sweep")
                    # On a shared machine one stall of another process fails a step: a failed
                    # rate may be tried again (every attempt is reported; any pass counts).
                    for _ in range(self.opts.retries):
                        if result.passed:
                            break
                        result = await one(proposed, "sweep-retry")
                    sweep.record(proposed, result.passed)
            for rate, purpose in after(vr) if after is not None else []:
                await one(rate, purpose)
        except LoadTestError as exc:
            vr.error = str(exc)
            self.display.done(f"[{variant.letter}] {variant.name}: ERROR {exc}")
        finally:
            if inst is not None:
                await self._stop_instance(inst, vr)
        return vr


def common_rate_of(best: float | None, fallback: float) -> float:
    """Half of (a)'s highest rate within budget (issue 4's second goal), or the fallback."""
    return round_rate(best / 2) if best else fallback
