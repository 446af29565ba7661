"""The load test's pure parts: the open-loop schedule, percentiles, the sweep search, the verdict."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadtest.report import goals
from loadtest.schedule import Schedule, parse_txid, step_count, txid
from loadtest.stats import nearest_rank, per_second, summarize
from loadtest.sweep import SweepSearch, judge, round_rate

# ----------------------------------------------------------------------------- schedule


def test_schedule_intended_times_are_evenly_spaced_from_start() -> None:
    s = Schedule(rate=1000.0, count=5000, start=100.0)
    assert s.intended(0) == 100.0
    assert s.intended(1000) == pytest.approx(101.0)
    assert s.end == pytest.approx(100.0 + 4999 / 1000)
    assert s.duration == pytest.approx(5.0)


def test_schedule_due_counts_records_whose_time_has_come() -> None:
    s = Schedule(rate=100.0, count=50, start=10.0)
    assert s.due(9.999) == 0
    assert s.due(10.0) == 1  # record 0 is due at start
    assert s.due(10.0099) == 1
    assert s.due(10.01) == 2
    assert s.due(10.485) == 49
    assert s.due(10.5) == 50  # records 0..50 would be due: capped at count
    assert s.due(1e9) == 50


@given(
    rate=st.floats(1.0, 100_000.0),
    count=st.integers(1, 10_000),
    i=st.integers(0, 9_999),
)
def test_schedule_record_is_due_exactly_at_its_intended_time(
    rate: float, count: int, i: int
) -> None:
    i = i % count
    s = Schedule(rate=rate, count=count, start=1_700_000_000.0)
    assert s.due(s.intended(i)) >= i + 1
    if i > 0:
        # just before its time, record i is not due yet (but i-1 is)
        before = s.intended(i) - 0.25 / rate
        assert s.due(before) == i


@given(rate=st.floats(1.0, 50_000.0), seconds=st.floats(0.1, 30.0))
def test_schedule_open_loop_does_not_depend_on_progress(rate: float, seconds: float) -> None:
    """The number due at time t is a function of t alone: a slow consumer of the schedule (a
    generator that fell behind) finds more due at once, never a schedule that moved."""
    s = Schedule(rate=rate, count=step_count(rate, seconds), start=0.0)
    times = sorted(random.Random(1).uniform(0, seconds) for _ in range(50))
    dues = [s.due(t) for t in times]
    assert dues == sorted(dues)
    assert all(
        d == min(s.count, math.floor((t + 1e-6) * rate) + 1)
        for t, d in zip(times, dues, strict=True)
    )


def test_schedule_rejects_bad_rates() -> None:
    with pytest.raises(ValueError):
        Schedule(rate=0.0, count=1, start=0.0)
    with pytest.raises(ValueError):
        Schedule(rate=math.inf, count=1, start=0.0)


def test_transaction_ids_carry_run_step_and_index() -> None:
    ident = txid("lt1a2b3c", 12, 345)
    assert ident == "lt1a2b3c-012-0000345"
    assert parse_txid(ident) == ("lt1a2b3c", 12, 345)
    assert parse_txid("probe-3") is None
    assert parse_txid("tx-1-0000000001") == ("tx", 1, 1)  # another run: rejected by run name
    assert parse_txid("nodash") is None


# ----------------------------------------------------------------------------- percentiles


def test_nearest_rank_on_one_to_hundred() -> None:
    values = np.arange(1, 101, dtype=float)
    assert nearest_rank(values, 50) == 50
    assert nearest_rank(values, 90) == 90
    assert nearest_rank(values, 99) == 99
    assert nearest_rank(values, 99.9) == 100
    assert nearest_rank(values, 100) == 100
    assert math.isnan(nearest_rank([], 50))


@given(st.lists(st.floats(0.0, 1e6, allow_nan=False), min_size=1, max_size=500))
def test_nearest_rank_is_the_smallest_value_covering_q_percent(values: list[float]) -> None:
    s = sorted(values)
    n = len(s)
    for q in (50.0, 90.0, 99.0, 99.9):
        v = nearest_rank(s, q)
        at_or_below = sum(1 for x in s if x <= v)
        assert at_or_below >= q / 100 * n - 1e-9
        smaller = [x for x in s if x < v]
        assert len(smaller) < q / 100 * n + 1e-9


@given(st.lists(st.floats(0.0, 1e6, allow_nan=False), min_size=1, max_size=500))
def test_summary_is_ordered(values: list[float]) -> None:
    s = summarize(values)
    assert s["count"] == len(values)
    chain = [s["min"], s["p50"], s["p90"], s["p99"], s["p99.9"], s["max"]]
    assert chain == sorted(chain)
    # the mean of equal floats may round one ulp outside them
    tol = 1e-9 * max(1.0, abs(s["max"]))
    assert s["min"] - tol <= s["mean"] <= s["max"] + tol


def test_summary_ignores_nan_and_handles_empty() -> None:
    s = summarize([1.0, math.nan, 3.0])
    assert s["count"] == 2 and s["max"] == 3.0
    empty = summarize([])
    assert empty["count"] == 0 and empty["p99"] is None


def test_per_second_bins_counts_and_percentiles() -> None:
    times = np.array([0.1, 0.2, 0.9, 1.5, 3.2, 9.0])
    values = np.array([1.0, 2.0, 3.0, 10.0, 5.0, 7.0])
    rows = per_second(times, values, start=0.0, end=4.0)
    assert [r["t"] for r in rows] == [0, 1, 2, 3]
    assert [r["count"] for r in rows] == [3, 1, 0, 1]  # 9.0 is outside the window
    assert rows[0]["p50"] == 2.0 and rows[0]["p99"] == 3.0
    assert rows[2]["p99"] is None
    assert [r["count"] for r in per_second(times, None, 0.0, 4.0)] == [3, 1, 0, 1]


# ----------------------------------------------------------------------------- sweep


def run_search(search: SweepSearch, capacity: float) -> list[float]:
    rates = []
    while (rate := search.next_rate()) is not None:
        rates.append(rate)
        search.record(rate, rate <= capacity)
    return rates


def test_sweep_ramps_then_bisects() -> None:
    search = SweepSearch(start=500, factor=2, precision=0.1, max_steps=20)
    rates = run_search(search, capacity=3000)
    assert rates[:4] == [500, 1000, 2000, 4000]
    assert search.best is not None and 2000 <= search.best <= 3000
    assert search.hi is not None and search.hi / search.best <= 1.1 + 1e-9


def test_sweep_ramps_down_when_the_first_step_fails() -> None:
    search = SweepSearch(start=1000, factor=2, min_rate=10, precision=0.2)
    rates = run_search(search, capacity=300)
    assert rates[:3] == [1000, 500, 250]
    assert search.best is not None and 250 <= search.best <= 300


def test_sweep_stops_at_max_rate_and_at_min_rate() -> None:
    search = SweepSearch(start=500, max_rate=3000)
    rates = run_search(search, capacity=1e9)
    assert rates == [500, 1000, 2000, 3000] and search.best == 3000
    search = SweepSearch(start=100, min_rate=20)
    assert run_search(search, capacity=0) == [100, 50, 25]
    assert search.best is None


@settings(max_examples=200)
@given(
    start=st.floats(50, 5000),
    capacity=st.floats(1, 100_000),
    factor=st.floats(1.5, 4),
    precision=st.floats(0.02, 0.5),
)
def test_sweep_answer_brackets_the_capacity(
    start: float, capacity: float, factor: float, precision: float
) -> None:
    search = SweepSearch(
        start=start, factor=factor, max_rate=200_000, min_rate=1, precision=precision, max_steps=60
    )
    rates = run_search(search, capacity)
    assert len(rates) == len(set(rates))  # never the same rate twice
    best, hi = search.best, search.hi
    if best is not None:
        assert best <= capacity
    if hi is not None:
        assert hi > capacity
    if best is not None and hi is not None:
        # bisection ran to the precision, or to the rounding of rates (3 digits)
        assert hi / best <= 1 + precision + 1e-9 or round_rate(math.sqrt(best * hi)) in (best, hi)


def test_sweep_ignores_a_noisy_pass_above_a_failure() -> None:
    search = SweepSearch(start=1000)
    search.record(1000, True)
    search.record(2000, False)
    search.record(3000, True)  # noise
    assert search.best == 1000 and search.hi == 2000


def test_sweep_honours_max_steps() -> None:
    search = SweepSearch(start=100, max_steps=3)
    assert len(run_search(search, capacity=1e9)) == 3


def test_round_rate_keeps_three_significant_digits() -> None:
    assert round_rate(1234.5) == 1230
    assert round_rate(2828.43) == 2830
    assert round_rate(70.71) == 70.7


# ----------------------------------------------------------------------------- verdict, goals


def test_judge() -> None:
    ok: dict[str, Any] = {
        "budget_ms": 50.0,
        "sent": 100,
        "planned": 100,
        "missing": 0,
        "send_errors": 0,
    }
    assert judge(p99_ms=49.0, aborted=False, **ok).passed
    assert not judge(p99_ms=51.0, aborted=False, **ok).passed
    assert not judge(p99_ms=10.0, aborted=True, **ok).passed
    assert not judge(p99_ms=10.0, aborted=False, **{**ok, "missing": 1}).passed
    assert not judge(p99_ms=10.0, aborted=False, **{**ok, "sent": 99}).passed
    assert not judge(p99_ms=10.0, aborted=False, **{**ok, "send_errors": 2}).passed
    assert not judge(p99_ms=None, aborted=False, **ok).passed


def variant(best: float | None, p99: float | None) -> dict[str, float | None]:
    return {"max_rate_within_budget": best, "p99_at_common_rate_ms": p99}


def test_goals_from_compare_figures() -> None:
    g = goals(
        {
            "scheduler": variant(6000, 10.0),
            "faust": variant(3000, 30.0),
            "one-at-a-time": variant(1000, 500.0),
            "passthrough": variant(20000, 3.0),
        },
        50.0,
    )
    assert g["a_vs_b_rate"] == {"ratio": 2.0, "target": 1.5, "met": True}
    assert g["a_vs_c_rate"]["met"] is True and g["a_vs_c_rate"]["ratio"] == 6.0
    assert g["a_p99_at_half_rate_vs_b"]["met"] is True
    assert g["full_pipeline_rate"]["met"] is True and not g["full_pipeline_rate"]["stretch_met"]
    assert g["a_vs_d_rate"]["ratio"] == 0.3 and g["a_vs_d_rate"]["met"] is False


def test_a_variant_that_failed_leaves_its_goals_unjudged() -> None:
    crashed = {**variant(None, None), "error": "FileNotFoundError: faust-data"}
    g = goals({"scheduler": variant(800, 20.0), "faust": crashed}, 50.0)
    assert g["a_vs_b_rate"] == {"ratio": None, "target": 1.5, "met": None}
    assert g["a_p99_at_half_rate_vs_b"]["met"] is None
    g = goals({"scheduler": {**crashed}, "passthrough": variant(20000, 3.0)}, 50.0)
    assert g["a_vs_d_rate"]["met"] is None and g["full_pipeline_rate"]["met"] is None


def test_goals_when_a_variant_never_meets_the_budget() -> None:
    g = goals({"scheduler": variant(800, 20.0), "one-at-a-time": variant(None, 900.0)}, 50.0)
    assert g["a_vs_c_rate"]["met"] is True and g["a_vs_c_rate"]["ratio"] is None
    assert g["a_vs_b_rate"]["met"] is None  # not measured
    assert g["full_pipeline_rate"]["met"] is False
