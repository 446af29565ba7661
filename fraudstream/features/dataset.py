"""Offline features with the stream's own code: replay events (and their delayed labels) through
`FeatureState`, exactly as a live stream would see them.

Labels: with `label_delay_s` set, each labelled event produces a `LabelEvent` known
`label_delay_s` after the transaction; it is applied before the first event whose timestamp is
>= that time (labels first at equal times). Every transaction, legitimate or fraud, gets its label,
as in the handbook protocol, so the delayed-risk blocks count transactions *and* frauds from
labels. With `label_delay_s=None` no label is applied (delayed features are all 0).

Events are processed in the order given, as the stream processes a partition; pass them in time
order (the handbook file and the generator's output are), or `sort=True` to sort them first
(that holds every event in memory).
"""

from __future__ import annotations

import heapq
from array import array
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from fraudstream.events import Event
from fraudstream.features.spec import FeatureSpec
from fraudstream.features.state import FeatureState
from fraudstream.mapping import FieldError, Mapping
from fraudstream.readers import iter_records

_Pending = tuple[float, int, float, bool, dict[str, str]]


@dataclass
class FeatureTable:
    """Features of N events; row i is the i-th event given to `build_features`."""

    numeric: np.ndarray
    """[N, F] float32, columns = `numeric_names`."""
    categorical: np.ndarray
    """[N, C] str, columns = `categorical_names`; "" = missing."""
    narratives: list[str]
    labels: np.ndarray
    """[N] int8: 1 fraud, 0 legitimate, -1 unknown."""
    timestamps: np.ndarray
    """[N] float64, epoch seconds."""
    transaction_ids: np.ndarray
    """[N] str."""
    entities: dict[str, np.ndarray]
    """Entity role -> [N] str keys ("" when the event has none), e.g. for Card Precision@k."""
    numeric_names: list[str]
    categorical_names: list[str]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def select(self, index: Any) -> FeatureTable:
        """Rows by boolean mask, index array or slice."""
        if isinstance(index, slice):
            narratives = self.narratives[index]
        else:
            rows = np.arange(len(self))[index]
            narratives = [self.narratives[i] for i in rows]
        return FeatureTable(
            numeric=self.numeric[index],
            categorical=self.categorical[index],
            narratives=narratives,
            labels=self.labels[index],
            timestamps=self.timestamps[index],
            transaction_ids=self.transaction_ids[index],
            entities={r: v[index] for r, v in self.entities.items()},
            numeric_names=list(self.numeric_names),
            categorical_names=list(self.categorical_names),
        )

    def save(self, path: str | Path) -> None:
        """An .npz file (no pickle: every array is numeric or unicode)."""
        arrays: dict[str, np.ndarray] = {
            "numeric": self.numeric,
            "categorical": self.categorical,
            "narratives": np.array(self.narratives, dtype=str),
            "labels": self.labels,
            "timestamps": self.timestamps,
            "transaction_ids": self.transaction_ids,
            "numeric_names": np.array(self.numeric_names, dtype=str),
            "categorical_names": np.array(self.categorical_names, dtype=str),
            "entity_roles": np.array(list(self.entities), dtype=str),
        }
        for role, keys in self.entities.items():
            arrays[f"entity_{role}"] = keys
        with open(path, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | Path) -> FeatureTable:
        with np.load(path, allow_pickle=False) as z:
            roles = [str(r) for r in z["entity_roles"]]
            return cls(
                numeric=z["numeric"],
                categorical=z["categorical"],
                narratives=[str(s) for s in z["narratives"]],
                labels=z["labels"],
                timestamps=z["timestamps"],
                transaction_ids=z["transaction_ids"],
                entities={r: z[f"entity_{r}"] for r in roles},
                numeric_names=[str(s) for s in z["numeric_names"]],
                categorical_names=[str(s) for s in z["categorical_names"]],
            )


def build_features(
    events: Iterable[Event],
    spec: FeatureSpec,
    *,
    label_delay_s: float | None,
    sort: bool = False,
) -> FeatureTable:
    """Replay `events` through a fresh `FeatureState(spec)`; see the module docstring."""
    if sort:
        events = sorted(events, key=lambda e: e.timestamp)
    state = FeatureState(spec, track_dirty=False)
    compute = state.compute
    cfields = spec.categorical_fields
    fold_label = state.fold_label
    n_cat = len(spec.categorical_names)
    numeric = array("f")
    cat_cols: list[list[str]] = [[] for _ in range(n_cat)]
    narratives: list[str] = []
    labels = array("b")
    timestamps = array("d")
    ids: list[str] = []
    roles: dict[str, list[str]] = {r: [] for r in spec.roles()}
    # Labels waiting to become known: (known_at, seq, transaction time, is_fraud, entities).
    # Events in time order with one delay make them first-in first-out (a deque); if an event
    # comes out of order, they move to a heap.
    fifo: deque[_Pending] = deque()
    heap: list[_Pending] = []
    seq = 0
    n = 0
    for ev in events:
        t = ev.timestamp
        while fifo and fifo[0][0] <= t:
            known, _, tx_t, fraud, lents = fifo.popleft()
            fold_label(tx_t, known, fraud, lents)
        while heap and heap[0][0] <= t:
            known, _, tx_t, fraud, lents = heapq.heappop(heap)
            fold_label(tx_t, known, fraud, lents)
        numeric.extend(compute(ev)[0])
        if n_cat:
            cat = ev.categorical
            for j in range(n_cat):
                cat_cols[j].append(cat.get(cfields[j], ""))
        narratives.append(ev.narrative)
        label = ev.label
        labels.append(-1 if label is None else label)
        timestamps.append(t)
        ids.append(ev.transaction_id)
        ents = ev.entities
        for role, col in roles.items():
            col.append(ents.get(role, ""))
        if not ents.keys() <= roles.keys():
            for role, key in ents.items():
                if role not in roles:
                    roles[role] = [""] * n + [key]
        n += 1
        if label is not None and label_delay_s is not None:
            known = t + label_delay_s
            item = (known, seq, t, label == 1, ents)
            if heap or (fifo and known < fifo[-1][0]):
                if fifo:
                    heap.extend(fifo)
                    fifo.clear()
                    heapq.heapify(heap)
                heapq.heappush(heap, item)
            else:
                fifo.append(item)
            seq += 1

    n_num = len(spec.numeric_names)
    num = np.frombuffer(numeric, dtype=np.float32).reshape(n, n_num) if n else None
    if num is None:
        num = np.zeros((0, n_num), dtype=np.float32)
    if n_cat:
        categorical = np.stack([np.array(c, dtype=str) for c in cat_cols], axis=1)
    else:
        categorical = np.zeros((n, 0), dtype=str)
    return FeatureTable(
        numeric=num,
        categorical=categorical,
        narratives=narratives,
        labels=np.frombuffer(labels, dtype=np.int8).copy(),
        timestamps=np.frombuffer(timestamps, dtype=np.float64).copy(),
        transaction_ids=np.array(ids, dtype=str),
        entities={r: np.array(v, dtype=str) for r, v in roles.items()},
        numeric_names=spec.numeric_names,
        categorical_names=spec.categorical_names,
    )


@dataclass
class EventErrors:
    """Records of a file that did not map to an event (with `errors="skip"`)."""

    count: int = 0
    first: list[tuple[int, FieldError]] | None = None

    def add(self, index: int, err: FieldError) -> None:
        self.count += 1
        if self.first is None:
            self.first = []
        if len(self.first) < 10:
            self.first.append((index, err))


class EventFileError(ValueError):
    """A record of an event file did not map (with `errors="raise"`)."""


def iter_events(
    path: str | Path,
    mapping: Mapping,
    *,
    errors: Literal["raise", "skip"] = "raise",
    skipped: EventErrors | None = None,
) -> Iterator[Event]:
    """The events of a records file (see `readers.iter_records`) through `mapping`."""
    to_event = mapping.to_event
    for i, record in enumerate(iter_records(path, errors=errors)):
        ev = to_event(record)
        if isinstance(ev, FieldError):
            if errors == "raise":
                raise EventFileError(f"{path}: record {i}: {ev.kind} at {ev.field!r}: {ev.message}")
            if skipped is not None:
                skipped.add(i, ev)
            continue
        yield ev
