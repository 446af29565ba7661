"""The micro-batching scheduler: decides *what* to run and *when*; a loop elsewhere waits.

Theory of operation
-------------------
Items (one narrative each, with a deadline and a token count) are queued in length buckets
(``bucket_edges``: bucket ``i`` holds ``edges[i-1] < tokens <= edges[i]``; the last one holds
everything longer). Within a bucket items are kept in ``(deadline, arrival)`` order, which is plain
arrival (FIFO) order whenever deadlines grow with arrival, as they do when every item gets the same
latency budget. Each bucket's *head batch* is its longest prefix that fits ``max_batch_size`` and
the padded token budget ``size · max(tokens) <= token_budget`` (a lone item over the budget is a
batch of its own). It is maintained incrementally, so :meth:`Scheduler.add` is O(1).

``poll(now, free_at)`` plans with the engine free at ``start = max(now, free_at)``. The plan has
one row per batch-to-be: each non-empty bucket's head batch, except that neighbouring buckets whose
whole contents fit in one batch are merged into one row when the latency model says one call for
all costs no more than one call each (the padding is paid for by the calls saved). Rows are ordered
by their earliest deadline (EDF) and a backward pass, as if they ran back to back, gives each its
latest safe start

    T[last] = d[last] - est[last] - margin
    T[i]    = min(d[i] - est[i] - margin, T[i+1] - est[i])

where ``est`` is the model's conservative estimate of that row's shape. Then:

1. ``start >= T[0]``: the most urgent row is due. It is dispatched whole if it still meets its own
   deadline; else the bucket holding that deadline goes alone, cut to its longest prefix that
   meets it ("deadline"; a batch can outgrow its deadline when items join between two polls). If
   not even one item can make it, the whole row goes at once ("late"): late items are scored and
   counted, never dropped, and a full batch is what helps an overloaded engine catch up.
2. Else a row that is *full* (size, or tokens: nothing more could ever join it) is dispatched now
   if it is the most urgent one, or if running it first still lets the rest start by ``T[0]``
   (``start + est <= T[0]``; taking a row out of the chain only loosens it).
3. Else ``Wait(until=T[0])``, and ``T[0] > now``: until then, waiting only grows the batches.

The plan sees each bucket's head batch only: items beyond it (a bucket with more than a full
batch) are not in the chain. That happens only when arrivals outrun the engine, and then full
batches are dispatched back to back anyway.

Invariants, each with a test:

- Nothing is lost or duplicated: every added item leaves in exactly one :class:`Dispatch`.
- Every batch respects ``max_batch_size`` and the padded token budget (a lone over-budget item
  excepted).
- Items of one bucket leave in their bucket order (FIFO for non-decreasing deadlines).
- A dispatch whose reason is not ``"late"`` is predicted, by the model, to finish every item by its
  deadline: ``start + estimate + margin <= deadline``. ``stats.late`` counts the items for which
  that prediction fails; they are dispatched at once, never dropped.
- ``Wait.until > now``.

The scheduler holds no clock and never sleeps; it never drops: the caller reads ``len()`` and
:attr:`Scheduler.tokens_queued` to pause its input (backpressure).

Layout: :mod:`.decisions` holds what goes in and out (``Item``; ``Dispatch``, ``Wait``, ``Idle``;
``CostModel``, ``SchedulerStats``; all re-exported here), :mod:`.buckets` the buckets' bookkeeping
(head batches, plan rows) and the backward pass.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from itertools import pairwise
from typing import Generic, TypeVar

from fraudstream.batching.buckets import Bucket, Row, head_prefix_lens, latest_start, rebuild_head
from fraudstream.batching.decisions import (
    IDLE,
    CostModel,
    Dispatch,
    DispatchReason,
    Idle,
    Item,
    SchedulerStats,
    Wait,
)

__all__ = [
    "IDLE",
    "CostModel",
    "Dispatch",
    "DispatchReason",
    "Idle",
    "Item",
    "Scheduler",
    "SchedulerStats",
    "Wait",
]

T = TypeVar("T")

# Float slack for "meets its deadline" comparisons: T[0] + est + margin can differ from the deadline
# by a rounding error when the caller wakes exactly at Wait.until.
_EPS = 1e-9


class Scheduler(Generic[T]):
    """Deadline-aware micro-batcher; see the module docstring."""

    def __init__(
        self,
        *,
        max_batch_size: int,
        token_budget: int,
        bucket_edges: Sequence[int],
        model: CostModel,
        margin: float = 0.0,
        idle_lead: float | None = 0.002,
    ) -> None:
        edges = list(bucket_edges)
        if max_batch_size < 1 or token_budget < 1:
            raise ValueError("max_batch_size and token_budget must be >= 1")
        if any(e < 1 for e in edges) or any(a >= b for a, b in pairwise(edges)):
            raise ValueError(f"bucket_edges must be positive and strictly increasing: {edges}")
        if not (math.isfinite(margin) and margin >= 0.0):
            raise ValueError(f"margin must be finite and >= 0, got {margin!r}")
        self._max_size = max_batch_size
        self._budget = token_budget
        self._edges = edges
        self._model = model
        self._margin = margin
        # Work-conserving: when the engine is (about to be) idle, run the most urgent batch now
        # instead of waiting for its latest safe start. At low load this keeps latency near the
        # service time; at high load the engine is never idle and batches grow by themselves.
        # None turns it off (pure deadline-driven batching).
        self._idle_lead = idle_lead
        self._buckets: list[Bucket[T]] = [Bucket() for _ in range(len(edges) + 1)]
        self._seq = 0
        self._count = 0
        self._tokens = 0
        self._epoch = 0
        self.stats = SchedulerStats()

    # -- queue -----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._count

    @property
    def tokens_queued(self) -> int:
        """Sum of ``tokens`` over queued items (unpadded)."""
        return self._tokens

    @property
    def model(self) -> CostModel:
        return self._model

    def add(self, item: Item[T]) -> None:
        """Queue ``item``. O(1) unless its deadline is earlier than its bucket's last one."""
        tokens = item.tokens
        if not tokens >= 1:
            raise ValueError(f"item tokens must be >= 1, got {tokens!r}")
        deadline = item.deadline
        if not math.isfinite(deadline):
            raise ValueError(f"item deadline must be finite, got {deadline!r}")
        bucket = self._buckets[bisect_left(self._edges, tokens)]
        entry = (deadline, self._seq, item)
        self._seq += 1
        self._count += 1
        self._tokens += tokens
        entries = bucket.entries
        if not entries or entries[-1][0] <= deadline:
            entries.append(entry)
            if bucket.closed:
                return
            n = bucket.head_n
            if n == 0:
                bucket.head_n, bucket.head_len, bucket.row = 1, tokens, None
                return
            padded = bucket.head_len if bucket.head_len >= tokens else tokens
            if n < self._max_size and (n + 1) * padded <= self._budget:
                bucket.head_n, bucket.head_len, bucket.row = n + 1, padded, None
            else:
                bucket.closed = True
        else:
            # An earlier deadline than the tail's (a shorter budget for this item): keep EDF order.
            i = len(entries) - 1
            while i > 0 and entries[i - 1][0] > deadline:
                i -= 1
            entries.insert(i, entry)
            rebuild_head(bucket, self._max_size, self._budget)

    # -- decisions -------------------------------------------------------------------------------

    def poll(
        self, now: float, free_at: float | None = None, *, flush: bool = False
    ) -> Dispatch[T] | Wait | Idle:
        """Decide what to do at ``now`` with the engine free at ``free_at`` (None: free now).

        ``flush=True`` dispatches the most urgent batch without waiting (shutdown, rebalance).
        """
        if not self._count:
            return IDLE
        start = now if free_at is None or free_at <= now else free_at
        plan, split = self._plan()
        margin = self._margin
        t0 = latest_start(plan, margin)
        if split is not None:
            # Merges depend on what is queued; one that an arrival undoes must not leave the split
            # batches too late, so wait no longer than the plan without merges would.
            t0 = min(t0, latest_start(split, margin))
        lead = self._idle_lead
        idle = lead is not None and (free_at is None or free_at <= now + lead)
        if flush or idle or start >= t0:
            return self._dispatch_urgent(plan, split, start, flush=flush, idle=idle)
        for i, row in enumerate(plan):
            reason = self._full_reason(row)
            if reason is not None and (i == 0 or start + row[2] <= t0):
                return self._dispatch(row[5], row[4], start, reason)
        if lead is not None and free_at is not None and free_at - lead < t0:
            return Wait(until=free_at - lead)  # the engine goes idle first: prepare a batch then
        return Wait(until=t0)

    def _plan(self) -> tuple[list[Row], list[Row] | None]:
        """One row per batch-to-be, most urgent first; and, if any rows merge buckets, the rows
        without merges (one per bucket).

        A row is a bucket's head batch, or several neighbouring buckets' whole contents merged when
        the model says one call for all costs no more than one call each (the padding is paid for
        by the calls saved).
        """
        estimate = self._model.estimate
        max_size, budget, epoch = self._max_size, self._budget, self._epoch
        plan: list[Row] = []
        split: list[Row] = []
        merged = False
        group: Row | None = None
        group_whole = False
        for index, bucket in enumerate(self._buckets):
            entries = bucket.entries
            if not entries:
                continue
            row = bucket.row
            if row is None or bucket.row_epoch != epoch:
                deadline, seq, _ = entries[0]
                n, padded = bucket.head_n, bucket.head_len
                row = bucket.row = (deadline, seq, estimate(n, padded), n, padded, ((index, n),))
                bucket.row_epoch = epoch
            deadline, seq, est, n, padded, _ = row
            whole = n == len(entries)
            split.append(row)
            if group is not None:
                if group_whole and whole:
                    gd, gseq, gest, gn, gpadded, gbuckets = group
                    mn = gn + n
                    mpadded = gpadded if gpadded >= padded else padded
                    if mn <= max_size and mn * mpadded <= budget:
                        mest = estimate(mn, mpadded)
                        if mest <= gest + est:
                            first = (gd, gseq) if (gd, gseq) < (deadline, seq) else (deadline, seq)
                            group = (*first, mest, mn, mpadded, (*gbuckets, (index, n)))
                            merged = True
                            continue
                plan.append(group)
            group = row
            group_whole = whole
        assert group is not None
        plan.append(group)
        if len(plan) > 1:
            plan.sort()
        if not merged:
            return plan, None
        split.sort()
        return plan, split

    def _full_reason(self, row: Row) -> DispatchReason | None:
        """Why nothing could join this batch any more, or None if something could."""
        n, padded, parts = row[3], row[4], row[5]
        if n >= self._max_size:
            return "size"
        if (n + 1) * padded > self._budget or (
            len(parts) == 1 and self._buckets[parts[0][0]].closed
        ):
            return "tokens"
        return None

    def _dispatch_urgent(
        self,
        plan: list[Row],
        split: list[Row] | None,
        start: float,
        *,
        flush: bool,
        idle: bool = False,
    ) -> Dispatch[T]:
        row = plan[0]
        deadline, seq, est, _, padded, parts = row
        margin = self._margin
        reason: DispatchReason = (
            "flush" if flush else (self._full_reason(row) or ("idle" if idle else "deadline"))
        )
        taken = {index for index, _ in parts}
        rest_start = latest_start(plan[1:], margin)
        if split is not None:
            rest_start = min(
                rest_start, latest_start([r for r in split if r[5][0][0] not in taken], margin)
            )
        if start + est + margin <= deadline + _EPS and start + est <= rest_start + _EPS:
            return self._dispatch(parts, padded, start, reason)
        # Items joined between two polls and the row outgrew its deadline, or the deadlines behind
        # it. Take the bucket holding the earliest deadline alone, cut to its longest prefix that
        # keeps every deadline of the plan, counting the items cut off as a batch of their own;
        # failing that, its longest prefix that keeps its own deadline.
        index = next(i for i, _ in parts if self._buckets[i].entries[0][1] == seq)
        bucket = self._buckets[index]
        others = [r for r in (split if split is not None else plan) if r[5][0][0] != index]
        head_n, head_len = bucket.head_n, bucket.head_len
        prefix_len = head_prefix_lens(bucket)  # prefix_len[k]: padded length of the first k items
        estimate = self._model.estimate
        # Adding the cut-off items to the rest only makes it tighter: if even one item run now
        # leaves the rest late, no prefix keeps every deadline; skip straight to its own.
        chain_possible = start + estimate(1, prefix_len[1]) <= latest_start(others, margin) + _EPS
        k_own = 0
        for k in range(head_n, 0, -1):
            est_k = estimate(k, prefix_len[k])
            if start + est_k + margin > deadline + _EPS:
                continue
            k_own = k_own or k
            if not chain_possible:
                break
            rest = others
            if k < head_n:
                cut_deadline, cut_seq, _ = bucket.entries[k]
                cut: Row = (cut_deadline, cut_seq, estimate(head_n - k, head_len), 0, 0, ())
                rest = sorted([*others, cut])
            if start + est_k <= latest_start(rest, margin) + _EPS:
                k_own = k
                break
        if k_own:
            reason = "flush" if flush else "deadline"
            return self._dispatch(((index, k_own),), prefix_len[k_own], start, reason)
        # Even its first item is late: send the whole row at once (reason set to "late" below).
        return self._dispatch(parts, padded, start, reason)

    def _dispatch(
        self,
        parts: tuple[tuple[int, int], ...],
        padded: int,
        start: float,
        reason: DispatchReason,
    ) -> Dispatch[T]:
        """Take ``count`` items from the front of each ``(bucket, count)`` part, in bucket order."""
        batch: list[Item[T]] = []
        for index, count in parts:
            bucket = self._buckets[index]
            popleft = bucket.entries.popleft
            batch.extend([popleft()[2] for _ in range(count)])
            rebuild_head(bucket, self._max_size, self._budget)
        size = len(batch)
        est = self._model.estimate(size, padded)
        finish = start + est + self._margin
        late = 0
        real = 0
        for item in batch:
            real += item.tokens
            if item.deadline + _EPS < finish:
                late += 1
        if late:
            reason = "late"
        stats = self.stats
        stats.batches += 1
        stats.items += size
        stats.late += late
        stats.reasons[reason] += 1
        stats.real_tokens += real
        stats.padded_tokens += size * padded
        stats.fill_sum += min(1.0, max(size / self._max_size, size * padded / self._budget))
        self._count -= size
        self._tokens -= real
        return Dispatch(batch=batch, padded_len=padded, reason=reason, start=start, estimate=est)

    # -- feedback --------------------------------------------------------------------------------

    def complete(self, dispatch: Dispatch[T], seconds: float) -> None:
        """Feed the observed run time of a dispatched batch back into the latency model.

        Each bucket's head-batch estimate is cached until the head or the model changes, so
        observations must come through here (or be followed by :meth:`model_changed`).
        """
        self._model.observe(len(dispatch.batch), dispatch.padded_len, seconds)
        self._epoch += 1

    def model_changed(self) -> None:
        """Forget cached estimates (the model learnt something outside :meth:`complete`)."""
        self._epoch += 1
