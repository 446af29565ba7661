"""The offset tracker: which input offsets may be committed without losing anything.

Theory of operation
-------------------
An input offset may be committed only when every record it produced (risk score, alert, dead
letter) has been acknowledged by the broker, and only as part of the contiguous prefix of such
offsets in its partition: committing offset N tells Kafka that everything before N is done. The
Kafka shell follows this commit sequence; this class is the bookkeeping of steps 1 to 4 and makes
it impossible to name an offset in step 5 whose outputs are not all acknowledged.

1. **Read.** A record is read from partition ``tp`` at ``offset``: :meth:`OffsetTracker.read`
   registers it and returns a :class:`Ticket` that travels with the record through the pipeline.
   Offsets of a partition arrive in increasing order; gaps are allowed (transaction markers,
   compacted topics).
2. **Produced.** Before its outputs are sent, the shell says how many there are:
   :meth:`OffsetTracker.produced` with ``outputs >= 1`` (every input yields at least a score or a
   dead letter).
3. **Acknowledged.** Each output's delivery callback calls :meth:`OffsetTracker.acked`. An input
   is *done* when all its outputs are acknowledged. A failed delivery is never acked, so its input
   never becomes done and the partition's commits stop there (the shell retries or restarts; work
   is repeated, never lost).
4. **Committable.** Per partition, the done offsets form a contiguous prefix of the offsets read;
   the committable position is the last offset of that prefix plus one (Kafka semantics: the next
   offset to read). A gap after the prefix does not block it: Kafka skips markers by itself.
   :meth:`OffsetTracker.committable` returns the positions that moved past the last commit.
5. **Commit.** The shell flushes the producer, waits for the acknowledgements, commits the
   positions from step 4 to the consumer group, then calls :meth:`OffsetTracker.committed`.

Rebalance: :meth:`OffsetTracker.revoke` forgets a partition. Every partition gets a new
*generation* each time it is (re)registered, and a ticket carries the generation it was issued
in, so a delivery callback that fires after a rebalance, even one that gave the partition back to
this worker, cannot count towards the outputs of a record read again in the new generation; such
stale calls are ignored and reported (``False``).

Invariants, each with a test:

- :meth:`committable` never returns a position past an offset with an unacknowledged or unknown
  output count; it equals (last offset of the done prefix) + 1.
- Positions only grow; :meth:`committed` refuses a position that was never committable.
- Every operation is O(1) amortised (each offset is appended and popped once), except
  :meth:`committable`, :meth:`revoke` and :meth:`committed`, which are O(partitions touched).
- Misuse within a generation (out-of-order reads, a second ``produced``, more acks than outputs,
  an ack before ``produced``) raises ``ValueError``: it would silently break "nothing is lost".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from itertools import count
from typing import NamedTuple

__all__ = ["TP", "OffsetTracker", "Ticket"]

TP = tuple[str, int]
"""(topic, partition)."""

_UNKNOWN = -1  # outputs not yet declared by produced()


class Ticket(NamedTuple):
    """Identifies one read record in one generation of its partition's assignment."""

    tp: TP
    offset: int
    generation: int


class _Partition:
    __slots__ = ("committed", "generation", "last_read", "pending", "position", "remaining")

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.pending: deque[int] = deque()
        """Offsets read and not yet part of the done prefix, in read order."""
        self.remaining: dict[int, int] = {}
        """For each pending offset: outputs not yet acknowledged, or _UNKNOWN."""
        self.last_read = -1
        self.position: int | None = None
        """Done prefix's last offset + 1 (None until something is done)."""
        self.committed: int | None = None


class OffsetTracker:
    """Per-partition bookkeeping of the commit sequence; see the module docstring."""

    __slots__ = ("_generations", "_in_flight", "_parts")

    def __init__(self) -> None:
        self._parts: dict[TP, _Partition] = {}
        self._generations = count(1)
        self._in_flight = 0

    # -- steps 1-3 -------------------------------------------------------------------------------

    def read(self, tp: TP, offset: int) -> Ticket:
        """Step 1: register a record read at ``offset`` (increasing per partition, gaps allowed)."""
        part = self._parts.get(tp)
        if part is None:
            part = self._parts[tp] = _Partition(next(self._generations))
        if offset <= part.last_read or offset < 0:
            raise ValueError(
                f"{tp}: offset {offset} read after {part.last_read}; offsets must increase "
                "(revoke the partition before seeking back)"
            )
        part.last_read = offset
        part.pending.append(offset)
        part.remaining[offset] = _UNKNOWN
        self._in_flight += 1
        return Ticket(tp, offset, part.generation)

    def produced(self, ticket: Ticket, outputs: int) -> bool:
        """Step 2: the record produced ``outputs`` records (>= 1) that will each be acked.

        Returns False (and does nothing) for a ticket of a revoked or reassigned partition.
        """
        if outputs < 1:
            raise ValueError(f"{ticket}: an input produces at least one output, got {outputs}")
        part = self._live(ticket)
        if part is None:
            return False
        remaining = part.remaining.get(ticket.offset)
        if remaining != _UNKNOWN:
            raise ValueError(f"{ticket}: produced() called twice")
        part.remaining[ticket.offset] = outputs
        return True

    def acked(self, ticket: Ticket) -> bool:
        """Step 3: one output of the ticket's record is acknowledged by the broker.

        Returns False (and does nothing) for a ticket of a revoked or reassigned partition.
        """
        part = self._live(ticket)
        if part is None:
            return False
        offset = ticket.offset
        remaining = part.remaining.get(offset)
        if remaining is None or remaining == 0:
            raise ValueError(f"{ticket}: more acks than outputs")
        if remaining == _UNKNOWN:
            raise ValueError(f"{ticket}: acked before produced()")
        remaining -= 1
        part.remaining[offset] = remaining
        if remaining == 0 and part.pending[0] == offset:
            self._advance(part)
        return True

    def _live(self, ticket: Ticket) -> _Partition | None:
        part = self._parts.get(ticket.tp)
        if part is None or part.generation != ticket.generation:
            return None
        return part

    def _advance(self, part: _Partition) -> None:
        pending, remaining = part.pending, part.remaining
        done = 0
        while pending and remaining[pending[0]] == 0:
            offset = pending.popleft()
            # Keep a done offset's entry (0) until it leaves the prefix, so that a duplicate ack is
            # told apart from a first one; it is deleted here, once.
            del remaining[offset]
            part.position = offset + 1
            done += 1
        self._in_flight -= done

    # -- steps 4-5 -------------------------------------------------------------------------------

    def committable(self) -> dict[TP, int]:
        """Step 4: per partition, the position to commit, where it moved past the last commit."""
        out: dict[TP, int] = {}
        for tp, part in self._parts.items():
            position = part.position
            if position is not None and (part.committed is None or position > part.committed):
                out[tp] = position
        return out

    def committed(self, offsets: Mapping[TP, int]) -> None:
        """Step 5 done: these positions are committed. Partitions revoked meanwhile are skipped."""
        for tp, position in offsets.items():
            part = self._parts.get(tp)
            if part is None:
                continue
            if part.position is None or position > part.position:
                raise ValueError(
                    f"{tp}: committed position {position} was never committable "
                    f"(done prefix ends before {part.position})"
                )
            if part.committed is None or position > part.committed:
                part.committed = position

    # -- rebalance and introspection -------------------------------------------------------------

    def revoke(self, tps: Iterable[TP]) -> None:
        """Forget these partitions; their outstanding tickets go stale."""
        for tp in tps:
            part = self._parts.pop(tp, None)
            if part is not None:
                self._in_flight -= len(part.pending)

    def in_flight(self, tp: TP | None = None) -> int:
        """Records read and not yet in a done prefix, in ``tp`` or in all partitions."""
        if tp is None:
            return self._in_flight
        part = self._parts.get(tp)
        return len(part.pending) if part is not None else 0

    def partitions(self) -> list[TP]:
        """The partitions being tracked."""
        return list(self._parts)

    def position(self, tp: TP) -> int | None:
        """The committable position of ``tp`` (whether committed or not), or None."""
        part = self._parts.get(tp)
        return part.position if part is not None else None
