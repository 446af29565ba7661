"""Training data: the records file read into a feature table, and its train/validation split.

`read_table` is step 1 of `train.py`'s theory of operation (the records file through the
mapping and the stream's per-entity state, in time order, and the model card's `data` block),
`choose_split` step 2 (the time split, or the handbook-style window). `resolve_spec` (a feature
spec by name or file), `_until` (events before a time) and `file_sha256` (the data file's hash)
are shared with `fraudstream evaluate` (`evaluate.py`), which reads records files the same way.

Torch-free on purpose: `evaluate.py` imports it without paying for torch. That is also why
`file_sha256` lives here and not beside the model card (`card.py`, which imports torch), and
`card.py` reads `_iso` from here (the other way round would be an import cycle).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from fraudstream.features.dataset import FeatureTable
    from fraudstream.features.spec import FeatureSpec

DAY_S = 86_400.0


# ---- splits ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainSplit:
    train: np.ndarray
    validation: np.ndarray
    info: dict[str, Any]


def choose_split(
    table: FeatureTable,
    *,
    train_start: str | None = None,
    train_days: int | None = None,
    valid_days: float | None = None,
) -> TrainSplit:
    """Training and validation rows (see the module docstring); unknown labels dropped."""
    from fraudstream.model.protocol import parse_start, split_tail, time_split

    ts = table.timestamps
    if train_start is not None:
        start = parse_start(train_start)
        end = start + (train_days or 7) * DAY_S
        window = np.flatnonzero((ts >= start) & (ts < end))
        if window.size == 0:
            raise ValueError(f"no transaction in the training window starting {train_start}")
        info: dict[str, Any] = {
            "name": "window",
            "train_start": train_start,
            "train_days": train_days or 7,
        }
        rows = window
    else:
        split = time_split(ts)
        info = {"name": "time", **split.info}
        rows = np.concatenate([split.train, split.validation])
        if valid_days is None:
            return _labelled(table, split.train, split.validation, info)
    if valid_days is not None:
        cut = float(ts[rows].max()) - valid_days * DAY_S
        train, valid = rows[ts[rows] <= cut], rows[ts[rows] > cut]
        info["valid_days"] = valid_days
    else:
        train, valid = split_tail(rows, ts, 0.2)
        info["valid_fraction"] = 0.2
    return _labelled(table, train, valid, info)


def _labelled(
    table: FeatureTable, train: np.ndarray, valid: np.ndarray, info: dict[str, Any]
) -> TrainSplit:
    train = train[table.labels[train] >= 0]
    valid = valid[table.labels[valid] >= 0]
    if train.size == 0 or valid.size == 0:
        raise ValueError("the split leaves no labelled training or validation rows")
    for name, idx in (("train", train), ("validation", valid)):
        y = table.labels[idx]
        info[f"{name}_rows"] = int(idx.size)
        info[f"{name}_frauds"] = int((y == 1).sum())
        info[f"{name}_from"] = _iso(float(table.timestamps[idx].min()))
        info[f"{name}_to"] = _iso(float(table.timestamps[idx].max()))
    if not (table.labels[train] == 1).any():
        raise ValueError("no fraud in the training rows: nothing to learn from")
    return TrainSplit(train, valid, info)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


# ---- reading -------------------------------------------------------------------------------------


def read_table(
    data: str | Path,
    mapping: str,
    *,
    spec: FeatureSpec | None = None,
    features: str | None = None,
    delay_days: float | None = None,
    max_rows: int | None = None,
    until: float | None = None,
    labels: str | Path | None = None,
    log: Callable[[str], None],
) -> tuple[FeatureTable, FeatureSpec, dict[str, Any]]:
    """The records file through the mapping and the stream's per-entity state, in time order,
    up to `until` (epoch seconds, exclusive); returns the table, its spec and the model card's
    `data` block."""
    from itertools import islice

    from fraudstream.features.dataset import EventErrors, build_features, iter_events
    from fraudstream.mapping import Mapping

    field_mapping = Mapping.load(mapping)
    spec = spec or resolve_spec(features or mapping, delay_days)
    field_mapping.check_spec(spec)
    delay_s = (delay_days if delay_days is not None else 7.0) * DAY_S

    skipped = EventErrors()
    events: Iterator[Any] = iter_events(data, field_mapping, errors="skip", skipped=skipped)
    if labels is not None:
        from fraudstream.labels import read_label_file, relabel

        verdicts = read_label_file(str(labels))
        log(f"labels: {len(verdicts):,} verdicts from {Path(labels).name}")
        events = relabel(events, verdicts)
    if max_rows is not None:
        events = islice(events, max_rows)
    if until is not None:
        events = _until(events, until)
    t0 = time.perf_counter()
    table = build_features(events, spec, label_delay_s=delay_s)
    log(
        f"features: {len(table):,} transactions in {time.perf_counter() - t0:.1f}s"
        + (f" ({skipped.count:,} records skipped)" if skipped.count else "")
    )
    data_info = {
        "path": Path(data).name,
        "sha256": file_sha256(data),
        "mapping": mapping,
        "rows_read": len(table),
        "records_skipped": skipped.count,
        "max_rows": max_rows,
        "label_delay_days": delay_s / DAY_S,
    }
    return table, spec, data_info


def _until(events: Iterator[Any], end: float) -> Iterator[Any]:
    for ev in events:
        if ev.timestamp >= end:
            return
        yield ev


def resolve_spec(features: str, delay_days: float | None) -> FeatureSpec:
    """A feature spec by preset name (`native`, `handbook`) or a JSON file path."""
    from fraudstream.features.spec import FeatureSpec

    if features == "native":
        return FeatureSpec.native()
    if features == "handbook":
        return FeatureSpec.handbook(delay_days=delay_days if delay_days is not None else 7)
    path = Path(features)
    if path.suffix == ".json" and path.is_file():
        return FeatureSpec.from_json(path.read_bytes())
    raise ValueError(
        f"feature spec {features!r}: give 'native', 'handbook' or a feature spec JSON file "
        "(--features; the default is the mapping's name)"
    )


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
