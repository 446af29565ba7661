"""The inference runner: model work off the event loop, one batch prepared while another runs.

Theory of operation
-------------------
Two single-thread executors: `prepare` (tokenise, pad, build tensors: CPU work that holds the GIL
only briefly) and `infer` (the forward pass; torch releases the GIL inside its kernels). A batch
takes a *slot* before it is prepared and gives it back when its inference ends; there are two
slots, so at any time at most one batch runs and exactly one more can be prepared and waiting.
The dispatcher asks for a slot *before* it asks the scheduler for a batch, so while the engine is
busy the scheduler keeps collecting items and the next batch is as large as the deadlines allow.

The prepare thread hands its batch to the inference thread itself: the event loop, busy with a
fetched chunk for up to ~15 ms under load, is not between the two (it only learns when the
inference has ended).

`busy_until()` tells the scheduler when the engine will be free, from the running batch's start
and the latency model's estimate of its cost, so it can dispatch early enough.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

B = TypeVar("B")  # a batch as the dispatcher hands it over
P = TypeVar("P")  # a prepared batch
R = TypeVar("R")  # an inference result


@dataclass(frozen=True, slots=True)
class RunTimes:
    prepare_s: float
    wait_s: float
    """Prepared and waiting for the engine."""
    infer_s: float


class _Pending:
    __slots__ = ("estimate", "started")

    def __init__(self, estimate: float) -> None:
        self.estimate = estimate
        self.started: float | None = None  # set by the inference thread (one attribute store)


class InferenceRunner(Generic[B, P, R]):
    def __init__(
        self,
        prepare: Callable[[B], P],
        infer: Callable[[P], R],
        *,
        slots: int = 2,
        name: str = "fraudstream",
    ) -> None:
        self._prepare = prepare
        self._infer = infer
        self._slots = asyncio.Semaphore(slots)
        self._prepare_pool = ThreadPoolExecutor(1, thread_name_prefix=f"{name}-prepare")
        self._infer_pool = ThreadPoolExecutor(1, thread_name_prefix=f"{name}-infer")
        self._pending: list[_Pending] = []
        self.batches = 0

    async def acquire_slot(self) -> None:
        await self._slots.acquire()

    def release_slot(self) -> None:
        self._slots.release()

    def busy_until(self, now: float) -> float:
        """When the engine is expected to be free for a batch prepared now (monotonic time)."""
        t = now
        for p in list(self._pending):
            if p.started is not None:
                t = max(t, p.started + p.estimate)
            else:
                t += p.estimate
        return t

    async def run(self, batch: B, estimate_s: float = 0.0) -> tuple[R, RunTimes]:
        """Prepare and infer one batch; the caller must hold a slot (released here)."""
        pending = _Pending(estimate_s)
        self._pending.append(pending)  # the engine runs it next: busy_until counts it from now
        try:
            handed = self._prepare_pool.submit(self._prepare_and_hand_over, batch, pending)
            inference, t0, t1 = await asyncio.wrap_future(handed)
            result, started, ended = await asyncio.wrap_future(inference)
            self.batches += 1
            return result, RunTimes(t1 - t0, started - t1, ended - started)
        finally:
            if pending in self._pending:
                self._pending.remove(pending)
            self._slots.release()

    def _prepare_and_hand_over(
        self, batch: B, pending: _Pending
    ) -> tuple[Future[tuple[R, float, float]], float, float]:
        """Prepare thread: prepare, then queue the inference at once."""
        t0 = time.perf_counter()
        prepared = self._prepare(batch)
        t1 = time.perf_counter()
        return self._infer_pool.submit(self._timed_infer, prepared, pending), t0, t1

    def _timed_infer(self, prepared: P, pending: _Pending) -> tuple[R, float, float]:
        started = time.perf_counter()
        pending.started = time.monotonic()
        result = self._infer(prepared)
        return result, started, time.perf_counter()

    def close(self) -> None:
        self._prepare_pool.shutdown(wait=True)
        self._infer_pool.shutdown(wait=True)
