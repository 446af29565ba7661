"""`fraudstream run --workers N`: N worker processes of one consumer group on one machine, sharing
one model server.

Why: a worker is one event loop, one core at most; a machine with more cores runs more workers,
as Kafka scales out, each owning some of the input's partitions (the group's assignment and
rebalancing do the rest, exactly as with workers on separate machines). They share one model
server (`runtime/model_server.py`), so the model is loaded once.

The supervisor (this module) resolves the model folder (building the default model once, not N
times at the same moment), starts the server, then the workers: each is `fraudstream run` with
the same options, the server's address and key in its environment, and `--web-port P + i` when
a web port was given. Then it supervises:

- a worker that fails (non-zero exit) stops the others and the supervisor exits with its status:
  an orchestrator restarts the whole unit, and what was not committed is read again;
- with `--exit-when-idle`, each worker stops by itself and the supervisor when all have;
- a model server that dies is started again (with backoff); meanwhile the workers fall back to
  stage 1 for the language model's share, flagged;
- SIGTERM / SIGINT go to every worker (each drains and commits), then the server stops; SIGHUP
  starts the server again on the folder (a new version) and then reloads every worker.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from fraudstream.config import Settings
from fraudstream.runtime.model_process import RESTART_BACKOFF_S, ModelProcessError

log = logging.getLogger(__name__)

POLL_S = 0.2


def worker_argv(argv: Sequence[str], index: int, web_port: int | None) -> list[str]:
    """A worker's command line: the supervisor's `run` options without `--workers` (and with
    its own `--web-port`)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--workers", "--web-port"):
            skip = True
            continue
        if arg.startswith(("--workers=", "--web-port=")):
            continue
        out.append(arg)
    if web_port is not None:
        out += ["--web-port", str(web_port + index)]
    return [sys.executable, "-m", "fraudstream", "run", *out]


def run_workers(settings: Settings, workers: int, argv: Sequence[str]) -> int:
    """Start the server and `workers` workers, supervise them; returns the exit status."""
    from fraudstream.runtime.loader import ensure_default_model, inference_threads
    from fraudstream.runtime.model_server import ModelServer

    path = Path(settings.model_path or ensure_default_model(echo=log.info))
    try:
        server = ModelServer(
            path,
            device=settings.device,
            threads=inference_threads(settings),
            narrative_cache=settings.narrative_cache_size,
        )
    except ModelProcessError as exc:
        from fraudstream.config import ConfigError

        raise ConfigError(f"model_path: {exc.folder_error or exc}") from None
    env = dict(
        os.environ,
        FRAUDSTREAM_MODEL_PATH=str(path),
        FRAUDSTREAM_MODEL_SERVER=server.address,
        FRAUDSTREAM_MODEL_SERVER_KEY=server.authkey.hex(),
    )
    log.info("model server for %d workers: model %s from %s", workers, server.version, path)
    procs = [
        subprocess.Popen(worker_argv(argv, i, settings.web_port), env=env) for i in range(workers)
    ]
    stopping: list[int] = []
    reload: list[bool] = []

    def on_signal(signum: int, _frame: object) -> None:
        if signum == signal.SIGHUP:
            reload.append(True)
        else:
            stopping.append(signum)

    previous = {
        s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    }
    status = 0
    recent: list[float] = []
    try:
        while True:
            if stopping:
                for p in procs:
                    if p.poll() is None:
                        p.send_signal(signal.SIGTERM)
                deadline = time.monotonic() + settings.shutdown_timeout_s + 10.0
                for p in procs:
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
                status = 0
                break
            if reload:
                reload.clear()
                log.info("SIGHUP: starting the model server again, then reloading the workers")
                server.stop()
                server.start()
                for p in procs:
                    if p.poll() is None:
                        p.send_signal(signal.SIGHUP)
            failed = [p for p in procs if p.poll() not in (None, 0)]
            if failed:
                status = failed[0].returncode
                log.error(
                    "worker (pid %d) exited with status %d: stopping the others",
                    failed[0].pid,
                    status,
                )
                for p in procs:
                    if p.poll() is None:
                        p.send_signal(signal.SIGTERM)
                for p in procs:
                    p.wait(timeout=settings.shutdown_timeout_s + 10.0)
                break
            if all(p.poll() == 0 for p in procs):
                break
            if not server.alive():
                now = time.monotonic()
                recent = [t for t in recent if now - t < 60.0] + [now]
                time.sleep(RESTART_BACKOFF_S[min(len(recent), len(RESTART_BACKOFF_S) - 1)])
                log.warning("the model server is gone: starting it again")
                server.restarts += 1
                try:
                    server.start()
                except ModelProcessError as exc:
                    log.error("the model server could not start again: %s", exc)
            time.sleep(POLL_S)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        server.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return status
