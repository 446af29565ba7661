"""Wire records, first step: bytes to a JSON object, and `DecodeError`, the input's one error type.

Nothing in here raises on bad input: a record that is not a JSON object comes back as a
`DecodeError` value (see the theory of operation in `records.py`), which becomes a dead letter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


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
        return DecodeError("not_object", f"expected a JSON object, got {json_type(obj)}")
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


def json_type(v: object) -> str:
    """The JSON name of a decoded value's type, for error messages: "null", "string"..."""
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
