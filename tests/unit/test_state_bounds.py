"""Bounded state (`FeatureState.expire`, `FeatureState.evict`, `FeatureSpec.horizon_s`), checked
against a plain model: a dict of each entity's latest activity."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fraudstream.events import Event
from fraudstream.features import FeatureSpec, FeatureState
from fraudstream.features.spec import DelayedRiskBlock, VelocityBlock

SPEC = FeatureSpec(
    velocity=(VelocityBlock(role="account", windows=(3600.0, 86400.0), aggregates=("count",)),)
)

# (account number, seconds after the previous event)
events = st.lists(
    st.tuples(st.integers(0, 30), st.floats(0.0, 7200.0, allow_nan=False)), min_size=1, max_size=200
)


def run(steps: list[tuple[int, float]]) -> tuple[FeatureState, dict[str, float]]:
    state = FeatureState(SPEC)
    latest: dict[str, float] = {}
    t = 1_700_000_000.0
    for i, (acc, gap) in enumerate(steps):
        t += gap
        key = f"acc-{acc}"
        state.process(Event(f"tx-{i}", t, 10.0, "", {"account": key}), i)
        latest[key] = t
    return state, latest


@settings(max_examples=200, deadline=None)
@given(events, st.floats(1.0, 50_000.0, allow_nan=False))
def test_expire_forgets_exactly_the_idle_entities(
    steps: list[tuple[int, float]], idle: float
) -> None:
    state, latest = run(steps)
    state.clear_dirty()
    now = state.stream_time
    assert now == max(latest.values())
    gone = state.expire(now, idle)
    live = {k for k, t in latest.items() if t >= now - idle}
    assert {k for _, k in state.entity_keys()} == live
    assert gone == len(latest) - len(live)
    # every forgotten entity is a tombstone for the changelog
    assert state.dirty() == {("account", k) for k in latest.keys() - live}
    assert all(state.dump("account", k) is None for k in latest.keys() - live)


@settings(max_examples=200, deadline=None)
@given(events, st.integers(1, 40))
def test_evict_keeps_the_most_recently_seen(steps: list[tuple[int, float]], limit: int) -> None:
    state, latest = run(steps)
    state.clear_dirty()
    gone = state.evict(limit)
    kept = {k for _, k in state.entity_keys()}
    if len(latest) <= limit:
        assert gone == 0 and kept == set(latest)
        return
    assert len(kept) == int(limit * 0.9) and gone == len(latest) - len(kept)
    evicted = latest.keys() - kept
    # nothing kept is older than anything forgotten
    assert min((latest[k] for k in kept), default=float("inf")) >= max(latest[k] for k in evicted)
    assert state.dirty() == {("account", k) for k in evicted}


def test_an_expired_entity_reads_like_a_new_one() -> None:
    """Why the horizon is safe: past it, an entity's features are those of an unseen one."""
    state, _ = run([(1, 0.0), (1, 60.0), (1, 60.0)])
    later = state.stream_time + SPEC.horizon_s() + 1.0
    fresh = FeatureState(SPEC)
    probe = Event("tx-probe", later, 10.0, "", {"account": "acc-1"})
    assert state.process(probe).numeric == fresh.process(probe).numeric


def test_horizon_is_the_longest_window_or_delay_plus_window() -> None:
    assert SPEC.horizon_s() == 86400.0
    spec = FeatureSpec(
        velocity=(VelocityBlock(role="account", windows=(3600.0,), aggregates=("count",)),),
        delayed=(
            DelayedRiskBlock(role="terminal", delay_s=7 * 86400.0, windows=(86400.0, 7 * 86400.0)),
        ),
    )
    assert spec.horizon_s() == 14 * 86400.0
    assert FeatureSpec.native().horizon_s() > 0
