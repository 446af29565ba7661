"""Per-entity feature state: window semantics, caps, eviction, idempotence, serialisation."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudstream.events import Event, LabelEvent
from fraudstream.features import (
    DelayedRiskBlock,
    FeatureSpec,
    FeatureSpecError,
    FeatureState,
    StateFormatError,
    VelocityBlock,
    window_name,
)

T0 = 1_522_540_800.0  # 2018-04-01T00:00:00Z, a Sunday
DAY = 86400.0


def ev(
    t: float,
    amount: float = 10.0,
    account: str | None = "A",
    tx: str = "tx",
    label: int | None = None,
    **cat: str,
) -> Event:
    entities = {} if account is None else {"account": account, "card": account}
    for role in ("merchant", "terminal"):
        if role in cat:
            entities[role] = cat.pop(role)
    return Event(tx, t, amount, "", entities, {}, dict(cat), label)


def label(t: float, known: float, fraud: bool, **entities: str) -> LabelEvent:
    return LabelEvent("tx", fraud, t, known, entities)


def spec_with(
    *velocity: VelocityBlock, delayed: tuple[DelayedRiskBlock, ...] = (), **kw: Any
) -> FeatureSpec:
    return FeatureSpec(time=(), amount=False, velocity=velocity, delayed=delayed, **kw)


def named(state: FeatureState, e: Event, position: int | None = None) -> dict[str, float]:
    return state.process(e, position).named()


# --- the spec ------------------------------------------------------------------------------------


def test_native_preset_names() -> None:
    spec = FeatureSpec.native()
    assert spec.numeric_names == [
        "amount",
        "hour",
        "is_weekend",
        "is_night",
        "account_count_1h",
        "account_sum_1h",
        "account_count_1d",
        "account_sum_1d",
        "account_distinct_merchant_1d",
        "account_distinct_merchant_country_1d",
        "account_secs_since_last",
        "account_new_device",
        "account_new_beneficiary",
    ]
    assert spec.categorical_names == [
        "channel",
        "mcc",
        "merchant_country",
        "currency",
        "counterparty_country",
        "ip_country",
        "declared_new_beneficiary",
    ]
    assert spec.roles() == ["account"]
    assert spec.source_fields() == ["merchant", "merchant_country", "device", "beneficiary"]


def test_handbook_preset_names() -> None:
    spec = FeatureSpec.handbook()
    assert spec.numeric_names == [
        "amount",
        "is_weekend",
        "is_night",
        "card_count_1d",
        "card_mean_1d",
        "card_count_7d",
        "card_mean_7d",
        "card_count_30d",
        "card_mean_30d",
        "card_amount_ratio_30d",
        "card_max_amount_ratio_14d",
        "terminal_delayed_count_1d",
        "terminal_delayed_risk_1d",
        "terminal_delayed_count_7d",
        "terminal_delayed_risk_7d",
        "terminal_delayed_count_30d",
        "terminal_delayed_risk_30d",
        "terminal_fraud_streak",
        "terminal_streak_age_s",
    ]
    assert spec.categorical_names == []
    assert spec.roles() == ["account", "card", "terminal"]
    assert FeatureSpec.handbook(delay_days=3).delayed[0].delay_s == 3 * DAY


@pytest.mark.parametrize("spec", [FeatureSpec.native(), FeatureSpec.handbook(), FeatureSpec()])
def test_spec_json_round_trip(spec: FeatureSpec) -> None:
    again = FeatureSpec.from_json(spec.to_json())
    assert again == spec
    assert again.numeric_names == spec.numeric_names
    assert FeatureSpec.from_json(orjson.dumps(orjson.loads(spec.to_json()))) == spec


def test_spec_is_frozen() -> None:
    spec = FeatureSpec.native()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.amount = False  # type: ignore[misc]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: FeatureSpec(time=("dow",)), "time"),
        (lambda: FeatureSpec(night_hours=(0, 24)), "night_hours"),
        (lambda: FeatureSpec(max_buckets=1), "max_buckets"),
        (lambda: FeatureSpec(resolution_s=0), "resolution_s"),
        (lambda: FeatureSpec(key_role="Account"), "key_role"),
        (lambda: VelocityBlock("card", windows=(0,)), "windows"),
        (lambda: VelocityBlock("card", windows=(60, 60)), "duplicate"),
        (lambda: VelocityBlock("card", windows=(60,), aggregates=("max",)), "aggregates"),
        (lambda: VelocityBlock("card", distinct=("mcc",)), "distinct_windows"),
        (lambda: DelayedRiskBlock("terminal", delay_s=-1, windows=(60,)), "delay_s"),
        (lambda: DelayedRiskBlock("terminal", delay_s=1, windows=()), "windows"),
        (
            lambda: FeatureSpec(velocity=(VelocityBlock("a", (60,)), VelocityBlock("a", (90,)))),
            "one block per entity role",
        ),
        (lambda: FeatureSpec(numeric_fields=("amount",)), "twice"),
        (lambda: FeatureSpec.from_dict({"colour": 1}), "colour"),
        (lambda: FeatureSpec.from_dict({"version": 2}), "version"),
        (lambda: FeatureSpec.from_dict({"velocity": [{"role": "a", "size": 1}]}), "bad block"),
    ],
)
def test_spec_validation(make: Any, match: str) -> None:
    with pytest.raises(FeatureSpecError, match=match):
        make()


def test_window_names() -> None:
    assert [window_name(w) for w in (1, 90, 3600, 7200, 86400, 30 * 86400, 1.5)] == [
        "1s",
        "90s",
        "1h",
        "2h",
        "1d",
        "30d",
        "1_5s",
    ]


# --- time features -------------------------------------------------------------------------------


def test_time_features() -> None:
    spec = FeatureSpec(time=("hour", "weekend", "night"), amount=True)
    state = FeatureState(spec)
    sunday_night = named(state, ev(T0 + 6 * 3600 + 59 * 60, amount=3.5))
    assert sunday_night == {"amount": 3.5, "hour": 6.0, "is_weekend": 1.0, "is_night": 1.0}
    monday_day = named(state, ev(T0 + DAY + 7 * 3600))
    assert (monday_day["hour"], monday_day["is_weekend"], monday_day["is_night"]) == (7, 0, 0)
    saturday = named(state, ev(T0 - DAY + 12 * 3600))
    assert saturday["is_weekend"] == 1.0
    friday = named(state, ev(T0 - 2 * DAY + 23 * 3600))
    assert friday["is_weekend"] == 0.0


def test_time_features_local_offset_and_wrapping_night() -> None:
    spec = FeatureSpec(time=("hour", "weekend", "night"), night_hours=(22, 5), utc_offset_s=3600)
    state = FeatureState(spec)
    f = named(state, ev(T0 - 3600 + 0.5))  # 23:00 UTC Saturday = 00:00 local Sunday
    assert (f["hour"], f["is_weekend"], f["is_night"]) == (0.0, 1.0, 1.0)
    f = named(state, ev(T0 + 20 * 3600))  # 21:00 local
    assert f["is_night"] == 0.0
    f = named(state, ev(T0 + 21 * 3600))  # 22:00 local
    assert f["is_night"] == 1.0


# --- velocity windows ------------------------------------------------------------------------------

VEL = VelocityBlock("account", windows=(3600, DAY), aggregates=("count", "sum", "mean"))


def test_windows_include_the_current_event_and_exclude_exactly_w_ago() -> None:
    state = FeatureState(spec_with(VEL))
    f = named(state, ev(T0, 10))
    assert (f["account_count_1h"], f["account_sum_1h"], f["account_mean_1h"]) == (1, 10, 10)
    f = named(state, ev(T0 + 3599, 20))
    assert (f["account_count_1h"], f["account_sum_1h"], f["account_mean_1h"]) == (2, 30, 15)
    f = named(state, ev(T0 + 3600, 30))  # the first event is exactly 1 h old: out of (t-1h, t]
    assert (f["account_count_1h"], f["account_sum_1h"]) == (2, 50)
    assert (f["account_count_1d"], f["account_sum_1d"], f["account_mean_1d"]) == (3, 60, 20)
    f = named(state, ev(T0 + DAY, 1))
    assert (f["account_count_1d"], f["account_sum_1d"]) == (3, 51)
    f = named(state, ev(T0 + 10 * DAY, 5))
    assert (f["account_count_1h"], f["account_count_1d"], f["account_mean_1d"]) == (1, 1, 5)


def test_same_timestamp_events_see_the_earlier_ones_only() -> None:
    """Like pandas rolling on a sorted index: ties count the rows before, not after."""
    state = FeatureState(spec_with(VEL))
    counts = [named(state, ev(T0, 1))["account_count_1h"] for _ in range(3)]
    assert counts == [1, 2, 3]


def test_entities_are_separate_and_a_missing_role_gives_defaults() -> None:
    block = VelocityBlock("account", windows=(3600,), since_last=True, novelty=("device",))
    state = FeatureState(spec_with(block))
    named(state, ev(T0, account="A"))
    f = named(state, ev(T0 + 1, account="B", device="d"))
    assert f["account_count_1h"] == 1
    f = named(state, ev(T0 + 2, account=None))
    assert f == {
        "account_count_1h": 0,
        "account_sum_1h": 0,
        "account_secs_since_last": 30 * DAY,
        "account_new_device": 0,
    }
    assert len(state) == 2


def test_out_of_order_event_goes_into_its_bucket() -> None:
    state = FeatureState(spec_with(VEL))
    named(state, ev(T0 + 100, 1))
    named(state, ev(T0 + 300, 2))
    f = named(state, ev(T0 + 200, 4))  # late: sees only what happened before it
    assert (f["account_count_1h"], f["account_sum_1h"]) == (2, 5)
    f = named(state, ev(T0 + 400, 8))
    assert (f["account_count_1h"], f["account_sum_1h"]) == (4, 15)


def test_distinct_over_window() -> None:
    block = VelocityBlock(
        "account", distinct=("merchant", "merchant_country"), distinct_windows=(3600, DAY)
    )
    state = FeatureState(spec_with(block))
    f = named(state, ev(T0, merchant="m1", merchant_country="FR"))
    assert f == {
        "account_distinct_merchant_1h": 1,
        "account_distinct_merchant_1d": 1,
        "account_distinct_merchant_country_1h": 1,
        "account_distinct_merchant_country_1d": 1,
    }
    f = named(state, ev(T0 + 60, merchant="m2", merchant_country="FR"))
    assert (f["account_distinct_merchant_1h"], f["account_distinct_merchant_country_1h"]) == (2, 1)
    f = named(state, ev(T0 + 7200, merchant="m1", merchant_country="DE"))
    assert f["account_distinct_merchant_1h"] == 1
    assert f["account_distinct_merchant_1d"] == 2
    assert f["account_distinct_merchant_country_1d"] == 2
    f = named(state, ev(T0 + 7201))  # no merchant: counts the others only
    assert f["account_distinct_merchant_1h"] == 1
    assert f["account_distinct_merchant_1d"] == 2
    f = named(state, ev(T0 + 7200 + DAY, merchant="m3"))
    assert f["account_distinct_merchant_1d"] == 1


def test_distinct_memory_is_capped() -> None:
    block = VelocityBlock("account", distinct=("mcc",), distinct_windows=(DAY,))
    state = FeatureState(spec_with(block, max_distinct=4))
    for i in range(10):
        f = named(state, ev(T0 + i, mcc=str(i)))
    assert f["account_distinct_mcc_1d"] == 5  # 4 remembered + the current one
    data = orjson.loads(state.dump("account", "A") or b"")
    assert [v for v, _ in data["dist"]["mcc"]] == ["6", "7", "8", "9"]


def test_seconds_since_last() -> None:
    block = VelocityBlock("account", since_last=True, since_last_cap_s=1000)
    state = FeatureState(spec_with(block))
    got = [named(state, ev(T0 + dt))["account_secs_since_last"] for dt in (0, 10, 10, 2000, 1999)]
    assert got == [1000, 10, 0, 1000, 0]


def test_novelty_and_its_lru_cap() -> None:
    block = VelocityBlock("account", novelty=("device", "beneficiary"))
    state = FeatureState(spec_with(block, max_novelty=4))

    def new(**cat: Any) -> tuple[float, float]:
        f = named(state, ev(T0, **cat))
        return f["account_new_device"], f["account_new_beneficiary"]

    assert new(device="d1") == (1, 0)
    assert new(device="d1", beneficiary="b1") == (0, 1)
    assert new(device="d2", beneficiary="b1") == (1, 0)
    assert new() == (0, 0)
    for d in ("d3", "d4", "d5"):  # d1 is now the least recently used of 5: forgotten
        new(device=d)
    assert new(device="d2") == (0, 0)
    assert new(device="d1") == (1, 0)
    other = named(state, ev(T0, account="B", device="d2"))
    assert other["account_new_device"] == 1  # novelty is per entity


def test_distinct_and_novelty_read_entity_roles_too() -> None:
    block = VelocityBlock("account", novelty=("merchant",))
    state = FeatureState(spec_with(block))
    assert named(state, ev(T0, merchant="M"))["account_new_merchant"] == 1
    assert named(state, ev(T0, merchant="M"))["account_new_merchant"] == 0


def test_passthrough_fields() -> None:
    spec = FeatureSpec(time=(), numeric_fields=("balance",), categorical_fields=("channel", "mcc"))
    state = FeatureState(spec)
    e = Event("t", T0, 2.0, "memo", {"account": "A"}, {"balance": 5.5}, {"channel": "atm"})
    row = state.process(e)
    assert row.numeric == [2.0, 5.5]
    assert row.categorical == ["atm", ""]
    assert row.named_categorical() == {"channel": "atm", "mcc": ""}
    assert row.narrative == "memo"
    row = state.process(Event("t", T0, 2.0, "", {"account": "A"}))
    assert math.isnan(row.numeric[1])


# --- bucket cap ------------------------------------------------------------------------------------


def test_bucket_cap_coarsens_and_stays_bounded() -> None:
    block = VelocityBlock("account", windows=(1000, DAY), aggregates=("count",))
    state = FeatureState(spec_with(block, max_buckets=16))
    for i in range(500):
        f = named(state, ev(T0 + 10 * i, 1))
    data = orjson.loads(state.dump("account", "A") or b"")
    res, _, _, idx, _, _ = data["vb"]
    assert len(idx) <= 16
    assert res > 1.0
    assert f["account_count_1d"] == 500  # the long window is still exact
    assert abs(f["account_count_1000s"] - 100) <= 1000 / 10 * 0.7  # edge off by < one bucket
    # once everything has expired, the resolution goes back to the spec's
    named(state, ev(T0 + 10 * DAY, 1))
    res, *_ = orjson.loads(state.dump("account", "A") or b"")["vb"]
    assert res == 1.0


def test_buckets_merge_events_within_a_resolution() -> None:
    block = VelocityBlock("account", windows=(60,), aggregates=("count", "sum"))
    state = FeatureState(spec_with(block, resolution_s=10))
    for dt in (0, 3, 9, 10):
        named(state, ev(T0 + dt, 1))
    data = orjson.loads(state.dump("account", "A") or b"")
    assert data["vb"][3] == [int(T0 // 10), int(T0 // 10) + 1]
    f = named(state, ev(T0 + 65, 1))  # bucket [T0, T0+10) starts at T0 <= t - 60: out
    assert f["account_count_1m"] == 2


# --- amount ratios and fraud streaks ------------------------------------------------------------


def test_ratio_windows_must_be_velocity_windows() -> None:
    with pytest.raises(FeatureSpecError, match=r"ratio_windows.*add it to windows"):
        VelocityBlock("card", windows=(DAY,), ratio_windows=(7 * DAY,))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        # Money, in cents: window sums are kept incrementally, and an amount below a float's
        # resolution next to a larger one (2.0 + 2e-16 - 2.0 == 0.0) is not money.
        st.tuples(st.integers(0, 40), st.integers(0, 10_000).map(lambda cents: cents / 100)),
        min_size=1,
        max_size=60,
    )
)
def test_amount_ratios_match_their_definitions(events: list[tuple[int, float]]) -> None:
    """Against a plain list of the card's earlier events: amount / mean and amount / max of the
    ones in (t - W, t], 1.0 when there are none (or they sum to 0)."""
    spec = spec_with(
        VelocityBlock(
            "card",
            windows=(30.0, 100.0),
            aggregates=("count",),
            ratio_windows=(100.0,),
            max_ratio_windows=(30.0, 100.0),
        )
    )
    state = FeatureState(spec)
    seen: list[tuple[float, float]] = []
    t = 0.0
    for dt, amount in events:
        t += dt
        f = named(state, ev(T0 + t, amount))
        before = [a for (s, a) in seen if t - 100 < s <= t]
        mean = sum(before) / len(before) if before else 0.0
        assert f["card_amount_ratio_100s"] == pytest.approx(amount / mean if mean > 0 else 1.0)
        for w in (30, 100):
            top = max((a for (s, a) in seen if t - w < s <= t), default=0.0)
            want = amount / top if top > 0 else 1.0
            assert f[f"card_max_amount_ratio_{w}s"] == pytest.approx(want), w
        seen.append((t, amount))


def test_amount_ratio_defaults_without_the_entity() -> None:
    spec = FeatureSpec.handbook()
    f = FeatureState(spec).process(ev(T0, 50.0, account=None)).named()
    assert (f["card_amount_ratio_30d"], f["card_max_amount_ratio_14d"]) == (1.0, 1.0)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.booleans()), max_size=40), st.integers(0, 3000))
def test_fraud_streak_matches_its_definition(labels: list[tuple[int, bool]], gap: int) -> None:
    """The run of fraud at the end of the labels applied so far, and t minus its first fraud."""
    block = DelayedRiskBlock("terminal", delay_s=100, windows=(DAY,), streak=True)
    state = FeatureState(spec_with(delayed=(block,)))
    t = 0.0
    applied: list[tuple[float, bool]] = []
    for dt, fraud in labels:
        t += dt
        state.apply_label(label(T0 + t, T0 + t + 100, fraud, terminal="T"))
        applied.append((t, fraud))
    now = t + gap
    f = named(state, ev(T0 + now, terminal="T"))
    run = 0
    while run < len(applied) and applied[len(applied) - 1 - run][1]:
        run += 1
    assert f["terminal_fraud_streak"] == run
    first = applied[len(applied) - run][0] if run else None
    assert f["terminal_streak_age_s"] == (0.0 if first is None else now - first)


def test_streak_is_per_entity_and_restarts_after_a_legitimate_label() -> None:
    block = DelayedRiskBlock("terminal", delay_s=0, windows=(DAY,), streak=True)
    state = FeatureState(spec_with(delayed=(block,)))
    for i, fraud in enumerate([True, True, False, True, True, True]):
        state.apply_label(label(T0 + i, T0 + i, fraud, terminal="T"))
    f = named(state, ev(T0 + 10, terminal="T"))
    assert (f["terminal_fraud_streak"], f["terminal_streak_age_s"]) == (3, 7)
    f = named(state, ev(T0 + 10, terminal="U"))
    assert (f["terminal_fraud_streak"], f["terminal_streak_age_s"]) == (0, 0)


# --- delayed risk ----------------------------------------------------------------------------------

RISK = DelayedRiskBlock("terminal", delay_s=7 * DAY, windows=(DAY, 7 * DAY))


def test_delayed_window_is_t_minus_delay_minus_w_to_t_minus_delay() -> None:
    state = FeatureState(spec_with(delayed=(RISK,)))
    d = 7 * DAY
    state.apply_label(label(T0, T0 + d, True, terminal="T"))
    state.apply_label(label(T0 + 10, T0 + d + 10, False, terminal="T"))
    state.apply_label(label(T0 + 20, T0 + d + 20, False, terminal="T"))
    f = named(state, ev(T0 + d + 20, terminal="T"))  # all three in (t-d-1d, t-d]
    assert (f["terminal_delayed_count_1d"], f["terminal_delayed_risk_1d"]) == (
        3,
        pytest.approx(1 / 3),
    )
    f = named(state, ev(T0 + d + 15, terminal="T"))  # the one at T0+20 is after t - d
    assert (f["terminal_delayed_count_1d"], f["terminal_delayed_risk_1d"]) == (2, 0.5)
    f = named(state, ev(T0 + d + DAY, terminal="T"))  # T0 is exactly 1 d before t - d: out
    assert (f["terminal_delayed_count_1d"], f["terminal_delayed_risk_1d"]) == (2, 0.0)
    assert (f["terminal_delayed_count_7d"], f["terminal_delayed_risk_7d"]) == (
        3,
        pytest.approx(1 / 3),
    )
    f = named(state, ev(T0 + d + 20, terminal="U"))
    assert f == dict.fromkeys(f, 0.0)
    f = named(state, ev(T0 + d + 20, account="A"))  # no terminal role in the event
    assert f == dict.fromkeys(f, 0.0)


def test_labels_only_touch_delayed_blocks_and_named_entities() -> None:
    state = FeatureState(spec_with(VEL, delayed=(RISK,)))
    state.apply_label(label(T0, T0 + 7 * DAY, True, account="A", card="A", terminal="T"))
    state.apply_label(label(T0, T0 + 7 * DAY, True, merchant="M"))  # no delayed role: ignored
    assert sorted(state.entity_keys()) == [("terminal", "T")]
    f = named(state, ev(T0 + 7 * DAY, account="A", terminal="T"))
    assert f["account_count_1d"] == 1
    assert f["terminal_delayed_count_1d"] == 1


def test_labels_are_idempotent_per_partition_position() -> None:
    state = FeatureState(spec_with(delayed=(RISK,)))
    lab = label(T0, T0 + 7 * DAY, True, terminal="T")
    state.apply_label(lab, position=5, partition=0)
    state.apply_label(lab, position=5, partition=0)  # replay
    state.apply_label(lab, position=3, partition=0)  # older replay
    f = named(state, ev(T0 + 7 * DAY, terminal="T"))
    assert f["terminal_delayed_count_1d"] == 1
    state.apply_label(lab, position=3, partition=1)  # another labels partition
    state.apply_label(lab, position=6, partition=0)
    f = named(state, ev(T0 + 7 * DAY, terminal="T"))
    assert f["terminal_delayed_count_1d"] == 3


def test_old_labels_are_pruned() -> None:
    state = FeatureState(spec_with(delayed=(RISK,)))
    for i in range(40):
        state.apply_label(label(T0 + i * DAY, T0 + (i + 7) * DAY, False, terminal="T"))
    data = orjson.loads(state.dump("terminal", "T") or b"")
    assert len(data["db"][3]) <= 15  # (known - 7 d - 7 d, ...] and the newest
    f = named(state, ev(T0 + 46 * DAY, terminal="T"))
    assert f["terminal_delayed_count_7d"] == 7


# --- idempotence -----------------------------------------------------------------------------------


def test_replayed_positions_compute_but_do_not_fold() -> None:
    spec = FeatureSpec.native()
    state = FeatureState(spec)
    first = state.process(ev(T0, 10, merchant="m", device="d"), position=0)
    assert first.folded
    state.process(ev(T0 + 5, 20, merchant="m", device="d"), position=1)
    before = state.snapshot()
    replay = state.process(ev(T0, 10, merchant="m", device="d"), position=0)
    assert not replay.folded
    assert state.snapshot() == before
    f = replay.named()
    assert f["account_count_1h"] == 1  # not counted twice; the later event is not in (.., t]
    again = state.process(ev(T0 + 5, 20, merchant="m", device="d"), position=1)
    assert again.named()["account_count_1h"] == 2
    nxt = state.process(ev(T0 + 6, 1), position=2)
    assert nxt.folded and nxt.named()["account_count_1h"] == 3
    assert state.process(ev(T0 + 7, 1), position=None).folded  # no position: always folds


def test_positions_are_per_key_entity() -> None:
    state = FeatureState(FeatureSpec.native())
    assert state.process(ev(T0, account="A"), position=10).folded
    assert state.process(ev(T0, account="B"), position=3).folded


# --- eviction --------------------------------------------------------------------------------------


def test_expire_forgets_idle_entities_and_marks_them_dirty() -> None:
    state = FeatureState(spec_with(VEL, delayed=(RISK,)))
    named(state, ev(T0, account="old"))
    named(state, ev(T0 + 5000, account="new"))
    state.apply_label(label(T0, T0 + 3000, False, terminal="T"))
    state.clear_dirty()
    assert state.expire(now=T0 + 5000, idle_seconds=1500) == 2
    assert sorted(state.entity_keys()) == [("account", "new")]
    assert state.dirty() == {("account", "old"), ("terminal", "T")}
    assert state.dump("account", "old") is None
    f = named(state, ev(T0 + 5001, account="old"))
    assert f["account_count_1d"] == 1


# --- serialisation ---------------------------------------------------------------------------------


def test_dirty_tracking() -> None:
    state = FeatureState(FeatureSpec.handbook())
    state.process(Event("1", T0, 5, "", {"account": "A", "card": "A", "terminal": "T"}))
    assert state.dirty() == {("card", "A")}
    state.clear_dirty()
    assert state.dirty() == set()
    state.apply_label(label(T0, T0 + 1, True, terminal="T"))
    assert state.dirty() == {("terminal", "T")}
    state.process(Event("1", T0, 5, "", {"account": "A"}), position=1)
    assert ("account", "A") in state.dirty()


def test_dump_load_round_trip_and_tombstones() -> None:
    state = FeatureState(FeatureSpec.native())
    for i in range(20):
        state.process(
            ev(T0 + 100 * i, i, merchant=f"m{i % 3}", device=f"d{i % 2}", beneficiary="b"),
            position=i,
        )
    data = state.dump("account", "A")
    assert data is not None
    fresh = FeatureState(FeatureSpec.native())
    fresh.load("account", "A", data)
    assert fresh.dump("account", "A") == data
    assert fresh.snapshot() == state.snapshot()
    fresh.load("account", "A", None)
    assert len(fresh) == 0
    fresh.load("merchant", "x", data)  # a role this spec does not keep: ignored
    assert len(fresh) == 0
    assert state.dump("account", "nobody") is None
    assert state.dump("nosuchrole", "A") is None


@pytest.mark.parametrize(
    "data", [b"not json", b"[]", b'{"v": 99}', b'{"v": 1, "pos": 1}', b'{"v":1,"pos":"x"}']
)
def test_load_refuses_garbage(data: bytes) -> None:
    with pytest.raises(StateFormatError):
        FeatureState(FeatureSpec.native()).load("account", "A", data)


EVERYTHING = FeatureSpec(
    key_role="account",
    time=("hour", "weekend", "night"),
    velocity=(
        VelocityBlock(
            "account",
            windows=(30, 120),
            aggregates=("count", "sum", "mean"),
            distinct=("merchant", "mcc"),
            distinct_windows=(60,),
            since_last=True,
            since_last_cap_s=100,
            novelty=("device",),
        ),
        VelocityBlock(
            "card",
            windows=(50,),
            aggregates=("mean",),
            ratio_windows=(50,),
            max_ratio_windows=(25,),
        ),
    ),
    delayed=(DelayedRiskBlock("terminal", delay_s=20, windows=(15, 40), streak=True),),
    max_buckets=6,
    max_distinct=4,
    max_novelty=4,
    resolution_s=2,
)

step = st.tuples(
    st.integers(-3, 9),  # time step (seconds; negative = out of order)
    st.sampled_from(["A", "B"]),  # account
    st.sampled_from(["T1", "T2", "T3"]),  # terminal
    st.sampled_from(["m1", "m2", "m3", "m4", "m5", ""]),
    st.sampled_from(["d1", "d2", "d3", "d4", "d5", "d6"]),
    st.floats(0, 500, allow_nan=False),
    st.booleans(),  # fraud
)


def replay(
    state: FeatureState, steps: list[tuple[Any, ...]], start: int, t0: float, pending: list
) -> tuple[list[list[float]], float]:
    """Events with labels applied 20 s later, as build_features would; returns rows and clock."""
    rows = []
    t = t0
    for i, (dt, acct, term, merchant, device, amount, fraud) in enumerate(steps, start):
        t += dt
        while pending and pending[0][0] <= t:
            _known, lab, lpos = pending.pop(0)
            state.apply_label(lab, position=lpos)
        cat = {"device": device, "mcc": merchant[:2]}
        ents = {"account": acct, "card": acct + "c", "terminal": term}
        if merchant:
            ents["merchant"] = merchant
        rows.append(state.process(Event(str(i), t, amount, "", ents, {}, cat), position=i).numeric)
        pending.append((t + 20, LabelEvent(str(i), fraud, t, t + 20, ents), i))
    return rows, t


@settings(max_examples=60, deadline=None)
@given(st.lists(step, min_size=1, max_size=80), st.data())
def test_restart_from_dumps_equals_an_uninterrupted_run(steps: list, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, len(steps)))
    whole = FeatureState(EVERYTHING)
    rows_whole, _ = replay(whole, steps, 0, T0, [])

    first = FeatureState(EVERYTHING)
    pending: list = []
    rows_a, t = replay(first, steps[:k], 0, T0, pending)
    dumps = {rk: first.dump(*rk) for rk in first.dirty()}
    restored = FeatureState(EVERYTHING)
    for (role, key), blob in dumps.items():
        restored.load(role, key, blob)
    rows_b, _ = replay(restored, steps[k:], k, t, pending)

    assert rows_a + rows_b == rows_whole
    assert restored.snapshot() == whole.snapshot()


@settings(max_examples=40, deadline=None)
@given(st.lists(step, min_size=1, max_size=60), st.data())
def test_replaying_a_suffix_after_restore_changes_nothing(steps: list, data: st.DataObject) -> None:
    """At-least-once: after a crash, events since the last dump are read again."""
    k = data.draw(st.integers(0, len(steps)))
    whole = FeatureState(EVERYTHING)
    pending: list = []
    replay(whole, steps, 0, T0, pending)
    for _known, lab, lpos in pending:  # every label known before the crash
        whole.apply_label(lab, position=lpos)
    snap = whole.snapshot()
    again, _ = replay(whole, steps[k:], k, T0 + sum(s[0] for s in steps[:k]), [])
    assert whole.snapshot() == snap
    assert len(again) == len(steps) - k


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 400), st.floats(0, 100, allow_nan=False)), max_size=60),
    st.sampled_from([1.0, 7.0]),
)
def test_windows_match_a_brute_force_count(events: list[tuple[int, float]], res: float) -> None:
    """In order, at any resolution that divides the timestamps, windows are exact."""
    windows = (7.0, 70.0, 700.0)
    spec = spec_with(
        VelocityBlock("account", windows=windows, aggregates=("count", "sum")),
        resolution_s=res,
        max_buckets=1024,
    )
    state = FeatureState(spec)
    seen: list[tuple[float, float]] = []
    base = (T0 // res) * res  # bucket-aligned
    t = 0.0
    for dt, amount in events:
        t += dt * res
        got = state.process(ev(base + t, amount)).numeric
        seen.append((t, amount))
        want = []
        for w in windows:
            inside = [a for (s, a) in seen if t - w < s <= t]
            want += [len(inside), sum(inside)]
        assert got == pytest.approx(want, rel=1e-9, abs=1e-6)


def test_partitions_share_label_fed_state() -> None:
    from fraudstream.events import Event, LabelEvent
    from fraudstream.features import FeatureSpec, FeatureState

    spec = FeatureSpec.handbook(delay_days=7)
    assert spec.label_roles() == ["terminal"]
    labels = FeatureState(spec, track_dirty=False)
    p0 = FeatureState(spec, shared=labels)
    p1 = FeatureState(spec, shared=labels)
    day = 86400.0
    labels.apply_label(LabelEvent("t1", True, 0.5 * day, 7.5 * day, {"terminal": "T"}), position=0)
    event = Event("t2", 8 * day, 10.0, "", {"account": "A", "card": "A", "terminal": "T"})
    names = spec.numeric_names
    for state in (p0, p1):
        row = state.process(event)
        assert row.named()["terminal_delayed_count_1d"] == 1.0
        assert row.named()["terminal_delayed_risk_1d"] == 1.0
        assert all(role != "terminal" for role, _ in state.dirty())
    assert "terminal_delayed_count_1d" in names


def test_dumps_written_before_the_max_queue_and_streak_still_load() -> None:
    """Changelogs from before these fields: the entity loads, the new state starts empty."""
    spec = FeatureSpec.handbook()
    state = FeatureState(spec)
    state.process(ev(T0, 10.0, terminal="T"))
    state.apply_label(label(T0, T0 + 7 * DAY, True, terminal="T"))
    for role, key in [("card", "A"), ("terminal", "T")]:
        old = orjson.loads(state.dump(role, key) or b"")
        del old["mq"], old["sk"]
        again = FeatureState(spec)
        again.load(role, key, orjson.dumps(old))
        assert again.dump(role, key) is not None
    f = again.process(ev(T0 + 8 * DAY, 50.0, terminal="T")).named()
    assert f["terminal_fraud_streak"] == 0  # forgotten with the old format, not an error
