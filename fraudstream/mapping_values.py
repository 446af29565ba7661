"""Value coercion for `mapping.Mapping`: a raw field value -> the type its role needs.

Each parser returns the value, None when the field is missing (absent, null, or "" from a CSV),
or a `records.DecodeError` (bad records are values, not exceptions: the stream sends them to the
dead-letter topic). The rules are the same for JSON and CSV, where every value arrives as a
string:
- `to_str` (entity keys, categories, narrative parts): strings as they are, integers as their
  digits, booleans as "true"/"false";
- `to_float` (amount, numeric features): a number, a numeric string or a boolean (1/0), finite;
- `to_label`: 0/1, true/false (or those as strings);
- `timestamp_parser(fmt)`: a parser compiled once per mapping for one of `TIMESTAMP_FORMATS` or a
  `strptime` pattern; naive times are UTC, and the instant must lie in 1970..2200, as in the
  wire schema (`check_epoch`).

These run per record (10k+ records/s) and are called directly from `Mapping.to_event`: keep them
free of extra call layers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from fraudstream.mapping_paths import NotObject
from fraudstream.records import DecodeError
from fraudstream.records_json import json_type

TIMESTAMP_FORMATS: Final = ("rfc3339", "iso8601", "epoch_s", "epoch_ms")
"""Besides these, a `strptime` pattern (any string with a `%`); naive times are UTC."""

MAX_EPOCH: Final = 7_258_118_400.0  # 2200-01-01T00:00:00Z, as in the wire schema
_EPOCH_NAIVE: Final = datetime(1970, 1, 1)
LABELS: Final = {"0": 0, "1": 1, "true": 1, "false": 0, "0.0": 0, "1.0": 1}

TimestampParser = Callable[[Any, str], "float | DecodeError"]


def not_object(field: str, v: NotObject) -> DecodeError:
    """The error for a path whose parent is not an object."""
    return DecodeError("wrong_type", f"'{v.parent}' is not an object, cannot read '{field}'", field)


def to_str(v: Any, field: str) -> str | DecodeError | None:
    """Key or category: None when missing."""
    if v is None:
        return None
    if isinstance(v, str):
        return v or None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return DecodeError("bad_value", f"must be finite, got {v!r}", field)
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, NotObject):
        return not_object(field, v)
    return DecodeError("wrong_type", f"expected a string, got {json_type(v)}", field)


def to_float(v: Any, field: str, bad_kind: str) -> float | DecodeError | None:
    """A number, or None when missing (None or "")."""
    if v is None:
        return None
    if isinstance(v, float):
        x = v
    elif isinstance(v, bool):
        x = 1.0 if v else 0.0
    elif isinstance(v, int):
        x = float(v)
    elif isinstance(v, str):
        if not v:
            return None
        try:
            x = float(v)
        except ValueError:
            return DecodeError(bad_kind, f"not a number: {v[:40]!r}", field)
    elif isinstance(v, NotObject):
        return not_object(field, v)
    else:
        return DecodeError("wrong_type", f"expected a number, got {json_type(v)}", field)
    if not math.isfinite(x):
        return DecodeError(bad_kind, f"must be finite, got {v!r}", field)
    return x


def to_label(v: Any, field: str) -> int | DecodeError | None:
    """0 or 1, or None when missing."""
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (int, float)) and v in (0, 1):
        return int(v)
    if isinstance(v, str):
        got = LABELS.get(v.strip().lower())
        if got is not None:
            return got
    if isinstance(v, NotObject):
        return not_object(field, v)
    return DecodeError("bad_value", f"a label must be 0/1 or true/false, got {v!r}"[:200], field)


def check_epoch(x: float, raw: Any, field: str) -> float | DecodeError:
    """`x` (seconds since the epoch) when it lies in 1970..2200, else the error naming `raw`."""
    if not 0.0 <= x < MAX_EPOCH:
        return DecodeError(
            "bad_timestamp", f"outside 1970-01-01..2200-01-01: {str(raw)[:40]!r}", field
        )
    return x


def _dt_epoch(dt: datetime) -> float:
    if dt.tzinfo is None:
        return (dt - _EPOCH_NAIVE).total_seconds()
    return dt.timestamp()


def timestamp_parser(fmt: str) -> TimestampParser:
    """The parser for one format (validated by the mapping file's checks), built once."""
    if fmt in ("rfc3339", "iso8601"):
        need_zone = fmt == "rfc3339"

        def parse_iso(v: Any, field: str) -> float | DecodeError:
            if not isinstance(v, str):
                if isinstance(v, NotObject):
                    return not_object(field, v)
                return DecodeError("wrong_type", f"expected a string, got {json_type(v)}", field)
            try:
                dt = datetime.fromisoformat(v)
            except ValueError:
                try:  # RFC 3339 allows a lower-case 't' and 'z'
                    dt = datetime.fromisoformat(v.upper())
                except ValueError:
                    return DecodeError("bad_timestamp", f"not {fmt}: {v[:40]!r}", field)
            if need_zone and dt.tzinfo is None:
                return DecodeError("bad_timestamp", f"no time zone in {v[:40]!r}", field)
            return check_epoch(_dt_epoch(dt), v, field)

        return parse_iso
    if fmt in ("epoch_s", "epoch_ms"):
        scale = 1.0 if fmt == "epoch_s" else 0.001

        def parse_epoch(v: Any, field: str) -> float | DecodeError:
            if isinstance(v, bool):
                return DecodeError("wrong_type", "expected a number, got boolean", field)
            x = to_float(v, field, "bad_timestamp")
            if x is None:
                return DecodeError("missing_field", "required field is missing", field)
            if isinstance(x, DecodeError):
                return x
            return check_epoch(x * scale, v, field)

        return parse_epoch

    # A strptime pattern. fromisoformat is ~20x faster, so the two common ISO-like patterns try it
    # first on strings of exactly the pattern's shape, and fall back to strptime otherwise.
    fast = fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")
    sep = fmt[8] if fast else ""

    def parse_pattern(v: Any, field: str) -> float | DecodeError:
        if not isinstance(v, str):
            if isinstance(v, NotObject):
                return not_object(field, v)
            return DecodeError("wrong_type", f"expected a string, got {json_type(v)}", field)
        dt = None
        if fast and len(v) == 19 and v[10] == sep:
            try:
                dt = datetime.fromisoformat(v)
            except ValueError:
                dt = None
        if dt is None:
            try:
                dt = datetime.strptime(v, fmt)
            except ValueError:
                return DecodeError("bad_timestamp", f"does not match {fmt!r}: {v[:40]!r}", field)
        return check_epoch(_dt_epoch(dt), v, field)

    return parse_pattern
