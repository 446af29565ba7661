"""Wire records: decode and validate transactions; encode risk scores, alerts and dead letters.

Theory of operation
-------------------
Every input record ends as exactly one of two things: a decoded transaction that the stream scores,
or a `DecodeError` that becomes a dead letter. Nothing in here raises on bad input: errors are
values, so one malformed record can never stop the stream.

The codec enforces the same rules as `schemas/transaction.schema.json`. The schema is the contract
a bank reads; this module is the fast path (a JSON Schema engine is ~50x slower). A test runs both
over a corpus of valid and invalid records and checks they agree on every one of them.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson

MAX_AMOUNT: Final = 1_000_000_000
MAX_ID_LEN: Final = 128
MAX_NARRATIVE_LEN: Final = 1000
MAX_NAME_LEN: Final = 200
MAX_DEAD_LETTER_KEY: Final = 256
CHANNELS: Final = frozenset({"card_present", "card_not_present", "atm", "transfer", "wallet_topup"})

_ID = re.compile(r"[^\s]+")
_CURRENCY = re.compile(r"[A-Z]{3}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_MCC = re.compile(r"[0-9]{4}")
_TIMESTAMP = re.compile(
    r"(19[7-9][0-9]|2[01][0-9][0-9])-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]"
    r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)
# Characters refused in text a person reads (see $defs/text in the schema): control characters
# but tab and newline, zero-width and bidi controls (Trojan-source style tricks).
_BAD_TEXT_CHARS = re.compile(
    "[\u0000-\u0008\u000b-\u001f\u007f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
# A word mixing Latin with Greek or Cyrillic letters: homoglyph spoofing ("Pаypal").
_MIXED_SCRIPT = re.compile("[A-Za-z][^\\s]*[\u0370-\u04ff]|[\u0370-\u04ff][^\\s]*[A-Za-z]")
_NON_ASCII = re.compile("[^\x00-\x7f]")

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


@dataclass(frozen=True, slots=True)
class DecodeError:
    """Why a record cannot be scored. `kind` is one of the dead-letter schema's error kinds;
    `field`, the (dotted) path of the field at fault, when there is one. The one error type of
    the input: the codec's checks here and the field mapping's (`Mapping.to_event`) return it."""

    kind: str
    message: str
    field: str | None = None


def decode_json(value: bytes | None, *, max_bytes: int) -> dict[str, Any] | DecodeError:
    """Bytes -> JSON object, or the reason it is not one."""
    if value is None:
        return DecodeError("not_json", "the record has no value (null)")
    if len(value) > max_bytes:
        return DecodeError(
            "too_large",
            f"the record is {len(value)} bytes, over the limit of {max_bytes} (max_message_bytes)",
        )
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return _classify_json_error(value, exc)
    if not isinstance(obj, dict):
        return DecodeError("not_object", f"expected a JSON object, got {_json_type(obj)}")
    return obj


def _classify_json_error(value: bytes, exc: orjson.JSONDecodeError) -> DecodeError:
    msg = str(exc)
    if "UTF-8" in msg:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as err:
            return DecodeError("not_utf8", f"invalid UTF-8 at byte {err.start}: {err.reason}")
        return DecodeError("not_utf8", f"invalid UTF-8 (lone surrogate): {msg}")
    if "depth limit" in msg or "recursion" in msg:
        return DecodeError("too_deep", "JSON nested deeper than 1024 levels")
    if "infinity" in msg:
        return DecodeError("bad_value", f"a number overflows a double: {msg}")
    pos = exc.pos
    head = value[pos : pos + 9].lstrip(b"-")
    if head.startswith((b"NaN", b"Infinity")):
        return DecodeError("bad_value", f"NaN and Infinity are not JSON numbers (at char {pos})")
    return DecodeError("not_json", f"not valid JSON: {msg}")


def _json_type(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def check_text(value: str, field: str, max_len: int, *, strict: bool = True) -> DecodeError | None:
    """The schema's `$defs/text`. Not strict (the processor's default): only the length; hidden
    characters and homoglyphs are then the model's to read through (`fraudstream/text.py`
    normalises them away and reports them as flags), not a way to skip screening."""
    if len(value) > max_len:
        return DecodeError("bad_value", f"longer than {max_len} characters", field)
    if not strict:
        return None
    if value.isascii():
        if not value.isprintable() and _BAD_TEXT_CHARS.search(value):
            return DecodeError("bad_value", "contains control characters", field)
        return None
    bad = _BAD_TEXT_CHARS.search(value)
    if bad:
        return DecodeError(
            "bad_value",
            f"contains the invisible or control character U+{ord(bad.group()):04X}",
            field,
        )
    if _MIXED_SCRIPT.search(value):
        return DecodeError(
            "bad_value", "a word mixes Latin with Greek or Cyrillic letters (homoglyphs)", field
        )
    return None


def _check_id(v: object, field: str) -> DecodeError | None:
    if not isinstance(v, str):
        return DecodeError("wrong_type", f"expected a string, got {_json_type(v)}", field)
    if not v or len(v) > MAX_ID_LEN or not _ID.fullmatch(v):
        return DecodeError(
            "bad_value", f"must be 1-{MAX_ID_LEN} characters without whitespace", field
        )
    return None


def _check_pattern(
    v: object, field: str, pattern: re.Pattern[str], what: str
) -> DecodeError | None:
    if not isinstance(v, str):
        return DecodeError("wrong_type", f"expected a string, got {_json_type(v)}", field)
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


def parse_rfc3339(value: str) -> float | None:
    """Seconds since the epoch for an RFC 3339 timestamp matching the schema, else None."""
    if not _TIMESTAMP.fullmatch(value):
        return None
    text = value.replace("t", "T").replace("z", "Z")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
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
        return DecodeError("wrong_type", f"expected a string, got {_json_type(ts)}", "timestamp")
    timestamp = parse_rfc3339(ts)
    if timestamp is None:
        return DecodeError(
            "bad_timestamp",
            f"must be RFC 3339 with a time zone, years 1970-2199, got {ts[:40]!r}",
            "timestamp",
        )
    amount = obj["amount"]
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        return DecodeError("wrong_type", f"expected a number, got {_json_type(amount)}", "amount")
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
            "wrong_type", f"expected a string, got {_json_type(narrative)}", "narrative"
        )
    if err := check_text(narrative, "narrative", MAX_NARRATIVE_LEN, strict=strict):
        return err
    channel = obj["channel"]
    if not isinstance(channel, str):
        return DecodeError("wrong_type", f"expected a string, got {_json_type(channel)}", "channel")
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
            "wrong_type", f"expected an object, got {_json_type(obj['metadata'])}", "metadata"
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
        return DecodeError("wrong_type", f"expected an object, got {_json_type(v)}", where)
    for name in required:
        if name not in v:
            return DecodeError("missing_field", "required field is missing", f"{where}.{name}")
    return _check_unknown(v, allowed, where) if strict else None


def _validate_name(v: object, field: str, strict: bool) -> DecodeError | None:
    if not isinstance(v, str):
        return DecodeError("wrong_type", f"expected a string, got {_json_type(v)}", field)
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
            "wrong_type", f"expected a string, got {_json_type(account)}", "counterparty.account"
        )
    if not 1 <= len(account) <= 64:
        return DecodeError("bad_value", "must be 1-64 characters", "counterparty.account")
    if not isinstance(c["new_beneficiary"], bool):
        return DecodeError(
            "wrong_type",
            f"expected a boolean, got {_json_type(c['new_beneficiary'])}",
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


# ---------------------------------------------------------------------------------------------
# Encoding the outputs


def mask(value: str | None, keep: int = 4) -> str | None:
    """All but the last `keep` characters replaced by '*': "GB29NWBK60161331926819" -> "******...6819"."""
    if value is None:
        return None
    if len(value) <= keep:
        return "*" * len(value)
    return "*" * (len(value) - keep) + value[-keep:]


def text_or_base64(data: bytes | None) -> tuple[str | None, str]:
    """(text, encoding): UTF-8 text where the bytes are UTF-8, base64 otherwise."""
    if data is None:
        return None, "utf8"
    try:
        return data.decode("utf-8"), "utf8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def dead_letter(
    error: DecodeError,
    *,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    key: bytes | None,
    value: bytes | None,
    now_ms: int,
    processor_version: str,
    worker: str,
    max_payload_bytes: int,
) -> bytes:
    """A dead-letter record holding the original bytes (or, when they cannot fit the dead-letter
    topic, their head and the sha256 of the whole) and a machine-readable reason."""
    size = 0 if value is None else len(value)
    truncated = value is not None and size > max_payload_bytes
    kept = value[:max_payload_bytes] if truncated and value is not None else value
    # A cut inside a multi-byte character makes the head non-UTF-8: it then goes as base64.
    payload, encoding = text_or_base64(kept)
    # A key is at most a few hundred bytes unless it is hostile: only its head, and its hash.
    key_head = key[:MAX_DEAD_LETTER_KEY] if key is not None else None
    key_text, key_encoding = text_or_base64(key_head)
    record: dict[str, Any] = {
        "error": {"kind": error.kind, "field": error.field, "message": error.message},
        "source": {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "timestamp_ms": timestamp_ms,
            "key": key_text,
            "key_encoding": key_encoding,
        },
        "payload": payload,
        "payload_encoding": encoding,
        "payload_size": size,
        "payload_truncated": truncated,
        "dead_lettered_at_ms": now_ms,
        "processor": {"version": processor_version, "worker": worker},
    }
    if truncated and value is not None:
        record["payload_sha256"] = hashlib.sha256(value).hexdigest()
    if key is not None and len(key) > MAX_DEAD_LETTER_KEY:
        record["source"]["key_sha256"] = hashlib.sha256(key).hexdigest()
    return orjson.dumps(record)


def encode(record: Mapping[str, Any]) -> bytes:
    return orjson.dumps(record)
