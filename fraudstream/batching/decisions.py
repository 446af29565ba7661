"""What the micro-batching scheduler takes and returns: an :class:`Item` in; a :class:`Dispatch`,
:class:`Wait` or :class:`Idle` decision out; the :class:`CostModel` it asks; the
:class:`SchedulerStats` it keeps. See :mod:`.scheduler` for how the batching works.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Generic, Literal, Protocol, TypeVar

T = TypeVar("T")

DispatchReason = Literal["size", "tokens", "deadline", "late", "flush", "idle"]


class CostModel(Protocol):
    """What the scheduler needs of a latency model (``LatencyModel`` is one)."""

    def estimate(self, size: int, padded_len: int) -> float: ...

    def observe(self, size: int, padded_len: int, seconds: float) -> None: ...


@dataclass(frozen=True, slots=True)
class Item(Generic[T]):
    """One unit of work. ``deadline`` = time read + latency budget, on the caller's clock."""

    payload: T
    deadline: float
    tokens: int


@dataclass(frozen=True, slots=True)
class Dispatch(Generic[T]):
    """Run ``batch`` now, padded to ``padded_len`` tokens."""

    batch: list[Item[T]]
    padded_len: int
    reason: DispatchReason
    start: float
    """When the batch is planned to start: ``max(now, free_at)``."""
    estimate: float
    """The model's conservative run time; ``start + estimate`` is the next ``free_at``."""


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing to run yet: poll again at ``until`` (or sooner, when an item arrives)."""

    until: float


@dataclass(frozen=True, slots=True)
class Idle:
    """Nothing is queued."""


IDLE = Idle()


@dataclass(slots=True)
class SchedulerStats:
    """Counters since construction."""

    batches: int = 0
    items: int = 0
    late: int = 0
    """Items dispatched although predicted to finish after their deadline."""
    reasons: Counter[str] = field(default_factory=Counter)
    real_tokens: int = 0
    padded_tokens: int = 0
    fill_sum: float = 0.0
    """Sum over batches of how full each was against its binding limit (size or tokens)."""

    @property
    def fill_ratio(self) -> float:
        """Mean fill of a batch against its binding limit, in [0, 1]."""
        return self.fill_sum / self.batches if self.batches else 0.0

    @property
    def padding_efficiency(self) -> float:
        """Real tokens / padded tokens: 1.0 means no compute spent on padding."""
        return self.real_tokens / self.padded_tokens if self.padded_tokens else 1.0

    @property
    def mean_batch_size(self) -> float:
        return self.items / self.batches if self.batches else 0.0
