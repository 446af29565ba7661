"""The cascade decision: which transactions the language model reads. One rule for every caller.

Theory of operation
-------------------
Stage 1 (gradient-boosted trees on the metadata and the per-entity state) scores every
transaction; its score is calibrated, so it is served as it is wherever it is final. The language
model reads a transaction, and its score is served instead, when any of these holds:

1. **Its narrative has not been read.** Stage 1 never sees the words, so it must not finalise a
   payment whose memo nobody has read: an authorised push-payment scam can look exactly like the
   account's own payments but for its memo. `NarrativeMemory` remembers the narratives the
   language model has read (normalised, `fraudstream/text.py`) with the risk its text head gave
   each; a narrative not in it is unread. An empty narrative has nothing to read.
2. **Its narrative was read and found risky**: the text head's logit is at least
   `narrative_threshold`. A scam memo read once is read again on every payment that carries it,
   whatever stage 1 says of the metadata.
3. **Stage 1 is unsure**: its calibrated score lies in the band `[low, high)`.

Everything else is final at stage 1. Where the language model reads, it serves its own score, or,
with `blend` > 0 (folders without a text head only), a blend of the two logits: on the handbook's
data a metadata-only network and the trees make different mistakes, and their mean ranks better
than either (docs/model.md). Without a stage 1, the language model reads everything;
without a text head (folders written before it, or models without a narrative) rules 1 and 2 do
not apply and the band alone decides, as it always did.

The policy is chosen on validation at training time (`model/stage1_fit.py::fit_stage1`) and stored in
the model folder's `cascade.json`. The processor, the Faust variant, the shadow scorer and
`fraudstream evaluate` all call `route` here; `NarrativeMemory` is the same bounded LRU in each.
Pure: no I/O, no clock, no torch (a lock keeps the LRU whole across threads).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
from numpy.typing import ArrayLike

V = TypeVar("V")
NO_TEXT = -math.inf
"""The narrative risk of a transaction without a narrative: nothing to read, nothing to fear."""


@dataclass(frozen=True, slots=True)
class CascadePolicy:
    band: tuple[float, float] | None
    """Stage-1 scores in [low, high) go to the language model; None: every transaction does."""
    narrative_threshold: float | None = None
    """A read narrative whose text logit is at least this goes to the language model."""
    read_unread: bool = False
    """Rule 1: an unread narrative goes to the language model (needs a text head)."""
    blend: float = 0.0
    """Weight of stage 1's logit in the score served where the language model reads (`blend`);
    0: the language model's score alone. Only without a text head: there stage 1 reads no
    narrative risk, so the model process can score stage 1 again and get the routing's score."""

    @property
    def reads_narratives(self) -> bool:
        return self.read_unread or self.narrative_threshold is not None

    def to_json(self) -> dict[str, Any]:
        low, high = self.band if self.band is not None else (None, None)
        return {
            # 1.0 + epsilon stands for "no upper end": probabilities never reach it.
            "band": [low, high if high is None or math.isfinite(high) else 1.000001],
            "narrative_threshold": self.narrative_threshold,
            "read_unread": self.read_unread,
            "blend": self.blend,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any], *, text_head: bool) -> CascadePolicy:
        """From `cascade.json`; `text_head`: whether the model has one (rules 1 and 2 need it)."""
        raw = doc.get("band")
        band = None
        if raw is not None:
            low, high = raw  # null: open-ended on that side
            band = (0.0 if low is None else float(low), math.inf if high is None else float(high))
        threshold = doc.get("narrative_threshold")
        return cls(
            band=band,
            narrative_threshold=float(threshold) if threshold is not None and text_head else None,
            read_unread=bool(doc.get("read_unread", False)) and text_head,
            blend=0.0 if text_head else float(doc.get("blend") or 0.0),
        )


def blend(stage1: ArrayLike, model: ArrayLike, weight: float) -> np.ndarray:
    """The score served where the language model reads: its own (`weight` 0), or the sigmoid of
    `weight` * stage 1's logit + (1 - `weight`) * its logit. Both are calibrated probabilities, so
    their logits are on one scale."""
    m = np.asarray(model, dtype=np.float64)
    if weight <= 0.0:
        return m
    s = np.asarray(stage1, dtype=np.float64)
    mixed = weight * logit(s) + (1.0 - weight) * logit(m)
    return np.asarray(1.0 / (1.0 + np.exp(-mixed)), dtype=np.float64)


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), p clipped away from 0 and 1."""
    q = np.clip(p, 1e-7, 1.0 - 1e-7)
    return np.asarray(np.log(q / (1.0 - q)), dtype=np.float64)


def route(
    stage1: np.ndarray | None,
    narrative_risk: Sequence[float | None] | None,
    policy: CascadePolicy | None,
    n: int,
) -> np.ndarray:
    """Boolean mask of the rows that go to the language model.

    `narrative_risk[i]`: None when row i's narrative is unread, `NO_TEXT` when it has none, else
    the text logit remembered for it; None for the whole argument when nobody tracks narratives.
    """
    if stage1 is None or policy is None or policy.band is None:
        return np.ones(n, dtype=bool)
    low, high = policy.band
    mask = (stage1 >= low) & (stage1 < high)
    if narrative_risk is None or not policy.reads_narratives:
        return mask
    threshold = policy.narrative_threshold
    for i, risk in enumerate(narrative_risk):
        if mask[i]:
            continue
        if risk is None:
            mask[i] = policy.read_unread
        elif threshold is not None and risk >= threshold:
            mask[i] = True
    return mask


class LRU(Generic[V]):
    """A bounded least-recently-used map from narratives to values, with its counters.

    Bounded because a stream's distinct narratives grow without end (names, new merchants);
    eviction is safe wherever this is used: an evicted narrative is merely computed again.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError("capacity must be >= 0")
        self.capacity = capacity
        self._data: OrderedDict[str, V] = OrderedDict()
        # One lookup and its recency update must not interleave with an eviction in another
        # thread (the Faust variant remembers in its model thread): a lock, ~0.1 us per call.
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.preloaded = 0

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: str) -> bool:
        """Membership without counting a lookup or refreshing recency (a planning hint)."""
        return key in self._data

    def get(self, key: str) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
                return None
            self.hits += 1
            self._data.move_to_end(key)
            return value

    def put(self, key: str, value: V) -> None:
        if self.capacity == 0:
            return
        with self._lock:
            data = self._data
            if key in data:
                data.move_to_end(key)
            data[key] = value
            while len(data) > self.capacity:
                data.popitem(last=False)
                self.evictions += 1

    def stats(self) -> dict[str, float]:
        looked = self.hits + self.misses
        return {
            "entries": float(len(self._data)),
            "capacity": float(self.capacity),
            "hits": float(self.hits),
            "misses": float(self.misses),
            "evictions": float(self.evictions),
            "preloaded": float(self.preloaded),
            "hit_rate": self.hits / looked if looked else 0.0,
        }


class NarrativeMemory(LRU[float]):
    """The narratives the language model has read, with the text logit each got (rule 1 and 2
    above). An evicted narrative is unread again: the language model reads it next time."""

    def risk(self, text: str) -> float | None:
        """The remembered logit (NO_TEXT for an empty narrative), or None when unread."""
        if not text:
            return NO_TEXT
        return self.get(text)

    def remember(self, text: str, logit: float) -> None:
        if text:
            self.put(text, float(logit))

    def preload(self, known: Sequence[tuple[str, float]]) -> NarrativeMemory:
        """Start with the narratives a model read in training (`model/known_narratives.py`),
        most widely written first: as many as fit, the first the most recently used."""
        kept = list(known[: self.capacity])
        for text, logit in reversed(kept):
            self.remember(text, logit)
        self.preloaded = len(kept)
        return self


def replay(
    stage1: np.ndarray,
    texts: Sequence[str],
    text_logits: np.ndarray | None,
    policy: CascadePolicy,
    *,
    memory: NarrativeMemory | None = None,
) -> np.ndarray:
    """Route rows one by one in the order given, as a running processor would: a narrative the
    language model reads is remembered with its logit for the rows after it. Used by training
    (to choose the policy) and by `fraudstream evaluate` (to measure the served cascade)."""
    n = len(texts)
    if text_logits is None or not policy.reads_narratives or policy.band is None:
        return route(stage1, None, policy, n)
    mem = memory if memory is not None else NarrativeMemory(capacity=max(n, 1))
    low, high = policy.band
    threshold = policy.narrative_threshold
    out = np.zeros(n, dtype=bool)
    for i in range(n):
        text = texts[i]
        risk = mem.risk(text)  # looked up for every row, as the processor does
        go = bool(low <= stage1[i] < high) or (
            (risk is None and policy.read_unread)
            or (risk is not None and threshold is not None and risk >= threshold)
        )
        out[i] = go
        if go:
            mem.remember(text, float(text_logits[i]))
    return out
