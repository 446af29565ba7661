"""Wire records, the outputs: risk scores and alerts encoded, account numbers masked, and dead
letters that keep the original bytes of a record that cannot be scored with the reason why.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any, Final

import orjson

from fraudstream.records_json import DecodeError

MAX_DEAD_LETTER_KEY: Final = 256


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
