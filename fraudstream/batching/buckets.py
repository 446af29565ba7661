"""The scheduler's bookkeeping: length buckets, their head batches, and the plan rows over them.

See :mod:`.scheduler` for how the batching works. Each :class:`Bucket` keeps its queued items in
``(deadline, arrival)`` order and its *head batch*: the longest prefix that fits ``max_batch_size``
and the padded token budget (a lone item over the budget is a batch of its own). The scheduler
updates the head in place when an item is appended (O(1), inlined in ``Scheduler.add``) and calls
:func:`rebuild_head` when the front of a bucket changes. A plan is a list of :data:`Row`, one per
batch-to-be, ordered by earliest deadline; :func:`latest_start` is its backward pass.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from itertools import islice
from typing import Generic, TypeVar

from fraudstream.batching.decisions import Item

T = TypeVar("T")

# A queued item: (deadline, arrival sequence number, item). Tuples sort by deadline, then arrival.
Entry = tuple[float, int, Item[T]]
# A plan row, one batch-to-be: (earliest deadline, its arrival number, estimate, size, padded
# length, ((bucket index, items taken from its front), ...)). Rows sort by deadline, then arrival.
Row = tuple[float, int, float, int, int, tuple[tuple[int, int], ...]]


class Bucket(Generic[T]):
    """The queued items of one length bucket, and its head batch."""

    __slots__ = ("closed", "entries", "head_len", "head_n", "row", "row_epoch")

    def __init__(self) -> None:
        self.entries: deque[Entry[T]] = deque()
        self.head_n = 0
        """Length of the head batch (a prefix of ``entries``)."""
        self.head_len = 0
        """Max tokens in the head batch: its padded length."""
        self.closed = False
        """The entry after the head batch exists and does not fit in it."""
        self.row: Row | None = None
        """The head batch's plan row, cached until the head or the model changes."""
        self.row_epoch = -1


def rebuild_head(bucket: Bucket[T], max_size: int, budget: int) -> None:
    """Recompute ``bucket``'s head batch from its entries (after its front changed)."""
    n, padded, closed = 0, 0, False
    for _, _, item in bucket.entries:
        p = padded if padded >= item.tokens else item.tokens
        if n and (n >= max_size or (n + 1) * p > budget):
            closed = True
            break
        n, padded = n + 1, p
    bucket.head_n, bucket.head_len, bucket.closed, bucket.row = n, padded, closed, None


def head_prefix_lens(bucket: Bucket[T]) -> list[int]:
    """``out[k]``: the padded length of the first ``k`` items of the head batch (``out[0] = 0``)."""
    prefix_len = [0] * (bucket.head_n + 1)
    for k, (_, _, item) in enumerate(islice(bucket.entries, bucket.head_n), start=1):
        prev = prefix_len[k - 1]
        prefix_len[k] = prev if prev >= item.tokens else item.tokens
    return prefix_len


def latest_start(plan: Sequence[Row], margin: float) -> float:
    """Backward pass: the latest start of the first row that keeps every row on time, the rows
    running back to back (``inf`` for an empty plan)."""
    latest = math.inf
    for i in range(len(plan) - 1, -1, -1):
        deadline, _, est = plan[i][:3]
        own = deadline - est - margin
        latest = own if own < latest - est else latest - est
    return latest
