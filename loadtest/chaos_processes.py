"""The processes under test of the fault scenarios (`loadtest/chaos.py`): a scenario's topics and
options (`Env`), one processor subprocess (`Worker`: the real worker with a fake model,
`loadtest/chaos_worker.py`), and a `Supervisor` that keeps workers running as an orchestrator
would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudstream.config import Settings
from loadtest.chaos_worker import chaos_settings

if TYPE_CHECKING:
    from loadtest.chaos_load import Progress


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
