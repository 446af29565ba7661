"""Analyst and bank verdicts on the labels topic: the record, its validation, and how the stream
turns one into a delayed-risk update.

Theory of operation
-------------------
A label record (`schemas/label.schema.json`, key = transaction id) says what a transaction turned
out to be: `confirmed_fraud`, `false_positive` (an alert that was wrong) or `legitimate`. Only
`confirmed_fraud` counts as fraud in the risk state and in training.

To update a terminal's or merchant's delayed risk, the stream needs the labelled transaction's
*time* and its *entities*, which an analyst typing `fraudstream label TX --fraud` does not know.
Two sources, in this order:

1. the label record itself (`transaction_timestamp` and `entities`): a bank's delayed-fraud feed
   and `fraudstream replay --labels-topic` write them, and `fraudstream label` accepts them;
2. `RecentTransactions`, a bounded memory (per worker) of the transactions this worker admitted:
   transaction id -> (timestamp, the entities the delayed blocks read). A label for a transaction
   scored by another worker, or older than the memory, is *unresolved*: counted, logged, skipped.

`LabelBook.resolve` applies these rules, drops a verdict repeated on a transaction already
applied, and turns a *different* later verdict into a correction (`LabelEvent.previous`): the
delayed windows then count the transaction once, with the last verdict, as `fraudstream train
--labels` does. Both records stay on the labels topic (the audit trail).

The delay: a label folded now for a transaction at T is read by an event at t only when T lies in
(t - delay - W, t - delay] (see `features/state.py`), so an early verdict is not seen before
`delay` has passed, exactly as `build_features` replays labels `delay` after their transactions.

Pure: no asyncio, no Kafka client; the processor's label loop is the shell around it.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from fraudstream.events import Event, LabelEvent
from fraudstream.records import DecodeError, decode_json, parse_rfc3339

VERDICTS: Final = ("confirmed_fraud", "false_positive", "legitimate")
FRAUD_VERDICT: Final = "confirmed_fraud"
_FIELDS: Final = frozenset(
    {
        "transaction_id",
        "verdict",
        "analyst_id",
        "labelled_at",
        "transaction_timestamp",
        "entities",
        "note",
    }
)
_REQUIRED: Final = ("transaction_id", "verdict", "analyst_id", "labelled_at")
MAX_LABEL_BYTES: Final = 64 * 1024


def iso(ts: float) -> str:
    """Epoch seconds -> RFC 3339 in UTC with a Z, as every record on the wire has it."""
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def make_label(
    transaction_id: str,
    verdict: str,
    *,
    analyst_id: str,
    labelled_at: float,
    transaction_timestamp: float | None = None,
    entities: Mapping[str, str] | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """A label record (a plain dict to encode); check it with `validate_label`."""
    rec: dict[str, Any] = {
        "transaction_id": transaction_id,
        "verdict": verdict,
        "analyst_id": analyst_id,
        "labelled_at": iso(labelled_at),
    }
    if transaction_timestamp is not None:
        rec["transaction_timestamp"] = iso(transaction_timestamp)
    if entities:
        rec["entities"] = dict(entities)
    if note:
        rec["note"] = note
    return rec


def _string(obj: Mapping[str, Any], name: str, max_len: int) -> DecodeError | None:
    v = obj[name]
    if not isinstance(v, str):
        return DecodeError("wrong_type", "expected a string", name)
    if not v or len(v) > max_len:
        return DecodeError("bad_value", f"must be 1-{max_len} characters", name)
    return None


def validate_label(obj: Mapping[str, Any]) -> DecodeError | None:
    """`schemas/label.schema.json` in code (a unit test checks both agree). None when valid."""
    extra = obj.keys() - _FIELDS
    if extra:
        return DecodeError("schema", f"unknown field (allowed: {', '.join(sorted(_FIELDS))})")
    for name in _REQUIRED:
        if name not in obj:
            return DecodeError("schema", "required field is missing", name)
    for name in ("transaction_id", "analyst_id"):
        error = _string(obj, name, 128)
        if error is not None:
            return error
    if obj["verdict"] not in VERDICTS:
        return DecodeError("bad_value", f"must be one of {', '.join(VERDICTS)}", "verdict")
    for name in ("labelled_at", "transaction_timestamp"):
        if name in obj:
            v = obj[name]
            if not isinstance(v, str) or parse_rfc3339(v) is None:
                return DecodeError("bad_value", "must be an RFC 3339 date-time", name)
    if "entities" in obj:
        ents = obj["entities"]
        if not isinstance(ents, dict):
            return DecodeError("wrong_type", "expected an object of strings", "entities")
        for k, v in ents.items():
            if not isinstance(v, str):
                return DecodeError("wrong_type", "expected a string", f"entities.{k}")
    if "note" in obj:
        v = obj["note"]
        if not isinstance(v, str):
            return DecodeError("wrong_type", "expected a string", "note")
        if len(v) > 2000:
            return DecodeError("bad_value", "longer than 2000 characters", "note")
    return None


@dataclass(frozen=True, slots=True)
class Label:
    """A valid label record, decoded."""

    transaction_id: str
    verdict: str
    analyst_id: str
    labelled_at: float
    transaction_timestamp: float | None
    entities: dict[str, str] | None

    @property
    def is_fraud(self) -> bool:
        return self.verdict == FRAUD_VERDICT


def decode_label(value: bytes | None) -> Label | DecodeError:
    obj = decode_json(value, max_bytes=MAX_LABEL_BYTES)
    if isinstance(obj, DecodeError):
        return obj
    error = validate_label(obj)
    if error is not None:
        return error
    labelled_at = parse_rfc3339(obj["labelled_at"])
    assert labelled_at is not None  # validated
    tx_time = obj.get("transaction_timestamp")
    return Label(
        transaction_id=obj["transaction_id"],
        verdict=obj["verdict"],
        analyst_id=obj["analyst_id"],
        labelled_at=labelled_at,
        transaction_timestamp=None if tx_time is None else parse_rfc3339(tx_time),
        entities=obj.get("entities"),
    )


class RecentTransactions:
    """Bounded memory: transaction id -> (timestamp, entities of the roles that labels feed).

    Oldest first out once `capacity` is exceeded; remembering an id again moves it to the end.
    """

    def __init__(self, roles: Sequence[str], capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.roles = tuple(roles)
        self.capacity = capacity
        self._items: OrderedDict[str, tuple[float, dict[str, str]]] = OrderedDict()

    def remember(self, event: Event) -> None:
        if not self.roles:
            return  # the model has no label-fed feature: nothing to remember
        ents = event.entities
        picked = {r: ents[r] for r in self.roles if r in ents}
        items = self._items
        items[event.transaction_id] = (event.timestamp, picked)
        items.move_to_end(event.transaction_id)
        if len(items) > self.capacity:
            items.popitem(last=False)

    def get(self, transaction_id: str) -> tuple[float, dict[str, str]] | None:
        return self._items.get(transaction_id)

    def __len__(self) -> int:
        return len(self._items)


class LabelBook:
    """Turns label records into `LabelEvent`s for `FeatureState.apply_label` (see the module
    docstring): resolves time and entities, drops a verdict repeated on one transaction, and
    turns a different later one into a correction of the earlier (`LabelEvent.previous`): the
    state then counts the transaction once, with the last verdict, as training does
    (`relabel`). Both records stay on the labels topic (never compacted): the audit trail."""

    def __init__(
        self,
        recent: RecentTransactions,
        applied_capacity: int,
        *,
        max_future_s: float = 300.0,
        max_age_s: float = 7300 * 86400.0,
    ) -> None:
        """`max_future_s`, `max_age_s`: the admission's bounds on transaction times
        (`max_future_skew_s`, `max_event_age_days`), applied to verdicts too."""
        self.recent = recent
        self.applied_capacity = applied_capacity
        self.max_future_s = max_future_s
        self.max_age_s = max_age_s
        self._applied: OrderedDict[str, bool] = OrderedDict()
        """Transaction id -> the verdict applied (is_fraud), least recent first."""
        self.unresolved = 0
        self.repeated = 0
        self.corrections = 0
        self.out_of_range = 0

    def resolve(self, label: Label, now: float | None = None) -> tuple[LabelEvent | None, bool]:
        """(the event to apply or None, whether time or entities came from this worker's memory:
        then the shell publishes the completed record so that other workers, and this one after
        a restart, can apply it too). `now` (epoch seconds): refuse verdicts stamped in the
        future, on transactions in the future or older than the retention, or given before the
        transaction happened: a label from year 2199 would otherwise prune every delayed-risk
        window it touches."""
        tx_id = label.transaction_id
        previous = self._applied.get(tx_id)
        if previous is not None and previous == label.is_fraud:
            self.repeated += 1
            return None, False
        timestamp = label.transaction_timestamp
        entities = label.entities
        completed = False
        if timestamp is None or entities is None:
            known = self.recent.get(tx_id)
            if known is None:
                self.unresolved += 1
                return None, False
            timestamp = known[0] if timestamp is None else timestamp
            entities = known[1] if entities is None else entities
            completed = True
        if now is not None and (
            label.labelled_at > now + self.max_future_s
            or timestamp > now + self.max_future_s
            or timestamp < now - self.max_age_s
            or label.labelled_at < timestamp - self.max_future_s
        ):
            self.out_of_range += 1
            return None, False
        if previous is not None:
            self.corrections += 1
        self._applied.pop(tx_id, None)
        self._applied[tx_id] = label.is_fraud
        if len(self._applied) > self.applied_capacity:
            self._applied.popitem(last=False)
        event = LabelEvent(
            transaction_id=tx_id,
            is_fraud=label.is_fraud,
            transaction_timestamp=timestamp,
            known_at=label.labelled_at,
            entities=dict(entities),
            previous=previous,
        )
        return event, completed


def completed_record(label: Label, event: LabelEvent) -> dict[str, Any]:
    """The label record with the transaction time and entities filled in from memory."""
    return make_label(
        label.transaction_id,
        label.verdict,
        analyst_id=label.analyst_id,
        labelled_at=label.labelled_at,
        transaction_timestamp=event.transaction_timestamp,
        entities=event.entities,
    )


class DueLabels:
    """Labels waiting for the stream's data time to reach their transaction time + delay.

    `build_features` applies every label exactly `delay` after its transaction, before the first
    event at or after that time; the stream does the same: `due(t)` pops the labels due at or
    before event time t, in due order, just before that event's features are computed. Then both
    the delayed windows and the fraud streaks see labels in the order training saw them, however
    early an analyst gave the verdict. A label given after its due time is applied at once.

    Bounded: beyond `capacity` waiting labels, the earliest-due one is released early (counted).
    """

    def __init__(self, delay_s: float, capacity: int) -> None:
        self.delay_s = delay_s
        self.capacity = capacity
        self._heap: list[tuple[float, int, LabelEvent]] = []
        self._seq = 0
        self.released_early = 0

    def add(self, event: LabelEvent) -> LabelEvent | None:
        """Queue a label; returns one to apply now when the queue overflows."""
        due = event.transaction_timestamp + self.delay_s
        # known_at = due, as in training: it is also where the state prunes old buckets from.
        event = LabelEvent(
            event.transaction_id,
            event.is_fraud,
            event.transaction_timestamp,
            due,
            event.entities,
            event.previous,
        )
        heapq.heappush(self._heap, (due, self._seq, event))
        self._seq += 1
        if len(self._heap) > self.capacity:
            self.released_early += 1
            return heapq.heappop(self._heap)[2]
        return None

    def due(self, t: float) -> list[LabelEvent]:
        heap = self._heap
        out: list[LabelEvent] = []
        while heap and heap[0][0] <= t:
            out.append(heapq.heappop(heap)[2])
        return out

    def __len__(self) -> int:
        return len(self._heap)


class LabelFileError(ValueError):
    """A labels file (`fraudstream label --export`) with a line that is not a valid label."""


def read_label_file(path: str) -> dict[str, int]:
    """Transaction id -> 1 (confirmed fraud) or 0, from a JSON-lines dump of the labels topic;
    a later verdict on the same transaction replaces an earlier one (an analyst's correction)."""
    verdicts: dict[str, int] = {}
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            label = decode_label(line.rstrip(b"\r\n"))
            if not isinstance(label, Label):
                raise LabelFileError(
                    f"--labels {path}: line {n}: {label.field or 'record'}: {label.message}; "
                    "fix: give a file written by `fraudstream label --export`"
                )
            verdicts[label.transaction_id] = 1 if label.is_fraud else 0
    return verdicts


def relabel(events: Iterable[Event], verdicts: Mapping[str, int]) -> Iterator[Event]:
    """The events with the label of each transaction named in `verdicts` replaced (or added)."""
    for ev in events:
        v = verdicts.get(ev.transaction_id)
        if v is not None:
            ev.label = v
        yield ev
