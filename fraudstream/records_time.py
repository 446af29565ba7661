"""Wire records: the schema's timestamps (RFC 3339 with a time zone, years 1970-2199) to seconds.

The pattern is the schema's own (`schemas/transaction.schema.json`, `timestamp`), so the codec in
`records.py` and the JSON Schema agree on which timestamps are valid.
"""

from __future__ import annotations

import re
from datetime import datetime

_TIMESTAMP = re.compile(
    r"(19[7-9][0-9]|2[01][0-9][0-9])-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]"
    r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)


def parse_rfc3339(value: str) -> float | None:
    """Seconds since the epoch for an RFC 3339 timestamp matching the schema, else None."""
    if not _TIMESTAMP.fullmatch(value):
        return None
    text = value.replace("t", "T").replace("z", "Z")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None
