"""Wire records: decode and validate transactions; encode risk scores, alerts and dead letters.

Theory of operation
-------------------
Every input record ends as exactly one of two things: a decoded transaction that the stream scores,
or a `DecodeError` that becomes a dead letter. Nothing in here raises on bad input: errors are
values, so one malformed record can never stop the stream.

The codec enforces the same rules as `schemas/transaction.schema.json`. The schema is the contract
a bank reads; this module is the fast path (a JSON Schema engine is ~50x slower). A test runs both
over a corpus of valid and invalid records and checks they agree on every one of them.

Layout: this module holds the native transaction's checks (`check_transaction`) and is the one
to import from; it re-exports the rest. `records_json`: bytes to a JSON object, and `DecodeError`;
`records_time`: RFC 3339 timestamps; `records_text`: the checks on text a person reads;
`records_encode`: the outputs (scores, alerts, dead letters).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final

from fraudstream.records_encode import (
    MAX_DEAD_LETTER_KEY,
    dead_letter,
    encode,
    mask,
    text_or_base64,
)
from fraudstream.records_json import DecodeError, decode_json, json_type
from fraudstream.records_text import check_text
from fraudstream.records_time import parse_rfc3339

__all__ = [
    "CHANNELS",
    "MAX_AMOUNT",
    "MAX_DEAD_LETTER_KEY",
    "MAX_ID_LEN",
    "MAX_NAME_LEN",
    "MAX_NARRATIVE_LEN",
    "DecodeError",
    "check_text",
    "check_transaction",
    "dead_letter",
    "decode_json",
    "decode_transaction",
    "encode",
    "mask",
    "parse_rfc3339",
    "text_or_base64",
    "unknown_fields",
    "validate_transaction",
]

MAX_AMOUNT: Final = 1_000_000_000
MAX_ID_LEN: Final = 128
MAX_NARRATIVE_LEN: Final = 1000
MAX_NAME_LEN: Final = 200
CHANNELS: Final = frozenset({"card_present", "card_not_present", "atm", "transfer", "wallet_topup"})

_ID = re.compile(r"[^\s]+")
_CURRENCY = re.compile(r"[A-Z]{3}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_MCC = re.compile(r"[0-9]{4}")

_TOP_FIELDS: Final = frozenset(
    {
        "transaction_id",
        "account_id",
        "card_id",
        "timestamp",
        "amount",
        "currency",
        "narrative",
        "channel",
        "merchant",
        "counterparty",
        "device",
        "metadata",
    }
)
_REQUIRED: Final = (
    "transaction_id",
    "account_id",
    "timestamp",
    "amount",
    "currency",
    "narrative",
    "channel",
    "merchant",
)
_MERCHANT_FIELDS: Final = frozenset({"id", "name", "mcc", "country"})
_COUNTERPARTY_FIELDS: Final = frozenset({"name", "account", "country", "new_beneficiary"})
_DEVICE_FIELDS: Final = frozenset({"id", "ip_country"})


def _check_id(v: object, field: str) -> DecodeError | None:
    if not isinstance(v, str):
        return DecodeError("wrong_type", f"expected a string, got {json_type(v)}", field)
    if not v or len(v) > MAX_ID_LEN or not _ID.fullmatch(v):
        return DecodeError(
            "bad_value", f"must be 1-{MAX_ID_LEN} characters without whitespace", field
        )
    return None


def _check_pattern(
    v: object, field: str, pattern: re.Pattern[str], what: str
) -> DecodeError | None:
    if not isinstance(v, str):
        return DecodeError("wrong_type", f"expected a string, got {json_type(v)}", field)
    if not pattern.fullmatch(v):
        return DecodeError("bad_value", f"must be {what}, got {v[:40]!r}", field)
    return None


def _check_unknown(
    obj: Mapping[str, Any], allowed: frozenset[str], where: str
) -> DecodeError | None:
    extra = obj.keys() - allowed
    if extra:
        name = sorted(extra)[0]
        path = f"{where}.{name}" if where else name
        return DecodeError("schema", f"unknown field (allowed: {', '.join(sorted(allowed))})", path)
    return None


def validate_transaction(obj: Mapping[str, Any], *, strict: bool = True) -> DecodeError | None:
    """The native schema's rules, in code. None when `obj` is a valid transaction.

    `strict=False` (the processor's default, `strict_schema: false`): unknown fields are
    ignored (a bank adding a field to its schema must not stop screening), and text is checked
    for its length only (see `check_text`); `unknown_fields` lists what was ignored."""
    checked = check_transaction(obj, strict=strict)
    return checked if isinstance(checked, DecodeError) else None


def check_transaction(obj: Mapping[str, Any], *, strict: bool = True) -> float | DecodeError:
    """`validate_transaction`, for the admission's hot path: a valid transaction's timestamp
    (seconds since the epoch), parsed once here, or the first reason it is not valid. The
    native mapping then reads the record without checking again what is checked here
    (`Mapping.checked_event`)."""
    for name in _REQUIRED:
        if name not in obj:
            return DecodeError("missing_field", "required field is missing", name)
    if strict and (err := _check_unknown(obj, _TOP_FIELDS, "")):
        return err
    err = _check_id(obj["transaction_id"], "transaction_id") or _check_id(
        obj["account_id"], "account_id"
    )
    if err:
        return err
    if "card_id" in obj and (err := _check_id(obj["card_id"], "card_id")):
        return err
    ts = obj["timestamp"]
    if not isinstance(ts, str):
        return DecodeError("wrong_type", f"expected a string, got {json_type(ts)}", "timestamp")
    timestamp = parse_rfc3339(ts)
    if timestamp is None:
        return DecodeError(
            "bad_timestamp",
            f"must be RFC 3339 with a time zone, years 1970-2199, got {ts[:40]!r}",
            "timestamp",
        )
    amount = obj["amount"]
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        return DecodeError("wrong_type", f"expected a number, got {json_type(amount)}", "amount")
    if not math.isfinite(amount) or amount < 0 or amount > MAX_AMOUNT:
        return DecodeError(
            "bad_amount", f"must be finite, >= 0 and <= {MAX_AMOUNT:.0e}, got {amount!r}", "amount"
        )
    err = _check_pattern(obj["currency"], "currency", _CURRENCY, "an ISO 4217 code like EUR")
    if err:
        return err
    narrative = obj["narrative"]
    if not isinstance(narrative, str):
        return DecodeError(
            "wrong_type", f"expected a string, got {json_type(narrative)}", "narrative"
        )
    if err := check_text(narrative, "narrative", MAX_NARRATIVE_LEN, strict=strict):
        return err
    channel = obj["channel"]
    if not isinstance(channel, str):
        return DecodeError("wrong_type", f"expected a string, got {json_type(channel)}", "channel")
    if channel not in CHANNELS:
        return DecodeError(
            "bad_value",
            f"must be one of {', '.join(sorted(CHANNELS))}, got {channel[:40]!r}",
            "channel",
        )
    if err := _validate_merchant(obj["merchant"], strict):
        return err
    if "counterparty" in obj and (err := _validate_counterparty(obj["counterparty"], strict)):
        return err
    if "device" in obj and (err := _validate_device(obj["device"], strict)):
        return err
    if "metadata" in obj and not isinstance(obj["metadata"], dict):
        return DecodeError(
            "wrong_type", f"expected an object, got {json_type(obj['metadata'])}", "metadata"
        )
    return timestamp


def unknown_fields(obj: Mapping[str, Any]) -> list[str]:
    """The fields of a native transaction that the schema does not know, as dotted paths."""
    found = [name for name in obj if name not in _TOP_FIELDS]
    for where, allowed in (
        ("merchant", _MERCHANT_FIELDS),
        ("counterparty", _COUNTERPARTY_FIELDS),
        ("device", _DEVICE_FIELDS),
    ):
        inner = obj.get(where)
        if isinstance(inner, dict):
            found += [f"{where}.{name}" for name in inner if name not in allowed]
    return found


def _validate_object(
    v: object, where: str, required: tuple[str, ...], allowed: frozenset[str], strict: bool
) -> DecodeError | None:
    if not isinstance(v, dict):
        return DecodeError("wrong_type", f"expected an object, got {json_type(v)}", where)
    for name in required:
        if name not in v:
            return DecodeError("missing_field", "required field is missing", f"{where}.{name}")
    return _check_unknown(v, allowed, where) if strict else None


def _validate_name(v: object, field: str, strict: bool) -> DecodeError | None:
    if not isinstance(v, str):
        return DecodeError("wrong_type", f"expected a string, got {json_type(v)}", field)
    return check_text(v, field, MAX_NAME_LEN, strict=strict)


def _validate_merchant(m: object, strict: bool) -> DecodeError | None:
    err = _validate_object(m, "merchant", ("name", "mcc", "country"), _MERCHANT_FIELDS, strict)
    if err:
        return err
    assert isinstance(m, dict)
    if "id" in m and (err := _check_id(m["id"], "merchant.id")):
        return err
    return (
        _validate_name(m["name"], "merchant.name", strict)
        or _check_pattern(m["mcc"], "merchant.mcc", _MCC, "a 4-digit merchant category code")
        or _check_pattern(m["country"], "merchant.country", _COUNTRY, "an ISO 3166 alpha-2 code")
    )


def _validate_counterparty(c: object, strict: bool) -> DecodeError | None:
    err = _validate_object(
        c,
        "counterparty",
        ("name", "account", "country", "new_beneficiary"),
        _COUNTERPARTY_FIELDS,
        strict,
    )
    if err:
        return err
    assert isinstance(c, dict)
    account = c["account"]
    if not isinstance(account, str):
        return DecodeError(
            "wrong_type", f"expected a string, got {json_type(account)}", "counterparty.account"
        )
    if not 1 <= len(account) <= 64:
        return DecodeError("bad_value", "must be 1-64 characters", "counterparty.account")
    if not isinstance(c["new_beneficiary"], bool):
        return DecodeError(
            "wrong_type",
            f"expected a boolean, got {json_type(c['new_beneficiary'])}",
            "counterparty.new_beneficiary",
        )
    return _validate_name(c["name"], "counterparty.name", strict) or _check_pattern(
        c["country"], "counterparty.country", _COUNTRY, "an ISO 3166 alpha-2 code"
    )


def _validate_device(d: object, strict: bool) -> DecodeError | None:
    err = _validate_object(d, "device", ("id", "ip_country"), _DEVICE_FIELDS, strict)
    if err:
        return err
    assert isinstance(d, dict)
    return _check_id(d["id"], "device.id") or _check_pattern(
        d["ip_country"], "device.ip_country", _COUNTRY, "an ISO 3166 alpha-2 code"
    )


def decode_transaction(value: bytes | None, *, max_bytes: int) -> dict[str, Any] | DecodeError:
    """Bytes -> a valid native transaction, or the reason it is not one."""
    obj = decode_json(value, max_bytes=max_bytes)
    if isinstance(obj, DecodeError):
        return obj
    return validate_transaction(obj) or obj
