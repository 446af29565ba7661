"""Shadow mode: a challenger model scores the same records as the champion, off the hot path.

Theory of operation
-------------------
With `shadow_model_path` set, every fetch chunk that the champion routes is also handed, whole, to
the challenger in its own thread: the challenger runs its own cascade (its stage 1, its policy
and narrative memory, its language model in batches of at most `max_batch_size`) on the same
feature rows,
and its scores go to the shadow topic as ordinary risk-score records naming its version. The
champion's scores, alerts and latency path do not wait for it.

Nothing is lost on the shadow topic either: a record that expects a shadow score declares one
more output to the offset tracker, so its offset is committed only once the shadow score is
acknowledged too. The champion and the challenger finish in either order; the processor holds the
one that finishes first (bounded by the records in flight, which `max_in_flight` bounds). A
challenger that fails on a chunk publishes nothing for it (logged, counted) and releases the
offsets: a broken challenger must never stop the champion.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import orjson

from fraudstream.batching import Ticket
from fraudstream.features import FeatureRow
from fraudstream.pipeline import Decision, Work, band_of, score_record
from fraudstream.runtime.scoring import Scoring, decide, remember

if TYPE_CHECKING:
    from fraudstream.stream.context import WorkerContext
    from fraudstream.stream.outbox import Outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Scored:
    value: bytes | None
    """The challenger's score record; None: it failed on this record (nothing to send)."""


class ShadowSlots:
    """Per input record in shadow mode, which of the champion and the challenger finished first.

    The champion's outputs and the challenger's score meet here: whichever comes second sends
    both (or acknowledges a failed challenger's nothing). A record is declared to the offset
    tracker with one output more for its shadow score, so its offset waits for it.
    """

    def __init__(self) -> None:
        self._waiting: set[Ticket] = set()
        """The challenger has not finished; the champion has not declared its outputs yet."""
        self._declared: set[Ticket] = set()
        """The champion declared its outputs (the shadow score one of them) first."""
        self._scored: dict[Ticket, _Scored] = {}
        """The challenger finished first: its score waits for the champion's outputs."""

    def expect(self, tickets: Iterable[Ticket]) -> None:
        self._waiting.update(tickets)

    def champion(
        self, ticket: Ticket, outputs: list[tuple[str, bytes]], topic: str
    ) -> tuple[list[tuple[str, bytes]], int]:
        """The champion's outputs are ready: they, with the challenger's score when it is
        there, and how many outputs more the record has to declare."""
        if ticket in self._waiting:
            self._waiting.discard(ticket)
            self._declared.add(ticket)
            return outputs, 1
        scored = self._scored.pop(ticket, None)
        if scored is None or scored.value is None:
            return outputs, 0
        return [*outputs, (topic, scored.value)], 1

    def challenger(self, ticket: Ticket, value: bytes | None) -> bool:
        """The challenger's score (None: it failed) is ready; True when the champion declared
        it already, so that the caller sends it (or acknowledges nothing) now."""
        if ticket in self._waiting:
            self._waiting.discard(ticket)
            self._scored[ticket] = _Scored(value)
            return False
        if ticket in self._declared:
            self._declared.discard(ticket)
            return True
        return False  # revoked meanwhile

    def forget(self, ticket: Ticket) -> None:
        self._waiting.discard(ticket)
        self._declared.discard(ticket)
        self._scored.pop(ticket, None)

    def revoke(self, tp: tuple[str, int]) -> None:
        for ticket in [t for t in (*self._waiting, *self._declared, *self._scored) if t.tp == tp]:
            self.forget(ticket)

    def __len__(self) -> int:
        return len(self._waiting) + len(self._declared) + len(self._scored)


def challenger_scores(
    scoring: Scoring, rows: Sequence[FeatureRow], max_batch: int
) -> tuple[np.ndarray, list[str]]:
    """The challenger's full cascade on `rows`: (scores, stage per row). Runs in a thread."""
    n = len(rows)
    routed = decide(scoring, rows)
    s1, to_lm = routed.stage1, routed.to_lm
    scores = np.zeros(n, dtype=np.float64) if s1 is None else np.asarray(s1, dtype=np.float64)
    stages = ["stage1"] * n
    index = np.flatnonzero(to_lm)
    for start in range(0, len(index), max(1, max_batch)):
        part = index[start : start + max_batch]
        sub = [rows[i] for i in part]
        ids = scoring.tokenize([r.narrative for r in sub])
        probs, _, logits = scoring.predict_explain(scoring.prepare(sub, ids), 2.0)
        if routed.texts is not None:
            remember(scoring, [routed.texts[i] for i in part], logits)
        for j, i in enumerate(part):
            scores[i] = float(probs[j])
            stages[i] = "language_model"
    return scores, stages


class Challenger:
    """The challenger model of shadow mode, in its own thread, its scores to the shadow topic."""

    def __init__(
        self, ctx: WorkerContext, scoring: Scoring, slots: ShadowSlots, outbox: Outbox
    ) -> None:
        self.ctx = ctx
        self.scoring = scoring
        self.slots = slots
        self.outbox = outbox
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="fraudstream-shadow")

    def submit(self, works: list[Work]) -> None:
        """Register a shadow output per record, then let the challenger score them; the
        champion goes on meanwhile."""
        self.slots.expect(w.tracked_ticket for w in works)
        self.ctx.spawn(self._run(works))

    async def _run(self, works: list[Work]) -> None:
        ctx, challenger = self.ctx, self.scoring
        values: list[bytes | None]
        try:
            scores, stages = await asyncio.get_running_loop().run_in_executor(
                self._pool,
                challenger_scores,
                challenger,
                [w.row for w in works],
                ctx.settings.max_batch_size,
            )
            threshold = ctx.threshold(challenger)
            block = max(threshold, challenger.block_threshold)
            now_ms = int(time.time() * 1000)
            values = []
            for work, score, stage in zip(works, scores, stages, strict=True):
                decision = Decision(
                    score=min(1.0, max(0.0, float(score))),
                    band=band_of(float(score), threshold, block),
                    reasons=[],
                    model_version=challenger.version,
                    stage=stage,
                    alert=float(score) >= threshold,
                )
                values.append(orjson.dumps(score_record(work, decision, now_ms=now_ms)))
        except Exception:  # a broken challenger must never stop the champion
            log.exception("shadow model failed on %d records; no shadow scores", len(works))
            values = [None] * len(works)
        topic = ctx.settings.topics.shadow
        for work, value in zip(works, values, strict=True):
            if not self.slots.challenger(work.tracked_ticket, value):
                continue  # held for the champion's outputs, or revoked meanwhile
            if value is None:
                ctx.tracker.acked(work.tracked_ticket)  # declared, but there is nothing to send
                ctx.moved()
            else:
                self.outbox.send_declared(work.tracked_ticket, topic, work.source.key, value)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
