"""The offset tracker: a committed offset never has an output still waiting for its ack."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudstream.batching import TP, OffsetTracker, Ticket

A: TP = ("transactions", 0)
B: TP = ("transactions", 1)


def read_produce(tracker: OffsetTracker, tp: TP, offset: int, outputs: int = 1) -> Ticket:
    ticket = tracker.read(tp, offset)
    assert tracker.produced(ticket, outputs)
    return ticket


def test_nothing_is_committable_until_acked() -> None:
    t = OffsetTracker()
    ticket = read_produce(t, A, 0, outputs=2)
    assert t.committable() == {}
    assert t.acked(ticket)
    assert t.committable() == {}  # one of two outputs acknowledged
    assert t.acked(ticket)
    assert t.committable() == {A: 1}  # Kafka semantics: the next offset to read


def test_only_the_contiguous_prefix_is_committable() -> None:
    t = OffsetTracker()
    tickets = [read_produce(t, A, o) for o in range(5)]
    t.acked(tickets[1])
    t.acked(tickets[2])
    assert t.committable() == {}  # offset 0 still waits
    t.acked(tickets[0])
    assert t.committable() == {A: 3}
    assert t.in_flight(A) == 2


def test_gaps_do_not_block_the_prefix() -> None:
    # Transaction markers and compaction leave holes in the offsets a consumer sees.
    t = OffsetTracker()
    first = read_produce(t, A, 10)
    second = read_produce(t, A, 15)
    t.acked(first)
    assert t.committable() == {A: 11}  # Kafka skips the markers by itself
    t.acked(second)
    assert t.committable() == {A: 16}


def test_committed_positions_are_not_offered_again() -> None:
    t = OffsetTracker()
    t.acked(read_produce(t, A, 0))
    t.acked(read_produce(t, B, 7))
    assert t.committable() == {A: 1, B: 8}
    t.committed({A: 1})
    assert t.committable() == {B: 8}
    t.acked(read_produce(t, A, 1))
    assert t.committable() == {A: 2, B: 8}
    t.committed({A: 1})  # a stale snapshot does not move the commit back
    assert t.committable() == {A: 2, B: 8}


def test_committing_what_was_never_committable_is_refused() -> None:
    t = OffsetTracker()
    read_produce(t, A, 0)
    with pytest.raises(ValueError):
        t.committed({A: 1})


def test_revoke_drops_the_partition_and_late_acks_are_ignored() -> None:
    t = OffsetTracker()
    old = read_produce(t, A, 0)
    keep = read_produce(t, B, 0)
    t.revoke([A])
    assert t.partitions() == [B] and t.in_flight() == 1
    assert t.acked(old) is False  # a delivery callback after the rebalance
    assert t.produced(Ticket(A, 3, old.generation), 1) is False
    t.committed({A: 5})  # a commit racing the revoke: nothing to record
    assert t.acked(keep)
    assert t.committable() == {B: 1}


def test_a_late_ack_cannot_count_for_the_same_offset_read_again() -> None:
    """Partition revoked, then assigned back: the old generation's acks are not the new ones."""
    t = OffsetTracker()
    old = read_produce(t, A, 0, outputs=2)
    t.revoke([A])
    new = read_produce(t, A, 0, outputs=2)
    assert old != new
    assert t.acked(old) is False
    assert t.acked(old) is False
    assert t.committable() == {}
    t.acked(new)
    t.acked(new)
    assert t.committable() == {A: 1}


@pytest.mark.parametrize(
    "misuse",
    [
        "read_out_of_order",
        "read_twice",
        "produce_twice",
        "no_outputs",
        "ack_before_produced",
        "too_many_acks",
    ],
)
def test_misuse_raises(misuse: str) -> None:
    t = OffsetTracker()
    ticket = t.read(A, 5)
    with pytest.raises(ValueError):
        if misuse == "read_out_of_order":
            t.read(A, 4)
        elif misuse == "read_twice":
            t.read(A, 5)
        elif misuse == "produce_twice":
            t.produced(ticket, 1)
            t.produced(ticket, 1)
        elif misuse == "no_outputs":
            t.produced(ticket, 0)
        elif misuse == "ack_before_produced":
            t.acked(ticket)
        else:
            t.produced(ticket, 1)
            t.acked(ticket)
            t.acked(ticket)


def test_in_flight_counts() -> None:
    t = OffsetTracker()
    a0 = read_produce(t, A, 0)
    read_produce(t, A, 1)
    t.read(B, 0)
    assert (t.in_flight(), t.in_flight(A), t.in_flight(B), t.in_flight(("x", 9))) == (3, 2, 1, 0)
    t.acked(a0)
    assert t.in_flight() == 2 and t.position(A) == 1 and t.position(B) is None


# -- property: random interleavings --------------------------------------------------------------

partitions = st.sampled_from([A, B, ("alerts", 3)])


@settings(max_examples=100, deadline=None)
@given(
    plan=st.lists(
        st.tuples(partitions, st.integers(1, 3), st.integers(1, 3)),  # tp, offset gap, outputs
        max_size=60,
    ),
    seed=st.integers(0, 2**32 - 1),
    commit_every=st.integers(1, 10),
    revoke_at=st.one_of(st.none(), st.integers(0, 200)),
)
def test_committable_is_exactly_the_acknowledged_prefix(
    plan: list[tuple[TP, int, int]], seed: int, commit_every: int, revoke_at: int | None
) -> None:
    """Reads, produced counts and acks in a random order (acks as deliveries would come back)."""
    rng = random.Random(seed)
    t = OffsetTracker()
    # Reference model: per partition, offsets read and outputs still unacknowledged.
    read_order: dict[TP, list[int]] = {}
    unacked: dict[tuple[TP, int], int] = {}
    last: dict[TP, int] = {}
    tickets: dict[tuple[TP, int], Ticket] = {}
    to_produce: list[tuple[TP, int, int]] = []
    pending_acks: list[Ticket] = []
    stale: list[Ticket] = []
    committed: dict[TP, int] = {}
    reads = list(reversed(plan))
    step = 0

    def expected_position(tp: TP) -> int | None:
        done = None
        for offset in read_order.get(tp, []):
            if unacked.get((tp, offset), 1) != 0:
                break
            done = offset + 1
        return done

    def check() -> None:
        got = t.committable()
        for tp in read_order:
            pos = expected_position(tp)
            if pos is not None and pos > committed.get(tp, -1):
                assert got.get(tp) == pos
            else:
                assert tp not in got
        assert set(got) <= set(read_order)
        for tp, pos in got.items():
            # Every offset below the position was read in this generation and fully acknowledged.
            for offset in read_order[tp]:
                if offset < pos:
                    assert unacked[(tp, offset)] == 0
        assert t.in_flight() == sum(
            1 for tp, offs in read_order.items() for o in offs if o >= (expected_position(tp) or 0)
        )

    while True:
        step += 1
        actions: list[str] = []
        if reads:
            actions.append("read")
        if to_produce:
            actions.append("produce")
        if pending_acks:
            actions += ["ack", "ack"]
        if stale:
            actions.append("stale")
        if not actions:
            break
        kind = rng.choice(actions)
        if kind == "read":
            tp, gap, outputs = reads.pop()
            offset = last.get(tp, -1) + gap
            last[tp] = offset
            tickets[(tp, offset)] = t.read(tp, offset)
            read_order.setdefault(tp, []).append(offset)
            to_produce.append((tp, offset, outputs))
        elif kind == "produce":
            tp, offset, outputs = to_produce.pop(rng.randrange(len(to_produce)))
            assert t.produced(tickets[(tp, offset)], outputs)
            unacked[(tp, offset)] = outputs
            pending_acks += [tickets[(tp, offset)]] * outputs
        elif kind == "ack":
            ticket = pending_acks.pop(rng.randrange(len(pending_acks)))
            assert t.acked(ticket)
            unacked[(ticket.tp, ticket.offset)] -= 1
        else:
            assert t.acked(stale.pop()) is False
        if step % commit_every == 0:
            snapshot = t.committable()
            t.committed(snapshot)
            committed.update(snapshot)
        if revoke_at is not None and step == revoke_at and read_order:
            # Rebalance: forget one partition; its outstanding acks turn stale.
            tp = rng.choice(sorted(read_order))
            t.revoke([tp])
            stale += [k for k in pending_acks if k.tp == tp]
            pending_acks = [k for k in pending_acks if k.tp != tp]
            to_produce = [p for p in to_produce if p[0] != tp]
            del read_order[tp]
            committed.pop(tp, None)
            # A re-assignment starts again after the last read offset (the committed one would
            # do as well; it only has to increase from where the new generation starts).
        check()
    check()
