"""One language model for several worker processes on one machine (`fraudstream run --workers N`).

Why: a worker's event loop is Python and uses one core; to use the others, `run --workers N`
starts N workers, members of one consumer group. Each loading its own copy of the model would
cost N times its memory (the default model takes ~400 MB in a process) and N processes
contending for the cores' matrix units; instead one model server loads the folder once and every
worker talks to it.

The protocol is the model process's (`runtime/model_process.py`: a "ready" message with the
model's description, then requests answered in order on each connection), over a Unix socket
with a random key that only the supervisor and its workers hold. Requests from all workers are
served one at a time (one model). A worker's side is `ModelServerClient`, a `ModelProcess` that
connects instead of spawning: when the server is gone the worker's batch fails over as with a
dead child (split, retry, stage 1, flagged), and the next request reconnects, with the same
backoff; the supervisor starts the server again. A server started again on a changed folder is
refused until the workers reload (SIGHUP), as a child's would be.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import secrets
import shutil
import tempfile
import threading
import weakref
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from fraudstream.runtime.model_process import (
    START_TIMEOUT_S,
    ModelProcess,
    ModelProcessError,
    _load,
    _without_secrets,
    answer,
)

log = logging.getLogger(__name__)


def _serve(
    conn: Connection,
    address: str,
    authkey: bytes,
    path: str,
    device: str,
    threads: int | None,
    narrative_cache: int,
) -> None:
    """The server process: load the model, listen, answer every worker that connects."""
    model, ready = _load(path, device, threads, narrative_cache)
    if model is None:
        conn.send(ready)
        return
    listener = Listener(address, family="AF_UNIX", authkey=authkey)
    conn.send(ready)
    conn.close()
    lock = threading.Lock()
    while True:
        try:
            client = listener.accept()
        except (OSError, EOFError, mp.AuthenticationError):
            continue  # a client that went away, or one without the key
        threading.Thread(
            target=_answer_client, args=(client, model, ready, lock), daemon=True
        ).start()


def _answer_client(conn: Connection, model: Any, ready: Any, lock: threading.Lock) -> None:
    with contextlib.closing(conn):
        try:
            conn.send(ready)
            while True:
                op, batch, arg = conn.recv()
                if op == "close":
                    return
                with lock:  # one model: one request at a time, whoever sent it
                    reply = answer(model, op, batch, arg)
                conn.send(reply)
        except (EOFError, OSError):
            return


class ModelServer:
    """The supervisor's handle on the server process: start, check, start again, stop."""

    def __init__(
        self, path: Path, *, device: str, threads: int | None, narrative_cache: int
    ) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="fraudstream-model-"))
        self.address = str(self._folder / "model.sock")
        self.authkey = secrets.token_bytes(32)
        self._args = (str(path), device, threads, narrative_cache)
        self.version = ""
        self.restarts = 0
        self._proc: Any = None
        self._finalizer = weakref.finalize(self, shutil.rmtree, self._folder, True)
        self.start()

    def start(self) -> None:
        """Start the server and wait until it listens (ModelProcessError: it could not load)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.address)  # a socket left by a server that died
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=_serve,
            args=(child, self.address, self.authkey, *self._args),
            name="fraudstream-model-server",
            daemon=True,
        )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        with _without_secrets():
            proc.start()
        child.close()
        self._proc = proc
        try:
            if not parent.poll(START_TIMEOUT_S):
                raise ModelProcessError(
                    f"the model server did not start within {START_TIMEOUT_S} s"
                )
            status, value, folder_error = parent.recv()
        except (EOFError, OSError):
            raise ModelProcessError(
                f"the model server exited while loading {self._args[0]} (exit code {proc.exitcode})"
            ) from None
        finally:
            parent.close()
        if status != "ready":
            proc.join(timeout=5)
            raise ModelProcessError(
                f"the model server could not load {self._args[0]}: {value}",
                folder_error=folder_error,
            )
        self.version = value.version

    def alive(self) -> bool:
        return self._proc is not None and bool(self._proc.is_alive())

    def stop(self) -> None:
        proc = self._proc
        if proc is not None and proc.is_alive():
            proc.terminate()
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        self._proc = None

    def close(self) -> None:
        self.stop()
        self._finalizer()


class ModelServerClient(ModelProcess):
    """A worker's side of the model server: `ModelProcess`'s interface, retries and backoff."""

    def __init__(self, address: str, authkey: bytes, *, path: Path) -> None:
        self._address = address
        self._authkey = authkey
        self._conn_alive = False
        super().__init__(path, device="", threads=None)

    def _alive(self) -> bool:
        return self._conn_alive

    def _gone(self) -> str:
        return f"the model server at {self._address} cannot be reached"

    def _start(self) -> None:
        try:
            conn = Client(self._address, family="AF_UNIX", authkey=self._authkey)
            if not conn.poll(START_TIMEOUT_S):
                conn.close()
                raise ModelProcessError(f"the model server did not answer: {self._address}")
            status, value, folder_error = conn.recv()
        except (OSError, EOFError, mp.AuthenticationError) as exc:
            raise ModelProcessError(f"{self._gone()} ({type(exc).__name__}: {exc})") from None
        self._conn = conn
        self._conn_alive = True
        self._finalizer = weakref.finalize(self, _hang_up, conn)
        self._ready(status, value, folder_error)

    def _lost(self) -> None:
        self._conn_alive = False
        self._finalizer()

    def close(self) -> None:
        self._conn_alive = False
        self._finalizer()


def _hang_up(conn: Connection) -> None:
    with contextlib.suppress(OSError, ValueError):
        conn.send(("close", None, None))
    conn.close()
