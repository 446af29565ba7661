"""The admission core (`pipeline.Admission`) on its own, with no broker: one input record in,
exactly one `Work` or `Rejected` out, with real `FeatureState`s and the worker's own rules
(`Settings.admission_rules`)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from fraudstream import input_checks
from fraudstream.features import FeatureSpec, FeatureState, VelocityBlock
from fraudstream.mapping import Mapping
from fraudstream.pipeline import Admission, AdmissionRules, InputRecord, Rejected, Work
from fraudstream.records import parse_rfc3339, validate_transaction
from fraudstream.testing import prefixed_settings, transaction

WORKER = "w1"
TOPIC = "t-tx"
SETTINGS = prefixed_settings("127.0.0.1:1", "t")
RULES = SETTINGS.admission_rules(WORKER)
T0 = parse_rfc3339(transaction()["timestamp"])
assert T0 is not None
WALL = T0 + 60.0
"""Wall-clock time of the tests: a minute after `transaction()`'s timestamp."""
NOW = 1_000.0
"""Monotonic time of the tests."""
DEAD_LETTER = Draft202012Validator(
    json.loads(
        (Path(__file__).resolve().parents[2] / "schemas" / "dead_letter.schema.json").read_text()
    )
)


def admission(mapping: Mapping | None = None, **changes: Any) -> Admission:
    rules = dataclasses.replace(RULES, **changes) if changes else RULES
    return Admission(mapping or Mapping.load("native"), rules)


def native_state() -> FeatureState:
    return FeatureState(FeatureSpec.native())


def tx(**changes: Any) -> bytes:
    return orjson.dumps(transaction(**changes))


def admit(
    adm: Admission,
    value: bytes | None,
    *,
    state: FeatureState | None = None,
    key: bytes | None = b"acc-0001",
    offset: int = 0,
    partition: int = 0,
    wall_now: float = WALL,
) -> Work | Rejected:
    # produced as it is read: no time in the topic
    rec = InputRecord(TOPIC, partition, offset, round(wall_now * 1000), key, value)
    state = native_state() if state is None else state  # an empty state is falsy
    return adm.admit(rec, state, now=NOW, wall_now=wall_now)


def rejected(out: Work | Rejected, kind: str, field: str | None = None) -> dict[str, Any]:
    """The dead letter of `out`, checked against the schema and against `out.error`."""
    assert isinstance(out, Rejected), out
    assert (out.error.kind, out.error.field) == (kind, field), out.error
    doc: dict[str, Any] = orjson.loads(out.payload)
    assert list(DEAD_LETTER.iter_errors(doc)) == [], doc
    assert doc["error"] == {"kind": kind, "field": field, "message": out.error.message}
    assert doc["source"]["topic"] == out.source.topic
    assert doc["source"]["offset"] == out.source.offset
    assert doc["processor"]["worker"] == WORKER
    assert doc["dead_lettered_at_ms"] == int(WALL * 1000)
    return doc


def iso(epoch_s: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch_s, UTC).isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------------------------ admitted


def test_a_valid_record_becomes_work_with_its_deadline_and_timings() -> None:
    adm = admission(latency_budget_s=0.025)
    state = native_state()
    ticks: Iterator[float] = iter([10.0, 10.004, 10.0065])
    value = tx()
    # produced 10 ms before it was read: that wait in the topic counts against the budget
    rec = InputRecord(TOPIC, 1, 41, round(WALL * 1000) - 10, b"acc-0001", value)
    out = adm.admit(rec, state, now=NOW, wall_now=WALL, clock=lambda: next(ticks))
    assert isinstance(out, Work), out
    assert out.source is rec
    assert out.record == transaction()
    assert out.read_at == 10.0  # the clock's first reading, not `now`
    assert out.deadline == pytest.approx(10.015)  # produced + latency budget
    assert out.timings == pytest.approx({"topic": 0.010, "decode": 0.004, "state": 0.0025})
    ev = out.event
    assert (ev.transaction_id, ev.timestamp, ev.amount) == ("tx-00000001", T0, 42.0)
    assert ev.entities == {"account": "acc-0001", "card": "4000000000000001", "merchant": "Tesco"}
    assert ev.categorical["channel"] == "card_present" and ev.narrative == "TESCO STORES 3417"
    assert out.flags == [] and out.input_reasons == []
    assert out.row.named()["account_count_1h"] == 1.0


def test_without_a_clock_the_deadline_counts_from_now() -> None:
    out = admit(admission(), tx())
    assert isinstance(out, Work)
    assert out.read_at == NOW
    assert out.deadline == pytest.approx(NOW + SETTINGS.latency_budget_ms / 1000.0)
    assert out.timings == {"topic": 0.0, "decode": 0.0, "state": 0.0}


@pytest.mark.parametrize(
    ("timestamp_ms", "deadline_from_produced", "topic", "deadline"),
    [
        (round(WALL * 1000) - 30, True, 0.030, NOW + 0.020),  # waited 30 ms in the topic
        (round(WALL * 1000) - 80, True, 0.080, NOW - 0.030),  # late before it was read
        (round(WALL * 1000) + 5_000, True, 0.0, NOW + 0.050),  # producer's clock ahead: read time
        (None, True, 0.0, NOW + 0.050),  # no timestamp: read time
        (-1, True, 0.0, NOW + 0.050),  # "no timestamp" as old clients write it
        (round(WALL * 1000) - 30, False, 0.030, NOW + 0.050),  # deadline_from: read
    ],
)
def test_the_deadline_runs_from_the_kafka_timestamp_bounded_by_the_read_time(
    timestamp_ms: int | None, deadline_from_produced: bool, topic: float, deadline: float
) -> None:
    adm = admission(latency_budget_s=0.050, deadline_from_produced=deadline_from_produced)
    rec = InputRecord(TOPIC, 0, 0, timestamp_ms, b"acc-0001", tx())
    out = adm.admit(rec, native_state(), now=NOW, wall_now=WALL)
    assert isinstance(out, Work), out
    assert out.timings["topic"] == pytest.approx(topic, abs=1e-6)
    assert out.deadline == pytest.approx(deadline, abs=1e-6)


def test_the_setting_names_where_the_deadline_starts() -> None:
    assert SETTINGS.admission_rules(WORKER).deadline_from_produced
    read = dataclasses.replace(SETTINGS, deadline_from="read")
    assert not read.admission_rules(WORKER).deadline_from_produced


def test_admitted_records_fold_into_their_partitions_state() -> None:
    adm = admission()
    state = native_state()
    first = admit(adm, tx(transaction_id="tx-1", amount=10.0), state=state, offset=0)
    second = admit(adm, tx(transaction_id="tx-2", amount=32.0), state=state, offset=1)
    assert isinstance(first, Work) and isinstance(second, Work)
    assert second.row.named()["account_count_1h"] == 2.0
    assert second.row.named()["account_sum_1h"] == 42.0
    other = admit(adm, tx(transaction_id="tx-3"), state=native_state(), offset=2)
    assert isinstance(other, Work) and other.row.named()["account_count_1h"] == 1.0


def test_a_rejected_record_leaves_the_state_untouched() -> None:
    adm = admission()
    state = native_state()
    assert isinstance(admit(adm, tx(transaction_id="tx-1", amount=-1), state=state), Rejected)
    out = admit(adm, tx(transaction_id="tx-2"), state=state, offset=1)
    assert isinstance(out, Work) and out.row.named()["account_count_1h"] == 1.0


# ------------------------------------------------------------------------------ rejected


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (b"{not json", "not_json"),
        (None, "not_json"),
        (b"[1, 2]", "not_object"),
        (b"\xff\xfe{}", "not_utf8"),
        (b'{"amount": NaN}', "bad_value"),
    ],
)
def test_a_record_that_is_not_a_json_object_is_a_dead_letter_alone(
    value: bytes | None, kind: str
) -> None:
    out = admit(admission(), value)
    doc = rejected(out, kind)
    assert isinstance(out, Rejected) and out.ids is None  # no payment named: no review score
    assert out.output_key == b"acc-0001"
    if value is not None and kind != "not_utf8":
        assert doc["payload"].encode() == value and doc["payload_encoding"] == "utf8"


def test_a_record_over_max_message_bytes_is_too_large() -> None:
    value = tx(narrative="x" * 900)
    out = admit(admission(max_message_bytes=len(value) - 1), value)
    rejected(out, "too_large")
    assert isinstance(out, Rejected) and str(len(value)) in out.error.message
    assert isinstance(admit(admission(max_message_bytes=len(value)), value), Work)


@pytest.mark.parametrize(
    ("changes", "kind", "field"),
    [
        ({"currency": "eur"}, "bad_value", "currency"),
        ({"amount": "12.00"}, "wrong_type", "amount"),
        ({"amount": 2e9}, "bad_amount", "amount"),
        ({"channel": "carrier_pigeon"}, "bad_value", "channel"),
        (
            {"merchant": {"name": "Tesco", "mcc": "54A1", "country": "GB"}},
            "bad_value",
            "merchant.mcc",
        ),
        ({"merchant": {"name": "Tesco", "mcc": "5411"}}, "missing_field", "merchant.country"),
        ({"device": {"id": "d 1", "ip_country": "GB"}}, "bad_value", "device.id"),
        ({"timestamp": "2026-01-15T10:30:00"}, "bad_timestamp", "timestamp"),
        ({"metadata": {"is_fraud": "maybe"}}, "bad_value", "metadata.is_fraud"),
    ],
)
def test_a_schema_violation_names_the_field_and_keeps_the_payment_ids(
    changes: dict[str, Any], kind: str, field: str
) -> None:
    value = tx(transaction_id="tx-bad", **changes)
    out = admit(admission(), value)
    doc = rejected(out, kind, field)
    assert isinstance(out, Rejected) and out.ids == ("tx-bad", "acc-0001")
    assert doc["payload"].encode() == value


def test_a_missing_field_is_named() -> None:
    record = transaction()
    del record["narrative"]
    out = admit(admission(), orjson.dumps(record))
    rejected(out, "missing_field", "narrative")
    assert isinstance(out, Rejected) and out.error.message == "required field is missing"


@pytest.mark.parametrize(
    ("timestamp", "message"),
    [
        # valid RFC 3339 whose offset takes the instant outside what the mapping reads
        (
            "1970-01-01T00:30:00+01:00",
            "outside 1970-01-01..2200-01-01: '1970-01-01T00:30:00+01:00'",
        ),
        (
            "2199-12-31T23:30:00-05:00",
            "outside 1970-01-01..2200-01-01: '2199-12-31T23:30:00-05:00'",
        ),
    ],
)
def test_a_time_zone_past_the_epoch_range_is_a_bad_timestamp(timestamp: str, message: str) -> None:
    out = admit(admission(max_event_age_s=1e12, max_future_skew_s=1e12), tx(timestamp=timestamp))
    rejected(out, "bad_timestamp", "timestamp")
    assert isinstance(out, Rejected) and out.error.message == message


def test_an_unknown_flat_dotted_field_the_mapping_reads_is_still_type_checked() -> None:
    # no `counterparty` object: the mapping reads the flat key `counterparty.country`, which the
    # schema ignores (not strict) as an unknown field
    out = admit(admission(), orjson.dumps({**transaction(), "counterparty.country": {"a": 1}}))
    rejected(out, "wrong_type", "counterparty.country")
    flat = admit(admission(), orjson.dumps({**transaction(), "counterparty.country": "FR"}))
    assert isinstance(flat, Work) and flat.event.categorical["counterparty_country"] == "FR"
    assert input_checks.UNKNOWN_FIELDS in flat.flags


@pytest.mark.parametrize(
    ("key", "words"),
    [(None, "the record key is null"), (b"", "the record key is empty")],
)
def test_a_record_without_a_key_is_a_bad_key(key: bytes | None, words: str) -> None:
    out = admit(admission(), tx(transaction_id="tx-nokey"), key=key)
    rejected(out, "bad_key")
    assert isinstance(out, Rejected) and out.error.message.startswith(words)
    assert out.ids == ("tx-nokey", "acc-0001") and out.output_key == key
    assert isinstance(admit(admission(require_key=False), tx(), key=None), Work)


def test_a_bad_key_wins_over_bad_json_and_over_a_schema_violation() -> None:
    rejected(admit(admission(), b"{not json", key=None), "bad_key")
    out = admit(admission(), tx(amount=-1), key=None)
    rejected(out, "bad_key")
    assert isinstance(out, Rejected) and out.ids == ("tx-00000001", "acc-0001")


def test_a_key_over_max_key_bytes_goes_out_under_its_sha256() -> None:
    adm = admission(max_key_bytes=64)
    assert isinstance(admit(adm, tx(), key=b"k" * 64), Work)  # at the limit: fine
    key = b"k" * 65
    out = admit(adm, tx(transaction_id="tx-bigkey"), key=key)
    doc = rejected(out, "bad_key")
    digest = hashlib.sha256(key).hexdigest()
    assert isinstance(out, Rejected)
    assert out.error.message == (
        f"the record key is 65 bytes, over max_key_bytes (64); its sha256 is {digest}"
    )
    assert out.output_key == digest.encode()
    assert out.ids == ("tx-bigkey", "acc-0001")
    assert doc["source"]["key"] == key.decode()  # under the dead letter's own 256-byte cut


@pytest.mark.parametrize(
    ("offset_s", "admitted"),
    [
        (-300.0, True),  # the future skew limit itself
        (-301.0, False),
        (-3600.0, False),
        (3600.0, True),
        (7299 * 86400.0, True),
        (7301 * 86400.0, False),
    ],
)
def test_timestamps_too_far_in_the_future_or_too_old_are_bad(
    offset_s: float, admitted: bool
) -> None:
    """`offset_s`: how long before the wall clock the transaction happened."""
    out = admit(admission(), tx(timestamp=iso(WALL - offset_s)))
    if admitted:
        assert isinstance(out, Work), out
        return
    rejected(out, "bad_timestamp", "timestamp")
    assert isinstance(out, Rejected) and out.ids == ("tx-00000001", "acc-0001")
    if offset_s < 0:
        assert out.error.message == (
            f"the transaction is {-offset_s:.0f} s in the future, over max_future_skew_s"
        )
    else:
        assert out.error.message == (
            f"the transaction is {offset_s / 86400:.0f} days old, over max_event_age_days"
        )


def test_the_age_limit_follows_the_settings() -> None:
    adm = admission(max_event_age_s=3600.0)
    assert isinstance(admit(adm, tx(timestamp=iso(WALL - 3600))), Work)
    rejected(admit(adm, tx(timestamp=iso(WALL - 3601))), "bad_timestamp", "timestamp")


# ------------------------------------------------------------------------------ duplicates


def test_a_replay_is_admitted_a_retry_is_dead_lettered_and_changed_content_is_flagged() -> None:
    adm = admission()
    state = native_state()
    first = tx(transaction_id="tx-1", amount=10.0)
    assert isinstance(admit(adm, first, state=state, offset=5), Work)
    # the same record read again (a replay after a crash): scored again, no flag
    replay = admit(adm, first, state=state, offset=5)
    assert isinstance(replay, Work) and replay.flags == []
    # the same bytes at another offset: a producer's retry; the first copy's score stands
    retry = admit(adm, first, state=state, offset=9)
    rejected(retry, "duplicate", "transaction_id")
    assert isinstance(retry, Rejected)
    assert retry.error.message == f"transaction id already seen at {TOPIC}[0]@5"
    assert retry.ids is None
    # other bytes under the same id: a second payment, scored and flagged
    changed = admit(adm, tx(transaction_id="tx-1", amount=9000.0), state=state, offset=10)
    assert isinstance(changed, Work)
    assert changed.flags == [input_checks.CHANGED_DUPLICATE]
    assert changed.input_reasons == [
        input_checks.reason("the transaction id was seen before with other content")
    ]


def test_duplicates_are_per_partition_and_revoke_forgets_one_partition() -> None:
    adm = admission()
    value = tx(transaction_id="tx-1")
    for partition in (0, 1):
        out = admit(adm, value, partition=partition, offset=0)
        assert isinstance(out, Work), out  # another partition's ids are not this one's
    adm.revoke((TOPIC, 0))
    assert isinstance(admit(adm, value, partition=0, offset=3), Work)  # forgotten
    rejected(admit(adm, value, partition=1, offset=3), "duplicate", "transaction_id")
    adm.revoke((TOPIC, 7))  # a partition it never saw: nothing to forget, no error


def test_the_duplicate_memory_is_bounded_by_the_window() -> None:
    adm = admission(duplicate_window=2)
    values = [tx(transaction_id=f"tx-{i}") for i in range(3)]
    for i, v in enumerate(values):
        assert isinstance(admit(adm, v, offset=i), Work)
    assert isinstance(admit(adm, values[0], offset=10), Work)  # the oldest fell out
    rejected(admit(adm, values[2], offset=11), "duplicate", "transaction_id")


def test_a_rejected_record_is_not_remembered_as_seen() -> None:
    adm = admission()
    rejected(
        admit(adm, tx(transaction_id="tx-1", timestamp=iso(WALL + 3600)), offset=0),
        "bad_timestamp",
        "timestamp",
    )
    out = admit(adm, tx(transaction_id="tx-1"), offset=1)
    assert isinstance(out, Work) and out.flags == []


# ------------------------------------------------------------------------------ fail closed


@pytest.mark.parametrize(
    ("record", "ids"),
    [
        ({**transaction(transaction_id="tx-7"), "amount": None}, ("tx-7", "acc-0001")),
        ({"transaction_id": "tx-8"}, ("tx-8", "")),  # no account: the id alone still names it
        ({"transaction_id": 17, "account_id": "acc-9"}, ("17", "acc-9")),
        ({"account_id": "acc-9"}, None),
        ({"transaction_id": "tx\n9", "account_id": "acc-9"}, None),  # not printable
        ({"transaction_id": "x" * 129, "account_id": "acc-9"}, None),
    ],
)
def test_rejected_ids_are_read_when_they_can_be(
    record: dict[str, Any], ids: tuple[str, str] | None
) -> None:
    out = admit(admission(), orjson.dumps(record))
    assert isinstance(out, Rejected), out
    assert out.ids == ids


def test_an_unscorable_payment_that_names_itself_gets_a_review_score_record() -> None:
    out = admit(admission(), tx(transaction_id="tx-r", currency="eur"))
    assert isinstance(out, Rejected) and out.ids is not None
    score = input_checks.unscorable_record(
        transaction_id=out.ids[0],
        account_id=out.ids[1],
        error=out.error,
        source={"topic": TOPIC, "partition": 0, "offset": 0, "timestamp_ms": None},
        model_version="m1",
        now_ms=1,
    )
    assert (score["transaction_id"], score["band"], score["score"]) == ("tx-r", "review", 1.0)
    assert score["flags"] == [input_checks.UNSCORABLE, "bad_value"]
    assert "(currency)" in score["reasons"][0]["text"]


# ------------------------------------------------------------------------------ input checks


def test_hidden_and_look_alike_characters_are_flagged_in_each_text_where_found() -> None:
    value = tx(
        narrative="safe\u200b account",
        counterparty={
            "name": "P\u0430ypal",
            "account": "GB29NWBK60161331926819",
            "country": "GB",
            "new_beneficiary": True,
        },
    )
    out = admit(admission(), value)
    assert isinstance(out, Work), out
    assert out.flags == ["hidden_characters", "confusable_letters"]
    assert [r["text"] for r in out.input_reasons] == [
        "hidden characters in the memo",
        "look-alike letters from another script in the payee name",
    ]
    assert out.event.narrative == "safe\u200b account"  # the model's reader normalises it


def test_strict_schema_dead_letters_what_it_otherwise_flags() -> None:
    adm = admission(strict_schema=True)
    rejected(admit(adm, tx(narrative="safe\u200b account")), "bad_value", "narrative")
    out = admit(adm, orjson.dumps({**transaction(), "loyalty_tier": "gold"}))
    rejected(out, "schema", "loyalty_tier")
    assert isinstance(out, Rejected) and out.ids == ("tx-00000001", "acc-0001")


def test_unknown_fields_are_flagged_once_with_the_changed_duplicate_flag_after() -> None:
    adm = admission()
    state = native_state()
    assert isinstance(admit(adm, tx(transaction_id="tx-1"), state=state), Work)
    extra = {"loyalty_tier": "gold", "merchant": {**transaction()["merchant"], "owner": "x"}}
    out = admit(adm, tx(transaction_id="tx-1", **extra), state=state, offset=1)
    assert isinstance(out, Work), out
    assert out.flags == [input_checks.UNKNOWN_FIELDS, input_checks.CHANGED_DUPLICATE]
    assert "loyalty_tier, merchant.owner" in out.input_reasons[0]["text"]


# ------------------------------------------------------------------------------ other mappings


def handbook_row(**changes: Any) -> bytes:
    row = {
        "TRANSACTION_ID": "3",
        "TX_DATETIME": "2026-01-15 10:30:00",
        "CUSTOMER_ID": "4128",
        "TERMINAL_ID": "8737",
        "TX_AMOUNT": "64.49",
        "TX_FRAUD": "0",
    }
    row.update(changes)
    return orjson.dumps(row)


def test_the_handbook_mapping_reads_csv_like_strings_without_the_native_schema() -> None:
    adm = admission(Mapping.load("handbook"))
    state = FeatureState(FeatureSpec.handbook())
    out = admit(adm, handbook_row(EXTRA="ignored"), state=state, key=b"4128")
    assert isinstance(out, Work), out
    ev = out.event
    assert (ev.transaction_id, ev.timestamp, ev.amount) == ("3", T0, 64.49)
    assert ev.entities == {"account": "4128", "card": "4128", "terminal": "8737"}
    assert ev.label == 0
    assert out.flags == []  # no native texts, no unknown-field check for a mapped schema
    bad = admit(adm, handbook_row(TRANSACTION_ID="4", TX_AMOUNT="lots"), state=state, key=b"4128")
    rejected(bad, "bad_amount", "TX_AMOUNT")
    assert isinstance(bad, Rejected) and bad.error.message == "not a number: 'lots'"
    assert bad.ids == ("4", "4128")
    old = admit(
        adm,
        handbook_row(TRANSACTION_ID="5", TX_DATETIME="1990-04-01 00:09:29"),
        state=state,
        key=b"4128",
    )
    rejected(old, "bad_timestamp", "timestamp")


BANK_YAML = """\
name: bank
id: ref.id
timestamp: {field: booked_at_ms, format: epoch_ms}
amount: value
key: account
entities:
  account: customer
  merchant: shop
narrative: [memo, payee]
numeric: {balance: balance}
categorical: {kind: kind}
"""


def bank_record(**changes: Any) -> bytes:
    record: dict[str, Any] = {
        "ref": {"id": "B-1"},
        "booked_at_ms": int(T0 * 1000),
        "value": 12.5,
        "customer": "C-9",
        "shop": "Corner Shop",
        "memo": "weekly shop",
        "payee": "Corner Shop Ltd",
        "balance": "1200.50",
        "kind": "pos",
        "whatever": {"unknown": True},
    }
    record.update(changes)
    return orjson.dumps(record)


@pytest.fixture
def bank(tmp_path: Path) -> Mapping:
    path = tmp_path / "bank.yaml"
    path.write_text(BANK_YAML)
    return Mapping.load(path)


def bank_state() -> FeatureState:
    return FeatureState(
        FeatureSpec(
            velocity=(VelocityBlock(role="account", windows=(3600.0,), aggregates=("count",)),),
            numeric_fields=("balance",),
            categorical_fields=("kind",),
        )
    )


def test_a_yaml_mapping_of_renamed_fields_is_admitted_through_its_paths(bank: Mapping) -> None:
    adm = admission(bank)
    state = bank_state()
    out = admit(adm, bank_record(), state=state, key=b"C-9")
    assert isinstance(out, Work), out
    ev = out.event
    assert (ev.transaction_id, ev.timestamp, ev.amount) == ("B-1", T0, 12.5)
    assert ev.entities == {"account": "C-9", "merchant": "Corner Shop"}
    assert ev.narrative == "weekly shop | Corner Shop Ltd"
    assert ev.numeric == {"balance": 1200.5} and ev.categorical == {"kind": "pos"}
    assert out.flags == []  # its unknown field is not the native schema's business
    assert out.row.named()["account_count_1h"] == 1.0
    # hidden characters in its narrative are flagged, as the memo
    hidden = admit(
        adm, bank_record(ref={"id": "B-2"}, memo="gift\u200bcard"), state=state, key=b"C-9"
    )
    assert isinstance(hidden, Work) and hidden.flags == ["hidden_characters"]
    assert hidden.input_reasons[0]["text"] == "hidden characters in the memo"
    # its errors name its own paths; duplicates work on its id
    bad = admit(adm, bank_record(ref={"id": "B-3"}, balance="n/a"), state=state, key=b"C-9")
    rejected(bad, "bad_value", "balance")
    assert isinstance(bad, Rejected) and bad.ids == ("B-3", "C-9")
    rejected(
        admit(adm, bank_record(), state=state, key=b"C-9", offset=4), "duplicate", "transaction_id"
    )
    missing = admit(adm, bank_record(ref="B-4"), state=state, key=b"C-9")
    rejected(missing, "wrong_type", "ref.id")
    assert isinstance(missing, Rejected) and missing.ids is None


def test_a_mapping_named_native_that_reads_other_fields_still_checks_them() -> None:
    """Such a mapping gets the schema's rules (it is named native) and then all of its own:
    the schema has not checked the fields it reads instead of the native ones."""
    config = {
        **Mapping.load("native").to_dict(),
        "amount": "metadata.amount_eur",
        "numeric": {"risk": "metadata.risk"},
    }
    mapping = Mapping.from_dict(config)
    assert mapping.name == "native" and not mapping.reads_native_schema
    adm = admission(mapping)
    out = admit(adm, tx(metadata={"amount_eur": "12.5", "risk": "0.25"}))
    assert isinstance(out, Work), out
    assert out.event.amount == 12.5 and out.event.numeric == {"risk": 0.25}
    bad = admit(adm, tx(transaction_id="tx-2", metadata={"amount_eur": "lots"}))
    rejected(bad, "bad_amount", "metadata.amount_eur")
    bad = admit(adm, tx(transaction_id="tx-3", metadata={"amount_eur": 1, "risk": "high"}))
    rejected(bad, "bad_value", "metadata.risk")
    # and its records are still native ones: the schema's rules come first
    rejected(admit(adm, tx(transaction_id="tx-4", amount="12")), "wrong_type", "amount")


def test_native_records_are_admitted_exactly_when_the_schema_codec_accepts_them() -> None:
    adm = admission()
    state = native_state()
    base = transaction()
    cases = [{**base, name: value} for name in base for value in (None, 0, "", [], {}, "x")]
    admitted = 0
    for offset, record in enumerate(cases):
        out = admit(adm, orjson.dumps(record), state=state, offset=offset)
        err = validate_transaction(record, strict=False)
        if err is None:
            assert isinstance(out, Work), (record, out)
            admitted += 1
        else:
            assert isinstance(out, Rejected) and out.error == err, (record, out)
    assert 0 < admitted < len(cases)


def test_default_rules_are_the_settings_defaults() -> None:
    assert AdmissionRules(worker=WORKER) == RULES
