"""Fail closed at admission (`pipeline.Admission`, `input_checks.py`): suspicious but valid content
is scored and flagged, a payment that cannot be scored but names itself gets a verdict, a re-sent
id is a retry only when its bytes are the same."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from fraudstream import input_checks
from fraudstream.features import FeatureSpec
from fraudstream.features.state import FeatureState
from fraudstream.mapping import Mapping
from fraudstream.pipeline import Admission, AdmissionRules, InputRecord, Rejected, Work
from fraudstream.records import DecodeError
from fraudstream.testing import transaction

NOW = time.time()


def admit(
    value: bytes | None,
    *,
    key: bytes | None = b"acc-0001",
    offset: int = 0,
    admission: Admission | None = None,
    state: FeatureState | None = None,
    strict: bool = False,
) -> Work | Rejected:
    admission = admission or Admission(Mapping.load("native"), AdmissionRules(strict_schema=strict))
    state = FeatureState(FeatureSpec.native()) if state is None else state  # empty is falsy
    rec = InputRecord("tx", 0, offset, None, key, value)
    return admission.admit(rec, state, now=0.0, wall_now=NOW)


def tx(**changes: Any) -> bytes:
    return orjson.dumps(transaction(**changes))


@pytest.mark.parametrize(
    ("changes", "flag", "words"),
    [
        ({"narrative": "safe\u200b account transfer"}, "hidden_characters", "memo"),
        ({"narrative": "PAY \u202eLAPYAP\u202c"}, "hidden_characters", "memo"),
        ({"narrative": "bell\x07 ring"}, "hidden_characters", "memo"),
        ({"narrative": "refund from P\u0430ypal"}, "confusable_letters", "memo"),
        (
            {"narrative": "\uff35\uff32\uff27\uff25\uff2e\uff34 transfer"},
            "compatibility_forms",
            "memo",
        ),
        (
            {"merchant": {"name": "\u0410mazon", "mcc": "5411", "country": "GB"}},
            "confusable_letters",
            "merchant name",
        ),
    ],
)
def test_suspicious_text_is_scored_with_a_flag_and_a_reason(
    changes: dict[str, Any], flag: str, words: str
) -> None:
    out = admit(tx(**changes))
    assert isinstance(out, Work), out
    assert flag in out.flags
    assert any(words in r["text"] for r in out.input_reasons), out.input_reasons


def test_strict_schema_dead_letters_hidden_characters_as_before() -> None:
    out = admit(tx(narrative="safe\u200b account"), strict=True)
    assert isinstance(out, Rejected) and out.error.kind == "bad_value"


def test_unknown_fields_are_ignored_and_flagged_unless_strict() -> None:
    value = orjson.dumps(
        {
            **transaction(),
            "loyalty_tier": "gold",
            "device": {"id": "d1", "ip_country": "GB", "os": "ios"},
        }
    )
    out = admit(value)
    assert isinstance(out, Work)
    assert input_checks.UNKNOWN_FIELDS in out.flags
    assert "loyalty_tier" in out.input_reasons[0]["text"]
    assert "device.os" in out.input_reasons[0]["text"]
    strict = admit(value, strict=True)
    assert isinstance(strict, Rejected) and strict.error.kind == "schema"


def test_a_clean_transaction_has_no_input_flags() -> None:
    out = admit(tx())
    assert isinstance(out, Work)
    assert out.flags == [] and out.input_reasons == []


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (tx(amount=-5), "bad_amount"),
        (tx(amount="12.00"), "wrong_type"),
        (tx(timestamp="yesterday"), "bad_timestamp"),
        (tx(timestamp="1971-01-01T00:00:00Z"), "bad_timestamp"),
        (orjson.dumps({"transaction_id": "tx-9", "account_id": "acc-9"}), "missing_field"),
    ],
)
def test_a_payment_that_names_itself_but_cannot_be_scored_gets_a_review(
    value: bytes, kind: str
) -> None:
    out = admit(value)
    assert isinstance(out, Rejected) and out.error.kind == kind
    assert out.ids is not None
    record = input_checks.unscorable_record(
        transaction_id=out.ids[0],
        account_id=out.ids[1],
        error=out.error,
        source={"topic": "tx", "partition": 0, "offset": 0, "timestamp_ms": None},
        model_version="m1",
        now_ms=1,
    )
    assert record["band"] == "review" and record["score"] == 1.0
    assert record["flags"][0] == input_checks.UNSCORABLE
    assert kind in record["reasons"][0]["text"]


def test_a_missing_key_still_names_the_payment() -> None:
    out = admit(tx(transaction_id="tx-nokey"), key=None)
    assert isinstance(out, Rejected) and out.error.kind == "bad_key"
    assert out.ids == ("tx-nokey", "acc-0001")


@pytest.mark.parametrize("value", [b"{not json", b"\xff\xfe", orjson.dumps([1, 2]), None])
def test_a_record_without_a_readable_id_is_a_dead_letter_alone(value: bytes | None) -> None:
    out = admit(value)
    assert isinstance(out, Rejected) and out.ids is None


def test_a_resent_id_is_a_retry_with_the_same_bytes_and_a_flagged_payment_with_others() -> None:
    admission = Admission(Mapping.load("native"), AdmissionRules())
    state = FeatureState(FeatureSpec.native())
    first = tx(transaction_id="tx-1", amount=10.0)
    assert isinstance(admit(first, admission=admission, state=state, offset=0), Work)
    # the same record read again after a crash: scored again, no flag
    again = admit(first, admission=admission, state=state, offset=0)
    assert isinstance(again, Work) and again.flags == []
    retry = admit(first, admission=admission, state=state, offset=1)
    assert isinstance(retry, Rejected) and retry.error.kind == "duplicate"
    assert retry.ids is None  # the first copy's score stands
    changed = admit(
        tx(transaction_id="tx-1", amount=9000.0), admission=admission, state=state, offset=2
    )
    assert isinstance(changed, Work)
    assert input_checks.CHANGED_DUPLICATE in changed.flags


def test_unscorable_record_matches_the_schema() -> None:
    import json
    from pathlib import Path

    from jsonschema import Draft202012Validator

    schema = json.loads(
        (Path(__file__).resolve().parents[2] / "schemas" / "risk_score.schema.json").read_text()
    )
    record = input_checks.unscorable_record(
        transaction_id="tx-1",
        account_id="acc-1",
        error=DecodeError("bad_amount", "must be >= 0", "amount"),
        source={"topic": "tx", "partition": 0, "offset": 3, "timestamp_ms": None},
        model_version="m1",
        now_ms=1,
    )
    assert list(Draft202012Validator(schema).iter_errors(record)) == []


def test_a_key_over_the_limit_is_dead_lettered_with_its_hash() -> None:
    import hashlib

    key = b"k" * 5000
    out = admit(tx(transaction_id="tx-bigkey"), key=key)
    assert isinstance(out, Rejected) and out.error.kind == "bad_key"
    digest = hashlib.sha256(key).hexdigest()
    assert digest in out.error.message
    assert out.output_key == digest.encode()  # outputs do not carry the 5,000 bytes
    doc = orjson.loads(out.payload)
    assert doc["source"]["key_sha256"] == digest and len(doc["source"]["key"]) == 256
    assert out.ids == ("tx-bigkey", "acc-0001")  # the payment still gets a review score
