"""`FeatureRow`: one event's features as `FeatureState.process` returns them.

A row is what every consumer of the features sees (the scorers, the shadow path, the rules, the
offline tests): the numeric features in the spec's order, the categorical ones, the narrative,
and whether the event was folded into the state. `FeatureState.process` (`features/state.py`)
builds it directly, with no helper in between, because it is on the per-event hot path; this
module holds only the type, so that code that reads rows needs nothing of the state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(slots=True)
class FeatureRow:
    """One event's features, in the spec's order."""

    numeric: list[float]
    categorical: list[str]
    narrative: str
    numeric_names: Sequence[str]
    """The spec's numeric names (shared, do not mutate)."""
    categorical_names: Sequence[str]
    folded: bool = True
    """False when the event was a replay (position already folded) and changed no state."""

    def named(self) -> dict[str, float]:
        """Numeric features by name (for reason codes, logs)."""
        return dict(zip(self.numeric_names, self.numeric, strict=True))

    def named_categorical(self) -> dict[str, str]:
        return dict(zip(self.categorical_names, self.categorical, strict=True))
