"""Which transactions a model learns from and which it is judged on.

Two protocols, both over arrays with one entry per transaction (as `build_features` returns them,
in time order):

- `handbook_split`: the protocol of the Fraud Detection Handbook (Le Borgne et al., chapter 3.4,
  `get_train_test_set`), for any train start date. Train on `[start, start + train_days)`; then
  `delay_days` whose labels are not known yet at test time and which are used for nothing; then
  `test_days` of test. Day d of the test drops the cards already known to be compromised: those
  with a fraud in the training window or in the delay days before `start + train_days + d`
  (the handbook adds one more delay day to the known set before each test day). Days are UTC
  calendar days (`floor(timestamp / 86400)`), the handbook's `TX_TIME_DAYS`. For the handbook's
  data and a start on 2018-07-25 this gives its published test set: 58,264 transactions,
  385 frauds (`tests/unit/test_protocol.py`).
- `prequential_splits`: the handbook's chapters 5-7 protocol, `folds` handbook splits whose
  windows move forward by `step_days` (one test week) each: with the defaults, training weeks
  from 2018-07-25, 08-01, 08-08 and 08-15 and test weeks from 2018-08-08, 08-15, 08-22 and 08-29.
  The handbook's `prequentialSplit` walks back from its last training start
  (`start_date_training_for_test` = 2018-08-15, `n_folds=4`); walking forward from the first
  gives the same four folds.
- `time_split`: train / validation / test by time, for data without a published protocol.

Features are computed once, over the whole stream in time order, before any split: a
transaction's per-entity windows see the history before the training window, as the handbook's
do and as the stream's state would. The splits only choose rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

DAY_S = 86_400.0

IntArray = NDArray[np.int64]


def day_index(timestamps: ArrayLike) -> IntArray:
    """UTC calendar day of each epoch timestamp (days since 1970-01-01)."""
    return np.floor(np.asarray(timestamps, dtype=np.float64) / DAY_S).astype(np.int64)


def parse_start(value: str | date | datetime | float) -> float:
    """A train start as epoch seconds: a date is its UTC midnight; a naive datetime is UTC."""
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        return dt.timestamp()
    return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class HandbookSplit:
    train: IntArray
    """Row indices of the training window, in time order."""
    test: IntArray
    """Row indices of the test set (known-compromised cards removed), in time order."""
    test_day: IntArray
    """UTC day index of each test row (for Card Precision@k)."""
    removed: int
    """Test-window transactions dropped because their card was already known compromised."""
    info: dict[str, Any] = field(default_factory=dict)


def handbook_split(
    timestamps: ArrayLike,
    labels: ArrayLike,
    cards: ArrayLike,
    *,
    train_start: str | date | datetime | float,
    train_days: int = 7,
    delay_days: int = 7,
    test_days: int = 7,
) -> HandbookSplit:
    """The handbook's train/test split for any start date (see the module docstring).

    `labels`: 1 fraud, 0 legitimate, -1 unknown (unknown is not evidence of compromise).
    `cards`: the key of the entity whose compromise is tracked (the handbook's `CUSTOMER_ID`).
    """
    ts = np.asarray(timestamps, dtype=np.float64)
    y = np.asarray(labels)
    keys = np.asarray(cards)
    if not (ts.shape == y.shape == keys.shape) or ts.ndim != 1:
        raise ValueError("timestamps, labels and cards must be 1-D arrays of the same length")
    if min(train_days, test_days) < 1 or delay_days < 0:
        raise ValueError("train_days and test_days must be >= 1 and delay_days >= 0")
    start = parse_start(train_start)
    end = start + train_days * DAY_S
    train_mask = (ts >= start) & (ts < end)
    if not train_mask.any():
        raise ValueError(
            f"no transaction in the training window {_iso(start)} .. {_iso(end)}"
            + (f" (the data spans {_iso(ts.min())} .. {_iso(ts.max())})" if ts.size else "")
        )
    days = day_index(ts)
    # The handbook counts days from the first training transaction's day (`TX_TIME_DAYS.min()`).
    first_day = int(days[train_mask].min())
    last_test_day = first_day + train_days + delay_days + test_days - 1
    if days.max() < last_test_day:
        raise ValueError(
            f"the data ends on day {_iso(float(days.max()) * DAY_S)[:10]}, before the last test "
            f"day {_iso(last_test_day * DAY_S)[:10]}; choose an earlier --train-start"
        )

    # Integer card codes over the rows that matter only (train .. end of test).
    span = np.flatnonzero(train_mask | ((days >= first_day) & (days <= last_test_day)))
    _, code = np.unique(keys[span], return_inverse=True)
    code = code.reshape(-1)
    known = np.zeros(int(code.max()) + 1, dtype=bool)
    fraud = y[span] == 1
    known[code[train_mask[span] & fraud]] = True

    span_days = days[span]
    test_rows: list[IntArray] = []
    removed = 0
    per_day: list[dict[str, Any]] = []
    for d in range(test_days):
        # Before test day d, the labels of one more delay-period day have arrived.
        newly_known = span_days == first_day + train_days + d - 1
        known[code[newly_known & fraud]] = True
        in_day = span_days == first_day + train_days + delay_days + d
        keep = in_day & ~known[code]
        removed += int(in_day.sum() - keep.sum())
        test_rows.append(span[keep])
        per_day.append(
            {
                "day": _iso((first_day + train_days + delay_days + d) * DAY_S)[:10],
                "transactions": int(keep.sum()),
                "frauds": int((keep & fraud).sum()),
            }
        )
    train = np.flatnonzero(train_mask).astype(np.int64)
    test = np.concatenate(test_rows).astype(np.int64)
    test.sort()
    info = {
        "name": "handbook",
        "train_start": _iso(start),
        "train_days": train_days,
        "delay_days": delay_days,
        "test_days": test_days,
        "test_first_day": per_day[0]["day"],
        "test_last_day": per_day[-1]["day"],
        "train": {"transactions": int(train.size), "frauds": int((y[train] == 1).sum())},
        "test": {
            "transactions": int(test.size),
            "frauds": int((y[test] == 1).sum()),
            "removed_known_compromised": removed,
            "per_day": per_day,
        },
    }
    return HandbookSplit(train=train, test=test, test_day=days[test], removed=removed, info=info)


def prequential_starts(
    first: str | date | datetime | float, folds: int, step_days: int
) -> list[float]:
    """The training start (epoch seconds) of each prequential fold, oldest first."""
    if folds < 1 or step_days < 1:
        raise ValueError("folds and step_days must be >= 1")
    start = parse_start(first)
    return [start + f * step_days * DAY_S for f in range(folds)]


def prequential_splits(
    timestamps: ArrayLike,
    labels: ArrayLike,
    cards: ArrayLike,
    *,
    first_train_start: str | date | datetime | float = "2018-07-25",
    folds: int = 4,
    step_days: int = 7,
    train_days: int = 7,
    delay_days: int = 7,
    test_days: int = 7,
) -> list[HandbookSplit]:
    """One `handbook_split` per fold, oldest first (see the module docstring). Each fold removes
    the cards known compromised from its own training and delay days, as the handbook does."""
    return [
        handbook_split(
            timestamps,
            labels,
            cards,
            train_start=start,
            train_days=train_days,
            delay_days=delay_days,
            test_days=test_days,
        )
        for start in prequential_starts(first_train_start, folds, step_days)
    ]


@dataclass(frozen=True, slots=True)
class TimeSplit:
    train: IntArray
    validation: IntArray
    test: IntArray
    info: dict[str, Any] = field(default_factory=dict)


def time_split(
    timestamps: ArrayLike,
    *,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    gap_s: float = 0.0,
) -> TimeSplit:
    """Train, validation and test by time: the last `test_fraction` of the transactions (by
    timestamp) is the test set, the `validation_fraction` before it validation, the rest training.

    Cut points are timestamps, so transactions at the same instant never straddle two sets.
    `gap_s` leaves out the transactions within that many seconds before each cut (a label delay:
    what happened just before the validation window is not labelled yet when it starts).
    """
    ts = np.asarray(timestamps, dtype=np.float64)
    if ts.ndim != 1 or ts.size == 0:
        raise ValueError("timestamps must be a non-empty 1-D array")
    if validation_fraction < 0 or test_fraction <= 0 or validation_fraction + test_fraction >= 1:
        raise ValueError("need 0 <= validation_fraction, 0 < test_fraction, and their sum < 1")
    if gap_s < 0:
        raise ValueError("gap_s must be >= 0")
    ordered = np.sort(ts)
    n = ts.size
    test_cut = float(ordered[min(n - 1, int(n * (1 - test_fraction)))])
    valid_cut = float(ordered[min(n - 1, int(n * (1 - test_fraction - validation_fraction)))])
    test = np.flatnonzero(ts >= test_cut)
    validation = np.flatnonzero((ts >= valid_cut) & (ts < test_cut - gap_s))
    train = np.flatnonzero(ts < valid_cut - gap_s)
    if train.size == 0 or test.size == 0:
        raise ValueError("a set of the time split is empty (too few distinct timestamps)")
    info = {
        "name": "time",
        "validation_start": _iso(valid_cut),
        "test_start": _iso(test_cut),
        "gap_s": gap_s,
        "train": {"transactions": int(train.size)},
        "validation": {"transactions": int(validation.size)},
        "test": {"transactions": int(test.size)},
    }
    return TimeSplit(
        train=train.astype(np.int64),
        validation=validation.astype(np.int64),
        test=test.astype(np.int64),
        info=info,
    )


def split_tail(
    rows: ArrayLike, timestamps: ArrayLike, fraction: float
) -> tuple[IntArray, IntArray]:
    """(head, tail) of `rows` by time: the tail holds the last `fraction` of them.

    Used for early stopping inside a training window (the handbook protocol has no validation
    set of its own, and the test set must not choose the model).
    """
    idx = np.asarray(rows, dtype=np.int64)
    if not 0 < fraction < 1:
        raise ValueError("fraction must be in (0, 1)")
    ts = np.asarray(timestamps, dtype=np.float64)[idx]
    order = np.argsort(ts, kind="mergesort")
    ordered = ts[order]
    cut = float(ordered[min(idx.size - 1, int(idx.size * (1 - fraction)))])
    return idx[ts < cut], idx[ts >= cut]
