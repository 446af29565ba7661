"""What a processor with a model folder serves, computed offline over a feature table.

The processor scores every transaction with the folder's calibrated stage 1, sends to the
language model what the cascade policy routes (`fraudstream/cascade.py`: unread narratives, risky
narratives, stage 1's uncertain band), and serves the language model's score for those (or its
blend with stage 1's, `CascadePolicy.blend`). Routing
depends on what was read before, so `serve` walks the rows in the order given (file order: time
order), with a `NarrativeMemory` as large as the settings' default and holding the folder's
known narratives at the start, exactly as the stream would.

`fraudstream evaluate --cascade` and the narrative probe (`model/probe.py`) both measure this, so
that the figures are those of the code the stream runs, not of the language model alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fraudstream.cascade import CascadePolicy, NarrativeMemory, blend, replay
from fraudstream.model.stage1 import Stage1Model, load_stage1

if TYPE_CHECKING:
    from fraudstream.features.dataset import FeatureTable
    from fraudstream.model.folder import LoadedModel

DEFAULT_MEMORY = 50_000
"""Narratives remembered, as `Settings.narrative_cache_size` by default."""


@dataclass(frozen=True, slots=True)
class _Row:
    """The `RowLike` view of one FeatureTable row that `LoadedModel.prepare` reads."""

    numeric: Sequence[float]
    categorical: Sequence[str]
    narrative: str


@dataclass
class Served:
    scores: np.ndarray
    """What is served per row: the language model's score (or the policy's blend of it with
    stage 1's) where routed, else stage 1's."""
    routed: np.ndarray
    """Per row: whether the language model read it."""
    stage1: np.ndarray | None
    model: np.ndarray
    """The language model's score where routed (NaN elsewhere)."""


class FolderScorer:
    """A model folder loaded for offline scoring: the language model (with a narrative cache, as
    in the model process) and its stage 1."""

    def __init__(
        self,
        path: str | Path,
        *,
        device: str = "auto",
        threads: int | None = None,
        narrative_cache: int = 200_000,
    ) -> None:
        from fraudstream.model.folder import load_model

        self.path = Path(path)
        self.model: LoadedModel = load_model(
            self.path, device=device, threads=threads, narrative_cache=narrative_cache
        )
        self.stage1: Stage1Model | None = load_stage1(
            self.path, text_head=self.model.module.text_head is not None
        )

    @property
    def version(self) -> str:
        return str(self.model.version)

    def score(
        self,
        table: FeatureTable,
        rows: np.ndarray,
        narratives: Sequence[str] | None = None,
        batch_size: int = 512,
    ) -> np.ndarray:
        """The language model's calibrated probability for `rows` (narratives: `table`'s own, or
        one per row given here)."""
        out = np.empty(rows.size, dtype=np.float64)
        for start in range(0, rows.size, batch_size):
            chunk = rows[start : start + batch_size]
            batch = [
                _Row(
                    table.numeric[i].tolist(),
                    table.categorical[i].tolist(),
                    table.narratives[i] if narratives is None else narratives[start + j],
                )
                for j, i in enumerate(chunk)
            ]
            out[start : start + chunk.size] = self.model.predict(self.model.prepare(batch))
        return out

    def text_logits(self, texts: Sequence[str]) -> dict[str, float]:
        """The text head's logit for each distinct normalised narrative (empty without a head)."""
        if self.model.module.text_head is None:
            return {}
        distinct = list(dict.fromkeys(texts))
        n_num = len(self.model.config.numeric_names)
        n_cat = len(self.model.config.categorical_names)
        out: dict[str, float] = {}
        for start in range(0, len(distinct), 512):
            part = distinct[start : start + 512]
            # the narratives are normalised already; normalising twice changes nothing
            rows = [_Row([0.0] * n_num, [""] * n_cat, t) for t in part]
            logits = self.model.text_logits(self.model.prepare(rows))
            assert logits is not None
            out.update(zip(part, (float(x) for x in logits), strict=True))
        return out

    def serve(
        self,
        table: FeatureTable,
        rows: np.ndarray,
        narratives: Sequence[str] | None = None,
        *,
        policy: CascadePolicy | None = None,
        memory: int = DEFAULT_MEMORY,
    ) -> Served:
        """Served scores for `rows`, routed in the order given (see the module docstring)."""
        raw = [table.narratives[i] for i in rows] if narratives is None else list(narratives)
        if self.stage1 is None:
            lm = self.score(table, rows, raw)
            return Served(lm, np.ones(rows.size, dtype=bool), None, lm)
        chosen = policy or self.stage1.policy
        texts = self.model.model_texts(raw)
        logits = None
        if chosen.reads_narratives or self.stage1.reads_narrative_risk:
            by_text = self.text_logits(texts)
            logits = np.array([by_text.get(t, np.nan) if t else np.nan for t in texts])
        # Stage 1 reads the logit the narrative memory would hold. Where the narrative is unread
        # the row goes to the language model whatever stage 1 says, so its logit can be given
        # from the start: the routing below is the same as in the stream.
        s1 = self.stage1.score(table.numeric[rows], table.categorical[rows], logits)
        # the memory a processor with this folder starts with (`model/known_narratives.py`)
        start = NarrativeMemory(memory).preload(self.stage1.known)
        routed = replay(s1, texts, logits, chosen, memory=start)
        model = np.full(rows.size, np.nan)
        served = s1.copy()
        idx = np.flatnonzero(routed)
        if idx.size:
            model[idx] = self.score(table, rows[idx], [raw[j] for j in idx])
            served[idx] = blend(s1[idx], model[idx], chosen.blend)
        return Served(served, routed, s1, model)
