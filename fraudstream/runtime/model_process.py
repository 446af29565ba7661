"""The language model in a child process.

Why: the processor's event loop (decode, state, stage 1, Kafka) is Python and holds the GIL most
of the time under load; a forward pass of a small BERT is hundreds of Python-level module calls
between short torch kernels, and each of them waits for the GIL. Measured on two cores at 2,000
transactions/s, a batch of three took 16-20 ms in a thread of the processor against about 1 ms
alone. In a child process the model has an interpreter of its own: the inference thread of the
processor only sends the batch and waits on a pipe (no GIL held while it waits).

What crosses the pipe is small and plain: the feature rows and token ids of a batch out, the
probabilities (and reasons, for the rows that alert, and the narratives' own risk) back, in one
round trip per batch. The child keeps the narrative cache of text vectors. The child
prepares the tensors itself. It alone loads the model folder and checks it against its manifest:
when it is ready it sends what the processor needs to know of the model (`runtime/lm.py`'s
`ModelInfo`: version, thresholds, feature spec, tokenizer, card), so that the processor never
imports torch nor reads the weights; a folder it refuses comes back as `folder_error`, the
message the processor shows as is. Requests are answered in order; one lock serialises callers
(the processor has one inference thread per model).

A request that fails raises `ModelProcessError` in the caller, which the processor treats like
any model error (split, retry, fall back to stage 1, flagged). A child that dies is started
again, and the request that found it dead is sent once more to the new child: the batch in
flight is retried, not lost. Restarts back off (`RESTART_BACKOFF_S`, by how many came in the
last minute): while a restart waits, requests fail at once (the processor falls back) instead of
waiting for a child that keeps dying. `restarts` counts them for /metrics. A child started
again must load the same version: a folder changed on disk since is refused (the processor
reloads it on SIGHUP), never served under the old version's name and thresholds.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import re
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from fraudstream.runtime.lm import ModelInfo

log = logging.getLogger(__name__)

START_TIMEOUT_S = 300.0
RESTART_BACKOFF_S = (0.0, 1.0, 2.0, 5.0, 10.0, 30.0)
"""Wait before the n-th restart within a minute (the first is at once)."""


class ModelProcessError(RuntimeError):
    def __init__(self, message: str, *, folder_error: str | None = None) -> None:
        super().__init__(message)
        self.folder_error = folder_error
        """The model folder was refused (`ModelFolderError`): its message, naming the file."""


@dataclass(frozen=True, slots=True)
class RemoteBatch:
    """A batch as the parent prepares it: rows and token ids; tensors are built in the child."""

    rows: Sequence[Any]
    token_ids: Sequence[Sequence[int]] | None

    def __len__(self) -> int:
        return len(self.rows)


def _load(path: str, device: str, threads: int | None, narrative_cache: int) -> tuple[Any, Any]:
    """(model, the "ready" message), or (None, the "error" message) when it cannot load."""
    folder_error = None
    try:
        from fraudstream.model.folder import ModelFolderError, load_model
        from fraudstream.runtime.lm import ModelInfo

        try:
            model = load_model(
                path, device=device, threads=threads, narrative_cache=narrative_cache
            )
        except ModelFolderError as exc:
            folder_error = str(exc)
            raise
        return model, ("ready", ModelInfo.of(model), None)
    except BaseException as exc:  # the parent needs the reason, whatever it is
        return None, ("error", f"{type(exc).__name__}: {exc}", folder_error)


def answer(model: Any, op: str, batch: RemoteBatch, arg: Any) -> tuple[str, Any]:
    """One request of the protocol above: ("ok", result) or ("error", message)."""
    try:
        if op == "score":  # arg: the alert threshold
            prepared = model.prepare(batch.rows, batch.token_ids)
            probs, reasons, logits = model.predict_explain(prepared, float(arg))
            cache = model.narrative_cache
            # the text-vector cache's counters ride along: no extra round trip for /metrics
            result: Any = (
                np.asarray(probs, dtype=np.float64),
                reasons,
                logits,
                None if cache is None else cache.stats(),
            )
        elif op == "predict":
            prepared = model.prepare(batch.rows, batch.token_ids)
            result = np.asarray(model.predict(prepared), dtype=np.float64)
        elif op == "explain":  # arg: the rows to explain
            # only the rows to explain, padded among themselves (attention masks make the
            # result the same as in the full batch)
            rows = [batch.rows[i] for i in arg]
            ids = None if batch.token_ids is None else [batch.token_ids[i] for i in arg]
            prepared = model.prepare(rows, ids)
            result = model.explain(prepared, range(len(rows)))
        else:
            raise ValueError(f"unknown request {op!r}")
    except Exception as exc:
        return "error", f"{type(exc).__name__}: {exc}"
    return "ok", result


def _serve(
    conn: Connection, path: str, device: str, threads: int | None, narrative_cache: int
) -> None:
    """The child's loop: load the model, then answer requests until the pipe closes."""
    model, ready = _load(path, device, threads, narrative_cache)
    conn.send(ready)
    if model is None:
        return
    while True:
        try:
            op, batch, arg = conn.recv()
        except (EOFError, OSError):
            return
        if op == "close":
            return
        conn.send(answer(model, op, batch, arg))


class ModelProcess:
    """A model folder loaded in a child process (spawned: no forked torch threads), started
    again when it dies."""

    _finalizer: Any
    """Hangs up and reaps what `_start` started (a `weakref.finalize`)."""

    def __init__(
        self, path: Path, *, device: str, threads: int | None, narrative_cache: int = 0
    ) -> None:
        self._args = (str(path), device, threads, narrative_cache)
        self._info: ModelInfo | None = None
        self._cache_stats: dict[str, float] | None = None
        self._lock = threading.Lock()
        self.restarts = 0
        self._recent: list[float] = []  # when the restarts of the last minute happened
        self._not_before = 0.0
        self._start()

    def _alive(self) -> bool:
        return bool(self._proc.is_alive())

    def _gone(self) -> str:
        """Why the model cannot be reached, in words."""
        return f"the model process is gone (exit code {self._proc.exitcode})"

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_serve,
            args=(child, *self._args),
            name="fraudstream-model",
            daemon=True,  # never outlives the processor
        )
        # Hugging Face offline from the child's first import, as `classifier.bert_config` sets
        # it where the model loads in process (a model folder holds everything it needs)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        with _without_secrets():
            self._proc.start()
        child.close()
        self._conn = parent
        self._finalizer = weakref.finalize(self, _stop, parent, self._proc)
        path = self._args[0]
        try:
            if not parent.poll(START_TIMEOUT_S):
                raise ModelProcessError(
                    f"the model process did not start within {START_TIMEOUT_S} s"
                )
            status, value, folder_error = parent.recv()
        except (EOFError, OSError):
            self.close()
            raise ModelProcessError(
                f"the model process exited while loading {path} (exit code {self._proc.exitcode})"
            ) from None
        except BaseException:
            self.close()
            raise
        self._ready(status, value, folder_error)

    def _ready(self, status: str, value: Any, folder_error: str | None) -> None:
        """Check the "ready" message of a model (re)started or reached."""
        path = self._args[0]
        if status != "ready":
            self.close()
            raise ModelProcessError(
                f"the model process could not load {path}: {value}", folder_error=folder_error
            )
        if self._info is not None and value.version != self._info.version:
            self.close()
            raise ModelProcessError(
                f"the model process started again on {path} found version {value.version}, "
                f"not {self._info.version}: the folder changed; reload the processor (SIGHUP) "
                "to serve it"
            )
        self._info = value

    @property
    def info(self) -> ModelInfo:
        """The model as the child loaded it (sent when it was ready)."""
        assert self._info is not None
        return self._info

    @property
    def version(self) -> str:
        return self.info.version

    def _restart(self, why: str) -> None:
        """Start a new child (under the lock), or fail at once while the backoff runs."""
        now = time.monotonic()
        if now < self._not_before:
            raise ModelProcessError(
                f"{why}; restarting it in {self._not_before - now:.1f} s (backoff)"
            )
        self._recent = [t for t in self._recent if now - t < 60.0] + [now]
        wait = RESTART_BACKOFF_S[min(len(self._recent), len(RESTART_BACKOFF_S) - 1)]
        self._finalizer()  # reap the dead one
        log.warning("%s: starting it again (restart %d)", why, self.restarts + 1)
        self.restarts += 1
        try:
            self._start()
        finally:
            # counted from the moment this one is up (or failed): loading takes seconds
            self._not_before = time.monotonic() + wait
        self._cache_stats = None

    def _call(self, op: str, batch: RemoteBatch, arg: Any = None) -> Any:
        with self._lock:
            for attempt in range(2):
                if not self._alive():
                    self._restart(self._gone())
                try:
                    self._conn.send((op, batch, arg))
                    status, value = self._conn.recv()
                    break
                except (EOFError, OSError) as exc:
                    self._lost()
                    if attempt == 1:
                        raise ModelProcessError(self._gone()) from exc
        if status != "ok":
            raise ModelProcessError(value)
        return value

    def _lost(self) -> None:
        """The pipe broke mid-request: wait for the child to be reaped."""
        self._proc.join(timeout=5)

    def predict(self, batch: RemoteBatch) -> np.ndarray:
        if len(batch) == 0:
            return np.zeros(0, dtype=np.float64)
        result: np.ndarray = self._call("predict", batch)
        return result

    def explain(self, batch: RemoteBatch, indices: Sequence[int]) -> list[Any]:
        if not indices:
            return []
        result: list[Any] = self._call("explain", batch, list(indices))
        return result

    def predict_explain(
        self, batch: RemoteBatch, threshold: float
    ) -> tuple[np.ndarray, dict[int, Any], np.ndarray | None]:
        if len(batch) == 0:
            return np.zeros(0, dtype=np.float64), {}, None
        probs, reasons, logits, stats = self._call("score", batch, threshold)
        self._cache_stats = stats
        return probs, reasons, logits

    def cache_stats(self) -> dict[str, float] | None:
        """The child's text-vector cache counters, as of its last scored batch."""
        return self._cache_stats

    def close(self) -> None:
        self._finalizer()


# Environment variables the model never needs and a child must not hold: Kafka passwords, key
# passwords, tokens (the child reads a model folder, nothing else).
_SECRET_ENV = re.compile(r"(?i)password|passwd|secret|token|credential|private_key|api_key|sasl")
_ENV_LOCK = threading.Lock()


@contextlib.contextmanager
def _without_secrets() -> Iterator[None]:
    """The process environment without secret-like variables while a child is spawned (a spawned
    child copies the environment at that moment); restored right after."""
    with _ENV_LOCK:
        hidden = {k: v for k, v in os.environ.items() if _SECRET_ENV.search(k)}
        for k in hidden:
            del os.environ[k]
        try:
            yield
        finally:
            os.environ.update(hidden)


def _stop(conn: Connection, proc: Any) -> None:
    with contextlib.suppress(OSError, ValueError):  # the child may be gone already
        conn.send(("close", None, None))
    proc.join(timeout=5)
    if proc.is_alive():
        proc.kill()
        proc.join(timeout=5)
    conn.close()
