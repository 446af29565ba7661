"""The model's view of a transaction, whatever the bank's field names.

A mapping (see `mapping.py`) turns a decoded record into an `Event`; features, training, the
stream and the cascade only ever see `Event`s. A `LabelEvent` is a verdict on an earlier
transaction (an analyst's, or the bank's delayed fraud label).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Event:
    transaction_id: str
    timestamp: float
    """Seconds since the Unix epoch (UTC)."""
    amount: float
    narrative: str
    entities: dict[str, str]
    """Entity role -> key, e.g. {"account": "A1", "card": "C9", "terminal": "T4"}."""
    numeric: dict[str, float] = field(default_factory=dict)
    categorical: dict[str, str] = field(default_factory=dict)
    label: int | None = None
    """1 fraud, 0 legitimate, None unknown. Never a model input."""


@dataclass(slots=True, frozen=True)
class LabelEvent:
    transaction_id: str
    is_fraud: bool
    transaction_timestamp: float
    """When the labelled transaction happened (epoch seconds)."""
    known_at: float
    """When the label became known (epoch seconds)."""
    entities: dict[str, str] = field(default_factory=dict)
    previous: bool | None = None
    """A correction: the verdict (is_fraud) given before on the same transaction, which this one
    replaces in the state; None for a first verdict."""
