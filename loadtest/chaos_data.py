"""The fault tests' inputs (`loadtest/chaos.py`): good transactions, and hostile ones of many
kinds, with what the processor must do with each (`EVASIONS`: scored and flagged; `REVIEWED`:
dead-lettered with a review score; the rest: dead-lettered)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson

from fraudstream.testing import transaction

ALERT_EVERY = 10  # every 10th good transaction carries a suspicious narrative


def good_record(i: int, *, accounts: int = 200) -> tuple[bytes, bytes, str]:
    """(key, value, transaction id) of the i-th good transaction."""
    narrative = "URGENT gift card for tax office" if i % ALERT_EVERY == 0 else f"TESCO STORES {i}"
    tid = f"tx-{i:08d}"
    tx = transaction(
        transaction_id=tid,
        account_id=f"acc-{i % accounts:05d}",
        narrative=narrative,
        timestamp=f"2026-01-{1 + (i // 86400) % 28:02d}T{(i // 3600) % 24:02d}:"
        f"{(i // 60) % 60:02d}:{i % 60:02d}Z",
    )
    return tx["account_id"].encode(), orjson.dumps(tx), tid


# Hostile kinds that are valid payments in disguise: scored, with this flag (input_checks.py).
EVASIONS: dict[str, str] = {
    "zero_width": "hidden_characters",
    "bidi": "hidden_characters",
    "homoglyph": "confusable_letters",
    "fullwidth": "compatibility_forms",
    "combining_marks": "combining_marks",
    "unknown_field": "unknown_fields",
}
# Kinds that cannot be scored but name their payment: a dead letter and a review score.
REVIEWED = frozenset(
    {
        "wrong_type",
        "missing_field",
        "negative_amount",
        "far_past",
        "far_future",
        "null_key",
        "empty_key",
        "huge_key",
    }
)


def hostile_records(
    per_kind: int, *, huge: int = 2
) -> Iterator[tuple[str, bytes | None, bytes | None]]:
    """(kind, key, value) of hostile inputs: malformed records (`REVIEWED` and the rest) and
    valid payments in disguise (`EVASIONS`). `huge` 10 MB messages are sent in all (they are
    expensive, not numerous)."""
    base = transaction()

    def tx(i: int, **changes: Any) -> bytes:
        return orjson.dumps({**base, "transaction_id": f"bad-{i:08d}", **changes})

    def raw_amount(i: int, text: str) -> bytes:
        return tx(i, amount=0).replace(b'"amount":0', b'"amount":' + text.encode())

    n = 0
    kinds: list[tuple[str, Callable[[int], tuple[bytes | None, bytes | None]]]] = [
        ("truncated_json", lambda i: (b"acc-1", tx(i)[: 20 + i % 40])),
        ("wrong_type", lambda i: (b"acc-1", tx(i, amount=str(i)))),
        ("missing_field", lambda i: (b"acc-1", orjson.dumps({"transaction_id": f"bad-{i}"}))),
        ("nan_amount", lambda i: (b"acc-1", raw_amount(i, "NaN"))),
        ("inf_amount", lambda i: (b"acc-1", raw_amount(i, "Infinity"))),
        ("huge_amount", lambda i: (b"acc-1", raw_amount(i, "1e308"))),
        ("negative_amount", lambda i: (b"acc-1", tx(i, amount=-1.0 - i))),
        (
            "invalid_utf8",
            lambda i: (b"acc-1", b'{"narrative": "\xff\xfe' + str(i).encode() + b'"}'),
        ),
        ("deep_nesting", lambda i: (b"acc-1", b"[" * 10_000 + b"]" * 10_000)),
        ("zero_width", lambda i: (b"acc-1", tx(i, narrative=f"TESCO\u200b STORES {i}"))),
        ("bidi", lambda i: (b"acc-1", tx(i, narrative=f"PAY \u202eLAPYAP\u202c {i}"))),
        ("homoglyph", lambda i: (b"acc-1", tx(i, narrative=f"P\u0430ypal refund {i}"))),
        ("fullwidth", lambda i: (b"acc-1", tx(i, narrative=f"\uff27\uff29\uff26\uff34 card {i}"))),
        (
            "combining_marks",
            lambda i: (b"acc-1", tx(i, narrative=f"s\u0336a\u0336f\u0336e account {i}")),
        ),
        ("far_past", lambda i: (b"acc-1", tx(i, timestamp="1970-01-02T00:00:00Z"))),
        ("far_future", lambda i: (b"acc-1", tx(i, timestamp="2999-01-01T00:00:00Z"))),
        ("null_key", lambda i: (None, tx(i))),
        ("empty_key", lambda i: (b"", tx(i))),
        ("huge_key", lambda i: (b"k" * 5000, tx(i))),
        ("not_object", lambda i: (b"acc-1", orjson.dumps([i, i]))),
        ("empty_value", lambda i: (b"acc-1", b"")),
        ("null_value", lambda i: (b"acc-1", None)),
        ("unknown_field", lambda i: (b"acc-1", tx(i, surprise=True))),
    ]
    for _ in range(per_kind):
        for kind, make in kinds:
            key, value = make(n)
            n += 1
            yield kind, key, value
    for _ in range(huge):
        yield "oversized_10mb", b"acc-1", tx(n, narrative="x" * (10 * 1024 * 1024))
        n += 1


def _tx_id(value: bytes | None) -> str:
    doc = orjson.loads(value or b"{}")
    return str(doc["transaction_id"])
