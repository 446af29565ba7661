"""What the input itself says about a payment: anomalies to flag, and a decision when it cannot
be scored.

Theory of operation
-------------------
A fraud screen fails closed. Whoever writes a payment controls its characters and its shape, so
nothing a sender can put in a record may switch screening off for it:

* **Suspicious but valid content is scored.** Hidden characters, look-alike letters from another
  script, stylised forms in the memo or a name are normalised away for the model
  (`fraudstream/text.py`), and each finding becomes a flag on the score (`hidden_characters`,
  `confusable_letters`, ...) and a reason in words ("hidden characters in the memo"). Fields the
  schema does not know are ignored and flagged (`unknown_fields`): a bank adding a field to its
  schema must not stop screening (`strict_schema: true` dead-letters them instead).
* **A re-sent id with changed content is scored and flagged** (`duplicate_id_changed_content`):
  a second payment under a known id is a risk, not a retry. The same bytes again are a producer
  retry: dead-lettered as `duplicate`, the first copy's score stands.
* **A record that cannot be scored but names its payment** (a readable transaction id) goes to
  the dead-letter topic with the reason, and also gets a score record: band `review`, score 1
  (unscreened counts as risky), flag `unscorable_input`, the reason in words. The payment system
  waiting for a verdict gets one. Only a record without a readable id (not JSON, no id) has the
  dead letter alone.

Pure functions; the admission (`pipeline.py`) calls them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from fraudstream.records import DecodeError, unknown_fields
from fraudstream.text import COMBINING, COMPATIBILITY, CONFUSABLE, HIDDEN, normalise

UNSCORABLE = "unscorable_input"
UNKNOWN_FIELDS = "unknown_fields"
CHANGED_DUPLICATE = "duplicate_id_changed_content"
INPUT_FLAGS = frozenset(
    {HIDDEN, CONFUSABLE, COMPATIBILITY, COMBINING, UNKNOWN_FIELDS, CHANGED_DUPLICATE}
)
"""The flags a score may carry about its input (counted in /metrics)."""
INPUT_REASON = "input"
"""The `code` of reasons about the input itself (not a model feature group)."""

_WORDS = {
    HIDDEN: "hidden characters",
    CONFUSABLE: "look-alike letters from another script",
    COMPATIBILITY: "stylised characters (fullwidth, ligatures)",
    COMBINING: "stray combining marks",
}
_ORDER = (HIDDEN, CONFUSABLE, COMPATIBILITY, COMBINING)
_ASCII_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def reason(text: str, weight: float = 0.0) -> dict[str, Any]:
    return {"code": INPUT_REASON, "text": text, "weight": weight}


def text_findings(texts: Mapping[str, str]) -> tuple[list[str], list[dict[str, Any]]]:
    """(flags, reasons) for the anomalies in each text: `texts` maps where it was ("memo",
    "merchant name") to the text as sent."""
    flags: list[str] = []
    reasons: list[dict[str, Any]] = []
    for where, text in texts.items():
        if not text:
            continue
        if text.isascii():
            found = frozenset({HIDDEN}) if _ASCII_CONTROL.search(text) else frozenset()
        else:
            found = normalise(text).anomalies
        for anomaly in _ORDER:
            if anomaly in found:
                if anomaly not in flags:
                    flags.append(anomaly)
                reasons.append(reason(f"{_WORDS[anomaly]} in the {where}"))
    return flags, reasons


def native_texts(record: Mapping[str, Any], narrative: str) -> dict[str, str]:
    """The texts a person reads in a native transaction."""
    texts = {"memo": narrative}
    for where, field in (("merchant", "merchant name"), ("counterparty", "payee name")):
        inner = record.get(where)
        if isinstance(inner, dict) and isinstance(inner.get("name"), str):
            texts[field] = inner["name"]
    return texts


def unknown_field_findings(record: Mapping[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    extra = unknown_fields(record)
    if not extra:
        return [], []
    shown = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
    return [UNKNOWN_FIELDS], [reason(f"fields the schema does not know were ignored: {shown}")]


def content_digest(value: bytes | None) -> bytes:
    """What tells a producer's retry (the same bytes) from a second payment under the same id."""
    return hashlib.blake2b(value or b"", digest_size=8).digest()


def unscorable_record(
    *,
    transaction_id: str,
    account_id: str,
    error: DecodeError,
    source: Mapping[str, Any],
    model_version: str,
    now_ms: int,
) -> dict[str, Any]:
    """The score record of a payment that could not be scored (see the module docstring); it
    matches `schemas/risk_score.schema.json`."""
    where = f" ({error.field})" if error.field else ""
    return {
        "transaction_id": transaction_id,
        "account_id": account_id,
        "score": 1.0,
        "band": "review",
        "reasons": [
            reason(f"could not be screened: {error.kind}{where}: {error.message}", 1.0),
        ],
        "model_version": model_version,
        "stage": "unscorable",
        "flags": [UNSCORABLE, error.kind],
        "timings_ms": {"decode": 0.0, "state": 0.0, "queue": 0.0, "inference": 0.0, "produce": 0.0},
        "source": dict(source),
        "scored_at_ms": now_ms,
    }
