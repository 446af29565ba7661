"""What the processor needs from a model, and the cascade decision every caller shares.

The processor never imports torch: it talks to a `Scoring` object. The real one (built in
`runtime/loader.py`) wraps a stage-1 scorer and the language model of a model folder; tests use
the fakes in `fraudstream/testing.py`.

The cascade (`fraudstream/cascade.py` holds the rule and its reasons): stage 1 (cheap: metadata,
state, and the risk of narratives read before) scores every transaction at once, in the fetch
loop; the language model reads the unread narratives, the risky ones and stage 1's uncertain
band, through the micro-batching scheduler. `decide` applies the rule to a chunk for every
caller (the processor, the Faust variant, the shadow challenger), and `remember` records what
the language model read; `fraudstream evaluate` replays the same rule row by row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from fraudstream.cascade import CascadePolicy, NarrativeMemory, route
from fraudstream.features import FeatureRow
from fraudstream.model.reasons import Reason
from fraudstream.text import model_text

__all__ = ["Reason", "Routed", "Scoring", "decide", "remember", "route"]


class Scoring(Protocol):
    """The bricks of one model version, as the processor uses them."""

    version: str
    alert_threshold: float
    block_threshold: float
    policy: CascadePolicy | None
    """Who goes to the language model (`fraudstream/cascade.py`); None: everything does."""
    memory: NarrativeMemory | None
    """The narratives this model has read, with their risk; None: not tracked."""

    def stage1(
        self, rows: Sequence[FeatureRow], narrative_risk: Sequence[float | None] | None = None
    ) -> np.ndarray | None:
        """Calibrated stage-1 probabilities for every row, or None when there is no stage 1.
        `narrative_risk`: the memory's value per row (None: unread), for a stage 1 that reads it."""

    def stage1_reasons(
        self, rows: Sequence[FeatureRow], narrative_risk: Sequence[float | None] | None = None
    ) -> list[list[Reason]]: ...

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
    ) -> tuple[np.ndarray, dict[int, list[Reason]], np.ndarray | None]:
        """`predict`, and `explain` for the rows scoring at or above `threshold`, in one call:
        what the stream does with a batch (the real model shares one forward pass between the
        two, and one round trip to its process). The third value is the text head's logit per
        row (None without one): what `remember` stores."""

    def narrative_stats(self) -> dict[str, dict[str, float]]:
        """Counters of the narrative memory (`memory`) and of the model's cache of text vectors
        (`vectors`): entries, capacity, hits, misses, evictions, hit_rate. Empty: none kept."""


@dataclass(slots=True)
class Routed:
    stage1: np.ndarray | None
    to_lm: np.ndarray
    """Per row: the language model reads it."""
    texts: list[str] | None
    """Per row: the narrative as the model reads it, when the memory is tracked."""
    risks: list[float | None] | None


def decide(scoring: Scoring, rows: Sequence[FeatureRow]) -> Routed:
    """Stage 1 and the cascade rule for a chunk of rows (see the module docstring)."""
    memory = scoring.memory
    texts = risks = None
    if memory is not None:
        texts = [model_text(r.narrative) for r in rows]
        risks = [memory.risk(t) for t in texts]
    stage1 = scoring.stage1(rows, risks)
    return Routed(stage1, route(stage1, risks, scoring.policy, len(rows)), texts, risks)


def remember(scoring: Scoring, texts: Sequence[str], logits: np.ndarray | None) -> None:
    """The language model read these narratives: remember the risk its text head gave each."""
    memory = scoring.memory
    if memory is None or logits is None:
        return
    for text, logit in zip(texts, logits, strict=True):
        memory.remember(text, float(logit))
