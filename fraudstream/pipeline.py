"""The pure core of the processor: from one input record to a unit of work or a dead letter, and
from a score to the output records.

Theory of operation
-------------------
`Admission.admit` takes a plain copy of a Kafka record and returns exactly one of:
  * `Work`: a valid transaction, mapped to an `Event`, folded into its partition's feature state,
    with its `FeatureRow` ready for scoring and its deadline set (the record's Kafka timestamp,
    or the time read, + latency budget);
  * `Rejected`: the dead-letter bytes to publish, with a machine-readable reason.
No input is dropped and nothing raises on bad input. The Kafka shell (`stream/worker.py` and its parts)
publishes what comes out and commits an offset only when all of it is acknowledged.

Output records are built by `score_record` and `alert_record`: plain dicts matching
`schemas/risk_score.schema.json` and `schemas/alert.schema.json`.

No asyncio, Kafka client, faust or torch here: time is passed in, so all of it runs in unit tests.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from fraudstream import __version__, input_checks
from fraudstream.events import Event
from fraudstream.features import FeatureRow
from fraudstream.logs import mask_identifiers
from fraudstream.mapping import Mapping as FieldMapping
from fraudstream.records import DecodeError, check_transaction, dead_letter, decode_json, mask

if TYPE_CHECKING:
    from fraudstream.batching import Ticket
    from fraudstream.runtime.scoring import Scoring

TP = tuple[str, int]


@dataclass(frozen=True, slots=True)
class InputRecord:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None

    @property
    def tp(self) -> TP:
        return (self.topic, self.partition)


@dataclass(slots=True)
class Work:
    """A transaction on its way to a score."""

    source: InputRecord
    record: dict[str, Any]
    event: Event
    row: FeatureRow
    read_at: float
    """Monotonic time when the record was read."""
    deadline: float
    """Monotonic time by which its score should be produced."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds spent per stage so far (decode, state, queue, inference, produce)."""
    stage1: float | None = None
    text: str | None = None
    """The narrative as the model reads it, when the cascade tracks what it has read."""
    narrative_risk: float | None = None
    """The narrative memory's risk for it when it was routed (None: unread or not tracked)."""
    tokens: int = 0
    token_ids: list[int] | None = None
    flags: list[str] = field(default_factory=list)
    input_reasons: list[dict[str, Any]] = field(default_factory=list)
    """Reasons about the input itself (`input_checks.py`): said on the score whatever it is."""
    queued_at: float | None = None
    """Monotonic time it joined the language model's queue (None: it never did)."""
    ticket: Ticket | None = None
    """The Kafka shell's handle for acknowledging this record's outputs."""
    scoring: Scoring | None = None
    """The model that routed this record: after a hot swap, records already routed finish on
    it, so every score names the version that made it."""

    @property
    def tracked_ticket(self) -> Ticket:
        """`ticket`, which the shell sets when it reads the record, before anything else."""
        assert self.ticket is not None, "work routed before the shell gave it a ticket"
        return self.ticket


@dataclass(frozen=True, slots=True)
class Rejected:
    source: InputRecord
    error: DecodeError
    payload: bytes
    """The dead-letter record, encoded."""
    ids: tuple[str, str] | None = None
    """(transaction id, account) when the record names its payment: it also gets a score
    record, band review (`input_checks.unscorable_record`)."""
    output_key: bytes | None = None
    """The key its outputs go with: the input's, or the sha256 of one over `max_key_bytes`."""


class PartitionState(Protocol):
    def process(self, event: Event, position: int | None = None) -> FeatureRow: ...


@dataclass(frozen=True, slots=True)
class AdmissionRules:
    max_message_bytes: int = 1_000_000
    dlq_max_payload_bytes: int = 900_000
    latency_budget_s: float = 0.050
    deadline_from_produced: bool = True
    """The budget runs from the record's Kafka timestamp (time in the topic counts), not from
    when it was read (`Settings.deadline_from`)."""
    max_event_age_s: float = 7300 * 86400.0
    max_future_skew_s: float = 300.0
    duplicate_window: int = 100_000
    require_key: bool = True
    max_key_bytes: int = 256
    strict_schema: bool = False
    """Dead-letter native records with unknown fields or hidden characters instead of scoring
    them with a flag (`input_checks.py`)."""
    worker: str = "fraudstream"


class Admission:
    """Decode → validate → map → duplicate check → per-entity state, for one worker."""

    def __init__(self, mapping: FieldMapping, rules: AdmissionRules) -> None:
        self.mapping = mapping
        self.rules = rules
        self.native = mapping.name == "native"
        """Native records: the wire schema's rules (`records.check_transaction`) before the
        mapping, and the input checks of their texts and unknown fields."""
        self._checked = self.native and mapping.reads_native_schema
        """The schema's checks cover what the mapping reads: it reads without checking again
        (`Mapping.checked_event`), so a native record is validated once."""
        # transaction id -> (offset, content digest) of its first sighting, per partition;
        # bounded.
        self._seen: dict[TP, OrderedDict[str, tuple[int, bytes]]] = {}

    def revoke(self, tp: TP) -> None:
        self._seen.pop(tp, None)

    def admit(
        self,
        rec: InputRecord,
        state: PartitionState,
        *,
        now: float,
        wall_now: float,
        clock: Any = None,
    ) -> Work | Rejected:
        """`now` is monotonic (deadlines), `wall_now` epoch seconds (timestamp sanity)."""
        t0 = now if clock is None else clock()
        error = self._check_key(rec)
        obj = decode_json(rec.value, max_bytes=self.rules.max_message_bytes)
        if isinstance(obj, DecodeError):
            return self.reject(rec, error or obj, wall_now)
        if error is not None:
            return self.reject(rec, error, wall_now, obj)
        if self.native:
            checked = check_transaction(obj, strict=self.rules.strict_schema)
            if isinstance(checked, DecodeError):
                return self.reject(rec, checked, wall_now, obj)
            if self._checked:
                event = self.mapping.checked_event(obj, checked)
            else:
                event = self.mapping.to_event(obj)
        else:
            event = self.mapping.to_event(obj)
        if isinstance(event, DecodeError):
            return self.reject(rec, event, wall_now, obj)
        if error := self._check_time(event, wall_now):
            return self.reject(rec, error, wall_now, obj)
        seen = self._check_duplicate(rec, event)
        if isinstance(seen, DecodeError):
            return self.reject(rec, seen, wall_now)  # a retry: the first copy's score stands
        flags, reasons = input_checks.text_findings(
            input_checks.native_texts(obj, event.narrative)
            if self.native
            else {"memo": event.narrative}
        )
        if self.native and not self.rules.strict_schema:
            more_flags, more_reasons = input_checks.unknown_field_findings(obj)
            flags += more_flags
            reasons += more_reasons
        if seen:
            flags.append(input_checks.CHANGED_DUPLICATE)
            reasons.append(
                input_checks.reason("the transaction id was seen before with other content")
            )
        t1 = now if clock is None else clock()
        row = state.process(event, rec.offset)
        t2 = now if clock is None else clock()
        waited = self.time_in_topic(rec, wall_now)
        start = t0 - waited if self.rules.deadline_from_produced else t0
        return Work(
            source=rec,
            record=obj,
            event=event,
            row=row,
            read_at=t0,
            deadline=start + self.rules.latency_budget_s,
            timings={"topic": waited, "decode": t1 - t0, "state": t2 - t1},
            flags=flags,
            input_reasons=reasons,
        )

    @staticmethod
    def time_in_topic(rec: InputRecord, wall_now: float) -> float:
        """Seconds from the record's Kafka timestamp to its reading (`wall_now`): 0 without a
        timestamp, or when the producer's clock is ahead of this machine's."""
        if rec.timestamp_ms is None or rec.timestamp_ms < 0:
            return 0.0
        return max(0.0, wall_now - rec.timestamp_ms / 1000.0)

    def reject(
        self,
        rec: InputRecord,
        error: DecodeError,
        wall_now: float,
        obj: Mapping[str, Any] | None = None,
    ) -> Rejected:
        """The dead letter; with `obj`, the decoded record, the payment's ids when readable."""
        payload = dead_letter(
            error,
            topic=rec.topic,
            partition=rec.partition,
            offset=rec.offset,
            timestamp_ms=rec.timestamp_ms,
            key=rec.key,
            value=rec.value,
            now_ms=int(wall_now * 1000),
            processor_version=__version__,
            worker=self.rules.worker,
            max_payload_bytes=self.rules.dlq_max_payload_bytes,
        )
        ids = self.mapping.readable_ids(obj) if obj is not None else None
        key = rec.key
        if key is not None and len(key) > self.rules.max_key_bytes:
            key = _key_digest(key).encode()
        return Rejected(rec, error, payload, ids, key)

    def _check_key(self, rec: InputRecord) -> DecodeError | None:
        if self.rules.require_key and not rec.key:
            what = "null" if rec.key is None else "empty"
            return DecodeError(
                "bad_key", f"the record key is {what}; the producer must key records by account id"
            )
        if rec.key is not None and len(rec.key) > self.rules.max_key_bytes:
            return DecodeError(
                "bad_key",
                f"the record key is {len(rec.key):,} bytes, over max_key_bytes "
                f"({self.rules.max_key_bytes}); its sha256 is {_key_digest(rec.key)}",
            )
        return None

    def _check_time(self, event: Event, wall_now: float) -> DecodeError | None:
        age = wall_now - event.timestamp
        if age > self.rules.max_event_age_s:
            return DecodeError(
                "bad_timestamp",
                f"the transaction is {age / 86400:.0f} days old, over max_event_age_days",
                "timestamp",
            )
        if -age > self.rules.max_future_skew_s:
            return DecodeError(
                "bad_timestamp",
                f"the transaction is {-age:.0f} s in the future, over max_future_skew_s",
                "timestamp",
            )
        return None

    def _check_duplicate(self, rec: InputRecord, event: Event) -> DecodeError | bool:
        """A second record with an id already seen and the same bytes is a producer's retry:
        dead-lettered, since scoring it again would alert twice. With other content it is a
        second payment under a known id: True (scored, flagged). The same record read again (a
        replay after a crash) is neither: False."""
        seen = self._seen.get(rec.tp)
        if seen is None:
            seen = self._seen[rec.tp] = OrderedDict()
        digest = input_checks.content_digest(rec.value)
        first = seen.get(event.transaction_id)
        if first is None:
            seen[event.transaction_id] = (rec.offset, digest)
            if len(seen) > self.rules.duplicate_window:
                seen.popitem(last=False)
            return False
        offset, first_digest = first
        if offset == rec.offset:
            return False
        if digest != first_digest:
            return True
        return DecodeError(
            "duplicate",
            f"transaction id already seen at {rec.topic}[{rec.partition}]@{offset}",
            "transaction_id",
        )


def _key_digest(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()


# ---------------------------------------------------------------------------------------------
# Output records


@dataclass(frozen=True, slots=True)
class Decision:
    score: float
    band: str
    reasons: Sequence[Mapping[str, Any]]
    model_version: str
    stage: str
    alert: bool


def band_of(score: float, alert_threshold: float, block_threshold: float) -> str:
    if score >= block_threshold:
        return "block"
    if score >= alert_threshold:
        return "review"
    return "allow"


def score_record(work: Work, decision: Decision, *, now_ms: int) -> dict[str, Any]:
    src = work.source
    return {
        "transaction_id": work.event.transaction_id,
        "account_id": work.event.entities.get("account", ""),
        "score": round(decision.score, 6),
        "band": decision.band,
        # a reason may quote the narrative: no card or account number in it
        "reasons": [_masked_reason(r) for r in decision.reasons],
        "model_version": decision.model_version,
        "stage": decision.stage,
        "flags": work.flags,
        "timings_ms": {k: round(v * 1000.0, 3) for k, v in work.timings.items()},
        "source": {
            "topic": src.topic,
            "partition": src.partition,
            "offset": src.offset,
            "timestamp_ms": src.timestamp_ms,
        },
        "scored_at_ms": now_ms,
    }


def _masked_reason(reason: Mapping[str, Any]) -> dict[str, Any]:
    text = reason.get("text")
    return {**reason, "text": mask_identifiers(text)} if isinstance(text, str) else dict(reason)


def account_ref(account: str) -> str:
    """A stable pseudonym of an account for joining and filtering alerts without the number."""
    return hashlib.sha256(account.encode()).hexdigest()[:20]


def alert_record(score: dict[str, Any], work: Work, threshold: float) -> dict[str, Any]:
    """The score (account masked) plus a transaction summary with account and card masked."""
    ev = work.event
    account = ev.entities.get("account", "")
    score = {**score, "account_id": mask(account)}
    rec = work.record
    merchant = rec.get("merchant") if isinstance(rec.get("merchant"), dict) else None
    counterparty = rec.get("counterparty") if isinstance(rec.get("counterparty"), dict) else None
    return {
        "alert_id": f"alert-{ev.transaction_id}",
        "threshold": threshold,
        "score_record": score,
        "transaction": {
            "transaction_id": ev.transaction_id,
            "account": mask(account),
            "account_ref": account_ref(account),
            "card": mask(ev.entities.get("card")),
            "timestamp": rec.get("timestamp")
            if isinstance(rec.get("timestamp"), str)
            else _iso(ev.timestamp),
            "amount": ev.amount,
            "currency": rec.get("currency") if isinstance(rec.get("currency"), str) else "",
            "channel": ev.categorical.get("channel"),
            "merchant": merchant.get("name") if merchant else ev.entities.get("merchant"),
            "merchant_country": merchant.get("country") if merchant else None,
            "counterparty_country": counterparty.get("country") if counterparty else None,
            "narrative": mask_identifiers(ev.narrative) if ev.narrative else None,
        },
    }


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
