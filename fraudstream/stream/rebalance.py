"""Partitions coming and going: restore a partition's state before reading it, finish and commit
a partition's work before letting it go.

Assigned: exactly_once first starts the partition's transactional producer (which fences its
previous owner and aborts that owner's open transaction, which a read_committed restore would
wait behind), then the state and the alerted ids are restored from the changelog. Revoked: the
records in flight of those partitions finish (bounded by `shutdown_timeout_s`), are committed,
and everything the worker held for them is dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiokafka import ConsumerRebalanceListener, TopicPartition

from fraudstream.dedupe import AlertDedupe, decode_marker
from fraudstream.pipeline import Admission
from fraudstream.stream.checkpoint import Checkpoint
from fraudstream.stream.context import WorkerContext
from fraudstream.stream.shadow import ShadowSlots
from fraudstream.stream.transactions import PartitionTxn

log = logging.getLogger(__name__)


class Rebalance(ConsumerRebalanceListener):
    def __init__(
        self,
        ctx: WorkerContext,
        checkpoint: Checkpoint,
        admission: Admission,
        shadow: ShadowSlots | None = None,
        on_readable: Callable[[], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.checkpoint = checkpoint
        self.admission = admission
        self.shadow = shadow
        self.on_readable = on_readable
        """Called once assigned partitions can be read (idleness counts from then)."""

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        if revoked:
            await self.revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self.assigned({tp.partition for tp in assigned})

    async def assigned(self, partitions: set[int]) -> None:
        ctx = self.ctx
        assert ctx.store is not None
        if ctx.fatal is not None:
            # A stopping worker (e.g. a fenced zombie that rejoined) must not start producers:
            # that would fence the partitions' healthy new owners in turn.
            return
        for p in sorted(partitions - ctx.assigned):
            if ctx.exactly_once:
                txn = PartitionTxn(
                    ctx.settings, p, client_id=f"{ctx.settings.kafka.client_id}-{ctx.worker_id}"
                )
                try:
                    await txn.start()
                except Exception as exc:
                    log.error(
                        "exactly_once: cannot start the transactional producer %r (%s: %s); "
                        "fix: transaction_timeout_ms must not exceed the broker's "
                        "transaction.max.timeout.ms, and the principal needs the Write and "
                        "Describe ACLs on transactional ids starting with %r",
                        txn.transactional_id,
                        type(exc).__name__,
                        exc,
                        f"{ctx.settings.group_id}.",
                    )
                    ctx.fail(exc)
                    await txn.stop()
                    return
                ctx.txns[p] = txn
            began = time.monotonic()
            ctx.states[p] = await ctx.store.restore(p)
            ctx.counters.restore_seconds += time.monotonic() - began
            ctx.dedupe[p] = self._restore_dedupe(p)
            ctx.assigned.add(p)
        if self.on_readable is not None:
            self.on_readable()
        ctx.ready.set()
        log.info("assigned partitions %s", sorted(ctx.assigned))

    async def revoked(self, partitions: set[int]) -> None:
        """Finish the work of the partitions we lose, commit it, then forget them."""
        ctx = self.ctx
        topic = ctx.settings.topics.input
        await ctx.until(
            lambda: not any(ctx.tracker.in_flight((topic, p)) for p in partitions),
            time.monotonic() + ctx.settings.shutdown_timeout_s,
        )
        await self.checkpoint.commit(only=partitions)
        for p in partitions:
            ctx.tracker.revoke([(topic, p)])
            self.admission.revoke((topic, p))
            if self.shadow is not None:
                self.shadow.revoke((topic, p))
            ctx.states.pop(p, None)
            if ctx.store is not None:
                ctx.store.release(p)
            ctx.dedupe.pop(p, None)
            ctx.assigned.discard(p)
            txn = ctx.txns.pop(p, None)
            if txn is not None:
                await txn.stop()
        log.info("revoked partitions %s", sorted(partitions))

    def _restore_dedupe(self, partition: int) -> AlertDedupe:
        ctx = self.ctx
        assert ctx.store is not None
        dedupe = AlertDedupe(ctx.settings.alert_dedup_window_s, ctx.settings.duplicate_window)
        now = time.time()
        for transaction_id, raw in ctx.store.alerted.pop(partition, []):
            at = decode_marker(raw)
            if at is not None:
                dedupe.load(transaction_id, at, now)
        return dedupe
