"""Packed entities (`features/entity.py`) change no feature: a state that keeps almost every
entity packed, in memory or on local disk (`features/disk_tier.py`, `state_backend: rocksdb`),
computes what one that keeps them all as objects computes, event for event, label for label, and
dumps, expires and evicts the same."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudstream.events import Event
from fraudstream.features import FeatureSpec, FeatureState
from fraudstream.features.disk_tier import DiskStore
from fraudstream.features.entity import EntityTable, PackedTier, _Entity, pack, unpack

DAY = 86_400.0

# (account, card, terminal, seconds after the previous event (negative: out of order),
#  amount, merchant, device, label it (None: no label) )
steps = st.lists(
    st.tuples(
        st.integers(0, 12),
        st.integers(0, 12),
        st.integers(0, 6),
        st.floats(-3_600.0, 2 * DAY, allow_nan=False),
        st.floats(0.5, 5_000.0, allow_nan=False),
        st.sampled_from(["m1", "m2", "m3", ""]),
        st.sampled_from(["d1", "d2", ""]),
        st.sampled_from([None, 0, 1]),
    ),
    min_size=1,
    max_size=120,
)


def replay(
    spec: FeatureSpec,
    run: list[tuple],
    capacity: int | None,
    packed_tier: Callable[[str], PackedTier] | None = None,
) -> tuple[list, FeatureState]:
    state = (
        FeatureState(spec)
        if capacity is None
        else FeatureState(spec, hot_capacity=capacity, packed_tier=packed_tier)
    )
    t = 1_700_000_000.0
    rows = []
    for i, (acc, card, term, gap, amount, merchant, device, label) in enumerate(run):
        t += gap
        entities = {"account": f"a{acc}", "card": f"c{card}", "terminal": f"t{term}"}
        if merchant:
            entities["merchant"] = merchant
        categorical = {"merchant_country": merchant.upper(), "device": device}
        ev = Event(f"tx{i}", t, amount, "memo", entities, categorical=categorical)
        rows.append(state.process(ev, i).numeric)
        if label is not None:
            state.fold_label(t, t + 3 * DAY, bool(label), entities, position=i)
    return rows, state


@settings(max_examples=120, deadline=None)
@given(steps, st.sampled_from([FeatureSpec.native(), FeatureSpec.handbook()]))
def test_a_state_with_one_hot_entity_per_role_computes_the_same(
    run: list[tuple], spec: FeatureSpec
) -> None:
    rows, full = replay(spec, run, None)
    rows_packed, packed = replay(spec, run, 1)
    assert rows_packed == rows
    assert packed.snapshot() == full.snapshot()
    assert len(packed) == len(full)
    now = full.stream_time
    assert packed.expire(now, DAY) == full.expire(now, DAY)
    assert packed.snapshot() == full.snapshot()
    assert packed.evict(3) == full.evict(3)
    assert sorted(packed.entity_keys()) == sorted(full.entity_keys())


def test_packing_is_exact_and_the_table_reads_both_tiers() -> None:
    _, state = replay(FeatureSpec.handbook(), [(1, 1, 1, 10.0, 42.0, "m1", "d1", 1)] * 5, None)
    for role, key in state.entity_keys():
        data = state.dump(role, key)
        assert data is not None
        ent = state._tables[role].get(key)
        assert ent is not None
        again = unpack(pack(ent))
        assert again.to_json() == ent.to_json()
    table = EntityTable(capacity=2)
    for k in "abcde":
        table[k] = _Entity()
        table.settle()
    assert len(table.hot) == 2 and len(table.packed) == 3 and len(table) == 5
    assert set(table) == set("abcde") and "a" in table
    assert table.get("a") is not None  # unpacked, now the most recent
    table.settle()
    assert "a" in table.hot and len(table.hot) == 2
    del table["b"]
    assert "b" not in table and table.pop("zz") is None


_NAMES = itertools.count()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DiskStore]:
    disk = DiskStore(tmp_path_factory.mktemp("disk"))
    yield disk
    disk.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(run=steps, spec=st.sampled_from([FeatureSpec.native(), FeatureSpec.handbook()]))
def test_a_state_packed_on_disk_computes_dumps_expires_and_evicts_the_same(
    store: DiskStore, run: list[tuple], spec: FeatureSpec
) -> None:
    n = next(_NAMES)
    rows, full = replay(spec, run, None)
    rows_disk, on_disk = replay(spec, run, 1, lambda role: store.tier(f"{n}/{role}"))
    assert rows_disk == rows
    assert len(on_disk) == len(full) and on_disk.snapshot() == full.snapshot()
    hot = sum(len(t.hot) for t in on_disk._tables.values())
    assert on_disk.packed_count() == len(on_disk) - hot
    # per role, the capacity (1) and the entity of the last event: the rest is on disk
    assert hot <= 2 * len(spec.roles())
    now = full.stream_time
    assert on_disk.expire(now, DAY) == full.expire(now, DAY)
    assert on_disk.snapshot() == full.snapshot()
    assert on_disk.evict(3) == full.evict(3)
    assert sorted(on_disk.entity_keys()) == sorted(full.entity_keys())


def test_disk_tiers_are_apart_counted_dropped_and_the_folder_goes_with_the_store(
    tmp_path: Path,
) -> None:
    store = DiskStore(tmp_path)
    a, b = EntityTable(1, store.tier("0/account")), EntityTable(1, store.tier("0/accountx"))
    for k in "abc":
        a[k] = _Entity()
        a.settle()
    b["a"] = _Entity()
    b["z"] = _Entity()
    b.settle()
    assert len(a.packed) == 2 and len(b.packed) == 1 and sorted(a) == ["a", "b", "c"]
    assert sorted(b) == ["a", "z"]
    assert a.get("a") is not None
    a.settle()
    assert len(a.packed) == 2 and "a" in a.hot  # "a" unpacked, "c" packed in its place
    store.drop("0/account")
    assert len(store.tier("0/account")) == 0 and list(store.tier("0/account").items()) == []
    assert sorted(b) == ["a", "z"]  # a neighbour whose name starts the same is untouched
    assert [p.name for p in tmp_path.iterdir()] == [store.path.name]
    store.close()
    assert list(tmp_path.iterdir()) == []


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    run=steps,
    spec=st.sampled_from([FeatureSpec.native(), FeatureSpec.handbook()]),
    budget=st.integers(1, 7),
    on_disk=st.booleans(),
)
def test_expiry_in_small_sweeps_forgets_what_one_whole_pass_does(
    store: DiskStore, run: list[tuple], spec: FeatureSpec, budget: int, on_disk: bool
) -> None:
    """The stream's maintenance expires a few entities per pass (`state_expiry_batch`): after
    enough passes it has forgotten exactly what one pass over everything forgets."""
    n = next(_NAMES)
    _, whole = replay(spec, run, None)
    tier = (lambda role: store.tier(f"sweep{n}/{role}")) if on_disk else None
    _, swept = replay(spec, run, 1, tier)
    now = whole.stream_time
    passes = len(swept) // budget + 2
    gone = sum(swept.expire(now, DAY, budget=budget) for _ in range(passes))
    assert gone == whole.expire(now, DAY)
    assert swept.snapshot() == whole.snapshot()


def test_a_sweep_spares_an_entity_used_since_it_began(store: DiskStore) -> None:
    for packed in (None, store.tier("spare/account")):
        table = EntityTable(1, packed)
        for k in "abc":
            ent = _Entity()
            ent.seen = 100.0
            table[k] = ent
            table.settle()
        assert table.sweep(200.0, 1) == ["c"]  # the hot one first, then the packed ones
        used = table.get("a")  # used since the sweep began: active now
        assert used is not None
        used.seen = 300.0
        rest = table.sweep(200.0, 10)
        assert sorted(rest) == ["b"]
        # a sweep only names them (expire forgets them): the next sweep names both again
        assert sorted(table.sweep(200.0, 10)) == ["b", "c"]
