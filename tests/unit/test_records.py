"""The orjson codec and the JSON Schema must agree on what a valid transaction is."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from fraudstream.records import (
    DecodeError,
    check_transaction,
    dead_letter,
    decode_json,
    decode_transaction,
    mask,
    parse_rfc3339,
    validate_transaction,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


@pytest.fixture(scope="module")
def schema() -> Draft202012Validator:
    doc = json.loads((SCHEMAS / "transaction.schema.json").read_text())
    Draft202012Validator.check_schema(doc)
    return Draft202012Validator(doc, format_checker=FormatChecker())


def valid() -> dict[str, Any]:
    return {
        "transaction_id": "tx-1",
        "account_id": "acc-42",
        "card_id": "4111111111111111",
        "timestamp": "2026-03-01T12:34:56.123Z",
        "amount": 12.5,
        "currency": "EUR",
        "narrative": "TESCO STORES 3417",
        "channel": "card_present",
        "merchant": {"id": "m-1", "name": "Tesco", "mcc": "5411", "country": "GB"},
        "counterparty": {
            "name": "Jane Doe",
            "account": "GB29NWBK60161331926819",
            "country": "GB",
            "new_beneficiary": False,
        },
        "device": {"id": "dev-9", "ip_country": "GB"},
        "metadata": {"anything": [1, {"goes": None}]},
    }


def mutate(path: str, value: Any) -> dict[str, Any]:
    rec = copy.deepcopy(valid())
    *parents, leaf = path.split(".")
    node = rec
    for p in parents:
        node = node[p]
    if value is DELETE:
        del node[leaf]
    else:
        node[leaf] = value
    return rec


DELETE = object()

VALID_VARIANTS = [
    valid(),
    mutate("narrative", ""),
    mutate("narrative", "rent split March\nthanks\tx"),
    mutate("narrative", "Оплата услуг связи"),
    mutate("narrative", "café crème à Paris 😀"),
    mutate("timestamp", "2026-03-01T12:34:56+05:30"),
    mutate("timestamp", "2026-03-01t12:34:56z"),
    mutate("timestamp", "1970-01-01T00:00:00Z"),
    mutate("amount", 0),
    mutate("amount", 1_000_000_000),
    mutate("counterparty", DELETE),
    mutate("device", DELETE),
    mutate("metadata", DELETE),
    mutate("card_id", DELETE),
    mutate("merchant.id", DELETE),
    mutate("channel", "wallet_topup"),
]

INVALID_VARIANTS = {
    "missing id": mutate("transaction_id", DELETE),
    "missing narrative": mutate("narrative", DELETE),
    "missing merchant": mutate("merchant", DELETE),
    "missing mcc": mutate("merchant.mcc", DELETE),
    "empty id": mutate("transaction_id", ""),
    "id with space": mutate("account_id", "acc 42"),
    "id too long": mutate("transaction_id", "x" * 129),
    "id number": mutate("transaction_id", 17),
    "amount string": mutate("amount", "12.5"),
    "amount bool": mutate("amount", True),
    "amount negative": mutate("amount", -0.01),
    "amount huge": mutate("amount", 1e308),
    "amount null": mutate("amount", None),
    "currency lower": mutate("currency", "eur"),
    "currency long": mutate("currency", "EURO"),
    "timestamp no zone": mutate("timestamp", "2026-03-01T12:34:56"),
    "timestamp date only": mutate("timestamp", "2026-03-01"),
    "timestamp month 13": mutate("timestamp", "2026-13-01T00:00:00Z"),
    "timestamp feb 30": mutate("timestamp", "2026-02-30T00:00:00Z"),
    "timestamp year 1969": mutate("timestamp", "1969-12-31T23:59:59Z"),
    "timestamp year 9999": mutate("timestamp", "9999-01-01T00:00:00Z"),
    "timestamp epoch number": mutate("timestamp", 1700000000),
    "narrative number": mutate("narrative", 5),
    "narrative too long": mutate("narrative", "a" * 1001),
    "narrative zero width": mutate("narrative", "pay\u200bpal"),
    "narrative bidi": mutate("narrative", "invoice \u202egnp.exe"),
    "narrative control": mutate("narrative", "bell\x07"),
    "narrative nul": mutate("narrative", "nul\x00byte"),
    "narrative homoglyph": mutate("narrative", "refund from Pаypal"),
    "narrative bom": mutate("narrative", "\ufeffhello"),
    "channel unknown": mutate("channel", "carrier_pigeon"),
    "merchant not object": mutate("merchant", "Tesco"),
    "merchant extra": mutate("merchant.owner", "x"),
    "mcc letters": mutate("merchant.mcc", "54A1"),
    "country long": mutate("merchant.country", "GBR"),
    "merchant name homoglyph": mutate("merchant.name", "Аmazon"),
    "counterparty missing flag": mutate("counterparty.new_beneficiary", DELETE),
    "counterparty flag string": mutate("counterparty.new_beneficiary", "yes"),
    "counterparty account empty": mutate("counterparty.account", ""),
    "device missing ip": mutate("device.ip_country", DELETE),
    "device null": mutate("device", None),
    "metadata list": mutate("metadata", [1, 2]),
    "unknown top field": mutate("is_fraud", 1),
}


@pytest.mark.parametrize("record", VALID_VARIANTS)
def test_valid_records_pass_both(schema: Draft202012Validator, record: dict[str, Any]) -> None:
    assert list(schema.iter_errors(record)) == []
    assert validate_transaction(record) is None


@pytest.mark.parametrize("name", sorted(INVALID_VARIANTS))
def test_invalid_records_fail_both(schema: Draft202012Validator, name: str) -> None:
    record = INVALID_VARIANTS[name]
    assert list(schema.iter_errors(record)), f"schema accepted {name}"
    err = validate_transaction(record)
    assert isinstance(err, DecodeError), f"codec accepted {name}"
    assert err.message


@pytest.mark.parametrize("strict", [True, False])
def test_check_transaction_is_validate_transaction_with_the_timestamp(strict: bool) -> None:
    """The admission's form of the codec: the same verdict, and a valid record's timestamp."""
    for record in VALID_VARIANTS:
        assert check_transaction(record, strict=strict) == parse_rfc3339(record["timestamp"])
    for name, record in INVALID_VARIANTS.items():
        err = validate_transaction(record, strict=strict)
        checked = check_transaction(record, strict=strict)
        if err is None:  # not strict: unknown fields and hidden characters pass
            assert isinstance(checked, float), name
        else:
            assert checked == err, name


def test_codec_names_the_field() -> None:
    err = validate_transaction(mutate("merchant.mcc", "54A1"))
    assert err == DecodeError("bad_value", err.message if err else "", "merchant.mcc")
    err = validate_transaction(mutate("amount", -1))
    assert err is not None and (err.kind, err.field) == ("bad_amount", "amount")


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (None, "not_json"),
        (b"{not json", "not_json"),
        (b"[1, 2]", "not_object"),
        (b'"a string"', "not_object"),
        (b"\xff\xfe\x00garbage", "not_utf8"),
        (b'{"amount": NaN}', "bad_value"),
        (b'{"amount": -Infinity}', "bad_value"),
        (b'{"amount": 1e400}', "bad_value"),
        (b"[" * 10_000 + b"]" * 10_000, "too_deep"),
        (b'{"a": "' + b"x" * 30_000 + b'"}', "too_large"),
    ],
)
def test_decode_errors_are_values(raw: bytes | None, kind: str) -> None:
    result = decode_json(raw, max_bytes=25_000)
    assert isinstance(result, DecodeError)
    assert result.kind == kind


def test_decode_transaction_round_trip() -> None:
    rec = valid()
    assert decode_transaction(orjson.dumps(rec), max_bytes=10_000) == rec


def test_parse_rfc3339() -> None:
    assert parse_rfc3339("1970-01-01T00:00:00Z") == 0.0
    assert parse_rfc3339("1970-01-01T01:00:00+01:00") == 0.0
    assert parse_rfc3339("2026-02-30T00:00:00Z") is None


def test_mask_keeps_last_four() -> None:
    assert mask("4111111111111111") == "************1111"
    assert mask("abc") == "***"
    assert mask(None) is None


def test_dead_letter_keeps_original_bytes_and_validates() -> None:
    doc = json.loads((SCHEMAS / "dead_letter.schema.json").read_text())
    validator = Draft202012Validator(doc)
    for value, encoding in [(b"\xff\xfe raw", "base64"), (b"{bad json", "utf8"), (None, "utf8")]:
        out = orjson.loads(
            dead_letter(
                DecodeError("not_json", "broken"),
                topic="tx",
                partition=2,
                offset=7,
                timestamp_ms=123,
                key=b"acc-1",
                value=value,
                now_ms=456,
                processor_version="0.1.0",
                worker="w1",
                max_payload_bytes=1_000_000,
            )
        )
        validator.validate(out)
        assert out["payload_encoding"] == encoding
        assert out["source"] == {
            "topic": "tx",
            "partition": 2,
            "offset": 7,
            "timestamp_ms": 123,
            "key": "acc-1",
            "key_encoding": "utf8",
        }
        if value is not None and encoding == "utf8":
            assert out["payload"].encode() == value


def test_dead_letter_truncates_with_hash() -> None:
    big = b"x" * 5000
    out = orjson.loads(
        dead_letter(
            DecodeError("too_large", "big"),
            topic="tx",
            partition=0,
            offset=0,
            timestamp_ms=None,
            key=None,
            value=big,
            now_ms=0,
            processor_version="0.1.0",
            worker="w1",
            max_payload_bytes=100,
        )
    )
    assert out["payload_truncated"] is True
    assert out["payload_size"] == 5000
    assert len(out["payload"]) == 100
    assert len(out["payload_sha256"]) == 64
