"""Offline features: the stream's state replayed over a file, labels injected after their delay."""

from __future__ import annotations

import csv
import gzip
import os
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from fraudstream.events import Event, LabelEvent
from fraudstream.features import DelayedRiskBlock, FeatureSpec, FeatureState, VelocityBlock
from fraudstream.features.dataset import (
    EventErrors,
    EventFileError,
    FeatureTable,
    build_features,
    iter_events,
)
from fraudstream.mapping import Mapping

T0 = 1_522_540_800.0  # 2018-04-01T00:00:00Z
DAY = 86400.0
REPO = Path(__file__).resolve().parents[2]


def hb_event(i: int, t: float, customer: str, terminal: str, amount: float, fraud: int) -> Event:
    ents = {"account": customer, "card": customer, "terminal": terminal}
    return Event(str(i), t, amount, "", ents, {}, {}, fraud)


def small_stream() -> list[Event]:
    out = []
    for i in range(60):
        out.append(
            hb_event(i, T0 + i * 0.5 * DAY, f"C{i % 3}", f"T{i % 2}", 10.0 + i, int(i % 7 == 0))
        )
    return out


def test_labels_arrive_after_the_delay_and_before_events_at_the_same_time() -> None:
    spec = FeatureSpec(
        time=(),
        amount=False,
        delayed=(DelayedRiskBlock("terminal", delay_s=10, windows=(100,)),),
    )
    events = [
        hb_event(0, T0, "C", "T", 1, 1),
        hb_event(1, T0 + 9, "C", "T", 1, 0),
        hb_event(2, T0 + 10, "C", "T", 1, 0),  # the first label is known exactly now
        hb_event(3, T0 + 19.5, "C", "T", 1, 0),
    ]
    table = build_features(events, spec, label_delay_s=10)
    assert table.numeric_names == ["terminal_delayed_count_100s", "terminal_delayed_risk_100s"]
    assert table.numeric.tolist() == [[0, 0], [0, 0], [1, 1], [2, 0.5]]
    none = build_features(events, spec, label_delay_s=None)
    assert not none.numeric.any()


def test_window_name_of_odd_seconds() -> None:
    # 100 s is not a whole minute: the name says so
    assert DelayedRiskBlock("t", 1, (100,)).names()[0] == "t_delayed_count_100s"


def test_same_rows_as_driving_the_state_by_hand() -> None:
    spec = FeatureSpec.handbook(delay_days=1)
    events = small_stream()
    table = build_features(events, spec, label_delay_s=DAY)
    state = FeatureState(spec)
    pending: list[LabelEvent] = []
    rows = []
    for e in events:
        while pending and pending[0].known_at <= e.timestamp:
            state.apply_label(pending.pop(0))
        rows.append(state.process(e).numeric)
        pending.append(
            LabelEvent(e.transaction_id, e.label == 1, e.timestamp, e.timestamp + DAY, e.entities)
        )
    assert table.numeric.dtype == np.float32
    assert np.array_equal(table.numeric, np.array(rows, dtype=np.float32))
    assert table.numeric[:, spec.numeric_names.index("terminal_delayed_count_1d")].max() > 0


def test_table_columns() -> None:
    spec = FeatureSpec.native()
    events = [
        Event("a", T0, 5, "rent", {"account": "A"}, {}, {"channel": "atm", "mcc": "6011"}, 1),
        Event("b", T0 + 1, 6, "", {"account": "B", "card": "K"}, {}, {}, None),
        Event("c", T0 + 2, 7, "x", {"account": "A", "merchant": "M"}, {}, {"currency": "EUR"}, 0),
    ]
    table = build_features(events, spec, label_delay_s=None)
    assert len(table) == 3
    assert table.numeric.shape == (3, len(spec.numeric_names))
    assert table.categorical.shape == (3, len(spec.categorical_names))
    assert table.categorical[0].tolist()[:2] == ["atm", "6011"]
    assert table.categorical[2, spec.categorical_names.index("currency")] == "EUR"
    assert table.narratives == ["rent", "", "x"]
    assert table.labels.dtype == np.int8 and table.labels.tolist() == [1, -1, 0]
    assert table.timestamps.dtype == np.float64 and table.timestamps[1] == T0 + 1
    assert table.transaction_ids.tolist() == ["a", "b", "c"]
    assert table.entities["account"].tolist() == ["A", "B", "A"]
    assert table.entities["card"].tolist() == ["", "K", ""]  # a role first seen on row 2
    assert table.entities["merchant"].tolist() == ["", "", "M"]
    assert table.numeric[2, spec.numeric_names.index("account_count_1h")] == 2


def test_empty_input() -> None:
    table = build_features([], FeatureSpec.native(), label_delay_s=None)
    assert len(table) == 0
    assert table.numeric.shape == (0, len(FeatureSpec.native().numeric_names))
    assert table.categorical.shape == (0, len(FeatureSpec.native().categorical_names))


def test_sort_option() -> None:
    spec = FeatureSpec(
        time=(),
        amount=False,
        velocity=(VelocityBlock("account", windows=(10,), aggregates=("count",)),),
    )
    events = [Event(str(i), T0 + t, 1, "", {"account": "A"}) for i, t in enumerate((5, 1, 3))]
    assert build_features(events, spec, label_delay_s=None, sort=True).transaction_ids.tolist() == [
        "1",
        "2",
        "0",
    ]
    assert build_features(events, spec, label_delay_s=None).numeric[:, 0].tolist() == [1, 1, 2]


def test_select_and_save_load(tmp_path: Path) -> None:
    table = build_features(small_stream(), FeatureSpec.handbook(delay_days=1), label_delay_s=DAY)
    part = table.select(table.labels == 1)
    assert len(part) == int((table.labels == 1).sum())
    assert part.entities["terminal"].tolist() == [
        k for k, y in zip(table.entities["terminal"], table.labels, strict=True) if y == 1
    ]
    head = table.select(slice(0, 5))
    assert len(head) == 5 and len(head.narratives) == 5
    table.save(tmp_path / "t.npz")
    again = FeatureTable.load(tmp_path / "t.npz")
    for name in ("numeric", "categorical", "labels", "timestamps", "transaction_ids"):
        assert np.array_equal(getattr(again, name), getattr(table, name)), name
    assert again.entities.keys() == table.entities.keys()
    assert again.numeric_names == table.numeric_names
    assert again.narratives == table.narratives


def test_iter_events_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "hb.csv"
    path.write_text(
        "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_TIME_SECONDS,TX_TIME_DAYS,"
        "TX_FRAUD,TX_FRAUD_SCENARIO\n"
        "0,2018-04-01 00:00:31,596,3156,57.16,31,0,0,0\n"
        "1,2018-04-01 00:02:10,4961,3412,-1,130,0,0,0\n"
        "2,2018-04-01 00:07:56,2,1365,146.00,476,0,1,1\n"
    )
    mapping = Mapping.load("handbook")
    with pytest.raises(EventFileError, match="record 1: bad_amount"):
        list(iter_events(path, mapping))
    skipped = EventErrors()
    events = list(iter_events(path, mapping, errors="skip", skipped=skipped))
    assert [e.transaction_id for e in events] == ["0", "2"]
    assert skipped.count == 1 and skipped.first is not None and skipped.first[0][0] == 1
    table = build_features(events, FeatureSpec.handbook(), label_delay_s=7 * DAY)
    assert table.labels.tolist() == [0, 1]


# --- the handbook's own definitions, on the real file ---------------------------------------------


def handbook_path() -> Path | None:
    env = os.environ.get("FRAUDSTREAM_HANDBOOK")
    path = (
        Path(env) if env else REPO.parent / "shared" / "data" / "handbook" / "transactions.csv.gz"
    )
    return path if path.is_file() else None


HANDBOOK_DAYS = 14


def reference_features(rows: list[dict[str, str]]) -> np.ndarray:
    """The handbook's baseline features (chapter 3), written again with plain numpy.

    Card: pandas `rolling('Wd')` over the customer's transactions sorted by time: rows j <= i with
    TX_TIME_SECONDS_j > TX_TIME_SECONDS_i - W. Terminal: `rolling(d+W) - rolling(d)` = rows with
    t_i - d - W < t_j <= t_i - d; risk = frauds / count, 0 when count is 0.
    The four extra features: amount over the mean (30 d) and the maximum (14 d) of the card's
    earlier rows j < i in the window (1 when none); the terminal's run of fraud at the end of its
    rows with t_j <= t_i - d, and t_i minus the time of the run's first row (0 without a run).
    """
    secs = np.array([int(r["TX_TIME_SECONDS"]) for r in rows], dtype=np.int64)
    amount = np.array([float(r["TX_AMOUNT"]) for r in rows])
    fraud = np.array([int(r["TX_FRAUD"]) for r in rows])
    when = [datetime.strptime(r["TX_DATETIME"], "%Y-%m-%d %H:%M:%S") for r in rows]
    out = np.zeros((len(rows), 19))
    out[:, 0] = amount
    out[:, 1] = [d.weekday() >= 5 for d in when]
    out[:, 2] = [d.hour <= 6 for d in when]
    by_customer: dict[str, list[int]] = defaultdict(list)
    by_terminal: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        by_customer[r["CUSTOMER_ID"]].append(i)
        by_terminal[r["TERMINAL_ID"]].append(i)
    day, delay = 86400, 7 * 86400
    for members in by_customer.values():
        idx = np.array(members)
        s = secs[idx]
        cum = np.concatenate([[0.0], np.cumsum(amount[idx])])
        hi = np.arange(1, len(idx) + 1)
        for k, w in enumerate((1, 7, 30)):
            lo = np.searchsorted(s, s - w * day, side="right")
            out[idx, 3 + 2 * k] = hi - lo
            out[idx, 4 + 2 * k] = (cum[hi] - cum[lo]) / (hi - lo)
            if w == 30:  # earlier rows only: hi - 1
                n_before = hi - 1 - lo
                mean = np.where(n_before > 0, (cum[hi - 1] - cum[lo]) / np.maximum(n_before, 1), 0)
                out[idx, 9] = np.where(mean > 0, amount[idx] / np.where(mean > 0, mean, 1), 1.0)
        lo14 = np.searchsorted(s, s - 14 * day, side="right")
        for pos, i in enumerate(idx):
            top = amount[idx[lo14[pos] : pos]].max(initial=0.0)
            out[i, 10] = amount[i] / top if top > 0 else 1.0
    for members in by_terminal.values():
        idx = np.array(members)
        s = secs[idx]
        cum = np.concatenate([[0], np.cumsum(fraud[idx])])
        hi = np.searchsorted(s, s - delay, side="right")
        for k, w in enumerate((1, 7, 30)):
            lo = np.searchsorted(s, s - delay - w * day, side="right")
            count = hi - lo
            out[idx, 11 + 2 * k] = count
            out[idx, 12 + 2 * k] = np.where(
                count > 0, (cum[hi] - cum[lo]) / np.maximum(count, 1), 0
            )
        for pos, i in enumerate(idx):
            run = 0
            while run < hi[pos] and fraud[idx[hi[pos] - 1 - run]]:
                run += 1
            out[i, 17] = run
            out[i, 18] = secs[i] - s[hi[pos] - run] if run else 0
    return out


@pytest.mark.data
@pytest.mark.slow
def test_handbook_features_equal_the_handbook_definitions() -> None:
    path = handbook_path()
    if path is None:
        pytest.skip(
            "handbook data not found: set FRAUDSTREAM_HANDBOOK or put it at "
            "../shared/data/handbook/transactions.csv.gz (see shared/data/README.md)"
        )
    rows: list[dict[str, str]] = []
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            if int(r["TX_TIME_DAYS"]) >= HANDBOOK_DAYS:
                break
            rows.append(r)
    mapping = Mapping.load("handbook")
    events = [mapping.to_event(r) for r in rows]
    assert all(isinstance(e, Event) for e in events)
    spec = FeatureSpec.handbook(delay_days=7)
    table = build_features(events, spec, label_delay_s=7 * DAY)  # type: ignore[arg-type]
    want = reference_features(rows)
    got = table.numeric.astype(np.float64)
    assert got.shape == want.shape
    for j, name in enumerate(spec.numeric_names):
        np.testing.assert_allclose(got[:, j], want[:, j], rtol=1e-5, atol=1e-4, err_msg=name)
    # the windows were really exercised
    assert want[:, 11].max() > 0 and want[:, 15].max() > 0 and want[:, 12].max() > 0
    assert want[:, 17].max() > 0 and (want[:, 9] != 1).any() and (want[:, 10] > 1).any()
    assert table.labels.tolist() == [int(r["TX_FRAUD"]) for r in rows]
    assert table.timestamps[0] == T0 + int(rows[0]["TX_TIME_SECONDS"])


def test_out_of_order_events_apply_labels_in_known_time_order() -> None:
    spec = FeatureSpec.handbook(delay_days=1)
    events = small_stream()
    for i in range(0, len(events) - 1, 5):  # swap some neighbours: out of order by half a day
        events[i], events[i + 1] = events[i + 1], events[i]
    table = build_features(events, spec, label_delay_s=DAY)
    state = FeatureState(spec)
    pending: list[tuple[float, int, LabelEvent]] = []
    rows = []
    for seq, e in enumerate(events):
        pending.sort(key=lambda p: (p[0], p[1]))
        while pending and pending[0][0] <= e.timestamp:
            state.apply_label(pending.pop(0)[2])
        rows.append(state.process(e).numeric)
        known = e.timestamp + DAY
        pending.append((known, seq, LabelEvent("", e.label == 1, e.timestamp, known, e.entities)))
    assert np.array_equal(table.numeric, np.array(rows, dtype=np.float32))
