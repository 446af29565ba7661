"""What the processor needs from a model, and the cascade that routes work between bricks.

The processor never imports torch: it talks to a `Scoring` object. The real one (built in
`runtime/loader.py`) wraps a stage-1 scorer and the language model of a model folder; tests use
the fakes in `fraudstream/testing.py`.

The cascade: stage 1 (cheap: metadata + state) scores every transaction at once, in the fetch
loop; only those whose stage-1 score falls in the uncertain band `[low, high)` go through the
micro-batching scheduler to the language model. A stage-1 score below the band is final (allow);
above it, final too (the language model would not change a confident alert enough to pay for it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from fraudstream.features import FeatureRow
from fraudstream.model.reasons import Reason

__all__ = ["Reason", "Scoring", "route"]


class Scoring(Protocol):
    """The bricks of one model version, as the processor uses them."""

    version: str
    alert_threshold: float
    block_threshold: float
    band: tuple[float, float] | None
    """Stage-1 scores in [low, high) go to the language model; None: everything does."""

    def stage1(self, rows: Sequence[FeatureRow]) -> np.ndarray | None:
        """Stage-1 probabilities for every row, or None when there is no stage 1."""

    def stage1_reasons(self, rows: Sequence[FeatureRow]) -> list[list[Reason]]: ...

    def tokenize(self, narratives: Sequence[str]) -> list[list[int]]:
        """Token ids per narrative (called off the event loop)."""

    def prepare(self, rows: Sequence[FeatureRow], token_ids: Sequence[list[int]]) -> Any:
        """Padding and tensors for one batch (prepare thread)."""

    def predict(self, prepared: Any) -> np.ndarray:
        """Calibrated probabilities (inference thread)."""

    def explain(self, prepared: Any, indices: Sequence[int]) -> list[list[Reason]]:
        """Top reasons for the given rows of a predicted batch (inference thread)."""

    def predict_explain(
        self, prepared: Any, threshold: float
    ) -> tuple[np.ndarray, dict[int, list[Reason]]]:
        """`predict`, and `explain` for the rows scoring at or above `threshold`, in one call:
        what the stream does with a batch (the real model shares one forward pass between the
        two, and one round trip to its process)."""


def route(scores: np.ndarray | None, band: tuple[float, float] | None, n: int) -> np.ndarray:
    """Boolean mask of rows that go to the language model."""
    if scores is None or band is None:
        return np.ones(n, dtype=bool)
    low, high = band
    return (scores >= low) & (scores < high)
