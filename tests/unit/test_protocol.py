"""The handbook protocol (any start date) and the generic time split."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from fraudstream.model.protocol import (
    DAY_S,
    day_index,
    handbook_split,
    parse_start,
    prequential_splits,
    prequential_starts,
    split_tail,
    time_split,
)

REPO = Path(__file__).resolve().parents[2]
HANDBOOK = Path(
    os.environ.get("FRAUDSTREAM_HANDBOOK", REPO.parent / "shared/data/handbook/transactions.csv.gz")
)

T0 = datetime(2024, 1, 1, tzinfo=UTC).timestamp()


def at(day: float, hour: float = 12.0) -> float:
    return T0 + day * DAY_S + hour * 3600.0


def test_parse_start_is_utc_midnight():
    assert parse_start("2018-07-25") == datetime(2018, 7, 25, tzinfo=UTC).timestamp()
    assert parse_start(123.0) == 123.0
    assert day_index([parse_start("1970-01-02")])[0] == 1


def test_handbook_split_windows_and_known_compromised_cards():
    # Train days 0-1, delay days 2-3, test days 4-5 (train_days=2, delay_days=2, test_days=2).
    rows = [
        # (day, card, label)
        (0, "a", 1),  # fraud in training: card a is known compromised for the whole test
        (1, "b", 0),
        (1, "c", 1),  # fraud on the last training day: known too
        (2, "d", 1),  # first delay day: known before test day 1 (handbook: +1 delay day per day)
        (3, "e", 1),  # second delay day: its label is not known during the test
        (4, "a", 0),  # removed (a known since training)
        (4, "d", 0),  # kept on test day 0: d becomes known only before test day 1
        (4, "f", 1),  # kept; a fraud inside the test does not remove f later
        (5, "d", 1),  # removed
        (5, "e", 1),  # kept
        (5, "f", 1),  # kept
        (5, "g", -1),  # kept: unknown label is not a fraud
        (6, "h", 0),  # after the test window
    ]
    ts = np.array([at(d) for d, _, _ in rows])
    cards = np.array([c for _, c, _ in rows])
    y = np.array([lab for _, _, lab in rows], dtype=np.int8)
    sp = handbook_split(ts, y, cards, train_start=T0, train_days=2, delay_days=2, test_days=2)
    assert sp.train.tolist() == [0, 1, 2]
    assert cards[sp.test].tolist() == ["d", "f", "e", "f", "g"]
    assert sp.removed == 2
    assert (sp.test_day - day_index([T0])[0]).tolist() == [4, 4, 5, 5, 5]
    assert sp.info["test"]["transactions"] == 5
    assert sp.info["test"]["frauds"] == 3


def test_handbook_split_start_at_any_date_and_mid_day_start():
    ts = np.array([at(d, h) for d in range(30) for h in (1.0, 13.0)])
    y = np.zeros(ts.size, dtype=np.int8)
    cards = np.arange(ts.size).astype(str)
    for start_day in (0, 5, 9):
        sp = handbook_split(ts, y, cards, train_start=T0 + start_day * DAY_S)
        assert sp.train.size == 14 and sp.test.size == 14
        assert day_index(ts[sp.test]).min() == day_index([T0])[0] + start_day + 14
    # A start at noon: training is [start, start + 7 days); test days count from the first
    # training day, as the handbook's TX_TIME_DAYS.min() does.
    sp = handbook_split(ts, y, cards, train_start=T0 + 12 * 3600.0)
    assert ts[sp.train].min() == at(0, 13.0)
    assert ts[sp.train].max() == at(7, 1.0)
    assert day_index(ts[sp.test]).min() == day_index([T0])[0] + 14


def test_handbook_split_refuses_windows_outside_the_data():
    ts = np.array([at(d) for d in range(20)])
    y = np.zeros(20, dtype=np.int8)
    cards = np.array(["x"] * 20)
    with pytest.raises(ValueError, match="before the last test day"):
        handbook_split(ts, y, cards, train_start=T0 + 10 * DAY_S)
    with pytest.raises(ValueError, match="no transaction in the training window"):
        handbook_split(ts, y, cards, train_start=T0 + 100 * DAY_S)


def test_prequential_starts_are_the_handbooks_four_weeks():
    starts = prequential_starts("2018-07-25", 4, 7)
    days = [datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d") for t in starts]
    assert days == ["2018-07-25", "2018-08-01", "2018-08-08", "2018-08-15"]
    with pytest.raises(ValueError):
        prequential_starts("2018-07-25", 0, 7)


def test_prequential_folds_dates_delay_gap_and_no_overlap():
    # Two transactions a day (distinct cards, no fraud) for 60 days; first fold trains from day 3.
    ts = np.array([at(d, h) for d in range(60) for h in (1.0, 13.0)])
    y = np.zeros(ts.size, dtype=np.int8)
    cards = np.arange(ts.size).astype(str)
    folds = prequential_splits(ts, y, cards, first_train_start=T0 + 3 * DAY_S)
    assert len(folds) == 4
    d0 = day_index([T0])[0]
    tests = []
    for f, sp in enumerate(folds):
        train_days = np.unique(day_index(ts[sp.train])) - d0
        test_days = np.unique(day_index(ts[sp.test])) - d0
        assert train_days.tolist() == list(range(3 + 7 * f, 10 + 7 * f))
        assert test_days.tolist() == list(range(17 + 7 * f, 24 + 7 * f))
        # the delay: a full week between the last training and the first test transaction
        assert ts[sp.test].min() - ts[sp.train].max() >= 7 * DAY_S
        assert not set(sp.train.tolist()) & set(sp.test.tolist())
        tests.append(set(sp.test.tolist()))
    # the test weeks follow each other without overlap
    for a in range(4):
        for b in range(a + 1, 4):
            assert not tests[a] & tests[b]
    with pytest.raises(ValueError, match="before the last test day"):
        prequential_splits(ts, y, cards, first_train_start=T0 + 30 * DAY_S)


def test_prequential_folds_remove_cards_known_in_their_own_window():
    # First fold: train days 0-6, delay 7-13, test 14-20; second: train 7-13, test 21-27.
    rows = [(d, f"bg{d}", 0) for d in range(35)]  # one legitimate transaction every day
    rows += [
        (9, "x", 1),  # fraud on the third delay day of fold 1, inside fold 2's training week
        (15, "x", 0),  # fold 1, test day 1: x not known yet (delay day 9 arrives before day 3)
        (18, "x", 0),  # fold 1, test day 4: x known, removed
        (22, "x", 0),  # fold 2, test day 1: x's fraud is in its training week, removed
        (23, "y", 1),  # fold 2 only
    ]
    rows.sort()
    ts = np.array([at(d) for d, _, _ in rows])
    cards = np.array([c for _, c, _ in rows])
    y = np.array([lab for _, _, lab in rows], dtype=np.int8)
    first, second = prequential_splits(ts, y, cards, first_train_start=T0, folds=2)
    assert "x" in cards[first.test].tolist()
    assert (day_index(ts[first.test[cards[first.test] == "x"]]) - day_index([T0])[0]).tolist() == [
        15
    ]
    assert first.removed == 1
    assert "x" not in cards[second.test].tolist()
    assert second.removed == 1
    assert second.info["test"]["frauds"] == 1 and first.info["test"]["frauds"] == 0


def test_time_split_is_ordered_and_disjoint():
    rng = np.random.default_rng(0)
    ts = np.sort(rng.integers(0, 10_000, 2_000)).astype(np.float64)  # with ties
    sp = time_split(ts, validation_fraction=0.2, test_fraction=0.1)
    assert ts[sp.train].max() < ts[sp.validation].min()
    assert ts[sp.validation].max() < ts[sp.test].min()
    assert sp.train.size + sp.validation.size + sp.test.size == ts.size
    assert abs(sp.test.size - 200) < 10
    gapped = time_split(ts, validation_fraction=0.2, test_fraction=0.1, gap_s=500.0)
    assert ts[gapped.test].min() - ts[gapped.validation].max() >= 500.0
    assert ts[gapped.validation].min() - ts[gapped.train].max() >= 500.0
    with pytest.raises(ValueError):
        time_split(ts, validation_fraction=0.6, test_fraction=0.5)


def test_split_tail_takes_the_latest_rows():
    ts = np.array([5.0, 1.0, 3.0, 2.0, 4.0, 6.0])
    head, tail = split_tail(np.array([0, 1, 2, 3, 4]), ts, 0.4)
    assert sorted(tail.tolist()) == [0, 4]
    assert sorted(head.tolist()) == [1, 2, 3]


@pytest.mark.data
def test_handbook_published_test_set_is_reproduced():
    if not HANDBOOK.is_file():
        pytest.skip(f"handbook data not found at {HANDBOOK} (set FRAUDSTREAM_HANDBOOK to its path)")
    with gzip.open(HANDBOOK, "rt") as f:
        header = f.readline().strip().split(",")
    cols = [header.index(c) for c in ("CUSTOMER_ID", "TX_TIME_SECONDS", "TX_FRAUD")]
    data = np.loadtxt(HANDBOOK, delimiter=",", skiprows=1, usecols=cols, dtype=np.int64)
    # TX_DATETIME is 2018-04-01 00:00:00 plus TX_TIME_SECONDS.
    ts = parse_start("2018-04-01") + data[:, 1].astype(np.float64)
    sp = handbook_split(ts, data[:, 2], data[:, 0], train_start="2018-07-25")
    assert sp.info["test"]["transactions"] == 58_264
    assert sp.info["test"]["frauds"] == 385
    assert sp.info["test_first_day"] == "2018-08-08"
    assert sp.info["test_last_day"] == "2018-08-14"
    # Any other start date works too.
    later = handbook_split(ts, data[:, 2], data[:, 0], train_start="2018-08-15")
    assert later.info["test"]["transactions"] > 50_000
    assert later.info["test"]["frauds"] > 300
    # The prequential protocol's folds: the first is the published split, the test weeks run
    # from 2018-08-08 to 2018-09-04.
    folds = prequential_splits(ts, data[:, 2], data[:, 0], first_train_start="2018-07-25")
    assert [f.info["test_first_day"] for f in folds] == [
        "2018-08-08",
        "2018-08-15",
        "2018-08-22",
        "2018-08-29",
    ]
    assert folds[-1].info["test_last_day"] == "2018-09-04"
    assert folds[0].info["test"]["transactions"] == 58_264
    assert folds[3].info["test"] == later.info["test"]
