"""The checkpoint: commit what is done, state before offsets, in one of two sequences.

Theory of operation
-------------------
**at_least_once** (every `commit_interval_ms`, `batching/offsets.py`):

1. take the committable offsets: the contiguous prefix of inputs whose outputs are all
   acknowledged;
2. write the changed per-entity state to the changelog and wait for its acknowledgements;
3. commit the offsets to the consumer group.

A crash between any two steps repeats work on restart, never loses it: state is written before
offsets, and replayed records do not fold twice into it (position check). With no offset to
commit, the tombstones that expiry or eviction left are still written (an idle partition would
hold them forever).

**exactly_once** (`stream/transactions.py`), per partition and independently of the others, so
that one slow transaction does not hold the others open past `transaction_timeout_ms`:

1. stop releasing the partition's outputs to its producer;
2. wait until those already released are acknowledged;
3. write the state in the transaction;
4. add the offset to the transaction;
5. commit the transaction (`before_commit`, a hook for fault injection, runs just before);
6. release the outputs held meanwhile, on every way out.

Any failure there (fenced by a new owner, the transaction timed out, the broker gone) stops the
worker without committing: read_committed readers never see the aborted outputs, and the input
is read again from the last committed offset.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from fraudstream.stream.context import WorkerContext
from fraudstream.stream.outbox import Outbox

log = logging.getLogger(__name__)

CommitHook = Callable[[int], Awaitable[None]]
"""Called with the partition just before its transaction commits."""


class Checkpoint:
    def __init__(self, ctx: WorkerContext, outbox: Outbox) -> None:
        self.ctx = ctx
        self.outbox = outbox
        self.before_commit: CommitHook | None = None
        self._running: dict[int, asyncio.Future[None]] = {}

    async def run(self) -> None:
        """The commit loop."""
        interval = self.ctx.settings.commit_interval_ms / 1000.0
        while True:
            await asyncio.sleep(interval)
            await self.commit(wait=False)

    def cancel(self) -> list[asyncio.Future[None]]:
        """Cancel the partition commits still running; returns them to be awaited."""
        running = list(self._running.values())
        for commit in running:
            commit.cancel()
        return running

    async def commit(self, only: set[int] | None = None, *, wait: bool = True) -> None:
        """Commit every partition (or `only` these); `wait=False` (the loop): exactly_once
        partitions commit in the background, each on its own."""
        ctx = self.ctx
        assert ctx.consumer is not None and ctx.store is not None
        if ctx.exactly_once:
            parts = set(ctx.txns) if only is None else only & set(ctx.txns)
            if not wait:
                for p in parts:
                    running = self._running.get(p)
                    if running is None or running.done():
                        self._running[p] = asyncio.ensure_future(self._commit_txn(p))
                return
            for p in sorted(parts):
                running = self._running.get(p)
                if running is not None and not running.done():
                    await asyncio.wait([running])
            await asyncio.gather(*(self._commit_txn(p) for p in sorted(parts)))
            return
        offsets = ctx.tracker.committable()  # step 1
        if only is not None:
            offsets = {tp: o for tp, o in offsets.items() if tp[1] in only}
        if not offsets:
            idle = [
                p for p, st in ctx.states.items() if st.has_dirty() and (only is None or p in only)
            ]
            if idle:
                await ctx.store.flush(ctx.states, idle)
            return
        await ctx.store.flush(ctx.states, {tp[1] for tp in offsets})  # step 2
        try:
            await ctx.consumer.commit(
                {TopicPartition(*tp): off for tp, off in offsets.items()}
            )  # step 3
        except (CommitFailedError, KafkaError) as exc:
            # A rebalance took the partition away: its new owner replays from the last commit.
            log.warning("commit failed (%s); the records will be read again", exc)
            return
        ctx.tracker.committed(offsets)

    async def _commit_txn(self, partition: int) -> None:
        ctx = self.ctx
        assert ctx.store is not None
        txn = ctx.txns.get(partition)
        if txn is None or txn.committing or ctx.fatal is not None:
            return
        tp = (ctx.settings.topics.input, partition)
        txn.committing = True  # step 1
        try:
            deadline = time.monotonic() + ctx.settings.kafka.request_timeout_ms / 1000.0
            if not await ctx.until(lambda: txn.unacked <= 0, deadline):  # step 2
                if ctx.fatal is not None:
                    return
                raise TimeoutError(
                    f"outputs of partition {partition} not acknowledged within "
                    "kafka.request_timeout_ms"
                )
            offsets = {k: v for k, v in ctx.tracker.committable().items() if k == tp}
            if not txn.open and not offsets:
                return
            await txn.ensure_open()
            await ctx.store.flush(ctx.states, [partition], producer=txn.producer)  # step 3
            if offsets:
                await txn.producer.send_offsets_to_transaction(  # step 4
                    {TopicPartition(*tp): offsets[tp]}, ctx.settings.group_id
                )
            if self.before_commit is not None:
                await self.before_commit(partition)
            await txn.producer.commit_transaction()  # step 5
            txn.open = False
            if offsets:
                ctx.tracker.committed(offsets)
        except Exception as exc:
            log.error(
                "exactly_once: committing partition %d failed (%s: %s); stopping",
                partition,
                type(exc).__name__,
                exc,
            )
            ctx.fail(exc)
            return
        finally:
            txn.committing = False
            if ctx.fatal is None:
                # step 6: outputs held meanwhile must not wait for the next commit
                released = txn.release()
                if released:
                    self.outbox.push(released)
