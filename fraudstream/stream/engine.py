"""The engine: from admitted records to scores, through stage 1 and the language model.

Theory of operation
-------------------
* **route** (a fetched chunk at once, on the event loop): stage 1 scores every record and the
  cascade (`fraudstream/cascade.py`, via `runtime/scoring.decide`) says which go on to the
  language model; the others' scores are final. Those for the language model are tokenised off
  the loop and queued in the micro-batching scheduler (`batching/`) with their deadlines; a
  narrative read before costs one token of the budget (its text vector is cached).
* **dispatch** (a loop): takes an engine slot, then asks the scheduler `poll(now, free_at)`;
  runs a batch in the inference runner's threads (`runtime/runner.py`) or waits until the
  scheduler's wake-up time or new work.
* **model failure**: a failing batch is split in halves and retried down to single records; a
  record that still fails is scored without the language model (stage 1, else the rules score:
  the `review` band), flagged `fallback_after_model_error`, so the stream goes on.

Scores go to `Verdicts`; the narratives the language model read go into the model's narrative
memory, so that stage 1 knows their risk next time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from fraudstream.batching import Dispatch, Idle, Item, LatencyModel, Scheduler, Wait
from fraudstream.pipeline import Work
from fraudstream.runtime.runner import InferenceRunner
from fraudstream.runtime.scoring import Reason, Scoring, decide, remember
from fraudstream.stream.context import WorkerContext
from fraudstream.stream.shadow import Challenger
from fraudstream.stream.verdicts import Verdicts

log = logging.getLogger(__name__)

BatchResult = tuple[np.ndarray, dict[int, list[Reason]], np.ndarray]
"""Scores, reasons of the alerting rows, narrative risk per row (NaN: none)."""

BUCKET_EDGES = (8, 16, 24, 32, 48, 64, 128)
"""Padded lengths the scheduler forms batches at."""


class Engine:
    def __init__(
        self, ctx: WorkerContext, verdicts: Verdicts, challenger: Challenger | None = None
    ) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.verdicts = verdicts
        self.challenger = challenger
        self.latency_model = LatencyModel()
        self.scheduler: Scheduler[Work] = Scheduler(
            max_batch_size=settings.max_batch_size,
            token_budget=settings.token_budget,
            bucket_edges=BUCKET_EDGES,
            model=self.latency_model,
            margin=settings.latency_margin_ms / 1000.0,
        )
        self.runner: InferenceRunner[list[Work], Any, BatchResult]
        self.runner = InferenceRunner(self._prepare, self._infer, name="fraudstream")
        self._tokenizer = ThreadPoolExecutor(1, thread_name_prefix="fraudstream-tokenize")

    def __len__(self) -> int:
        """Records queued for the language model."""
        return len(self.scheduler)

    # ------------------------------------------------------------------------------ route

    async def route(self, works: list[Work]) -> None:
        """Score a fetched chunk with stage 1; queue what the cascade sends on."""
        ctx = self.ctx
        # One model for the whole chunk, even if a swap lands while it waits for the tokenizer.
        scoring = ctx.scoring
        if self.challenger is not None:
            self.challenger.submit(works)
        rows = [w.row for w in works]
        routed = decide(scoring, rows)
        stage1, to_lm = routed.stage1, routed.to_lm
        final: list[int] = []
        for i, work in enumerate(works):
            work.scoring = scoring
            if stage1 is not None:
                work.stage1 = float(stage1[i])
            if routed.texts is not None and routed.risks is not None:
                work.text = routed.texts[i]
                work.narrative_risk = routed.risks[i]
            if not to_lm[i]:
                final.append(i)
        if final:
            assert stage1 is not None
            threshold = ctx.threshold(scoring)
            alerts = [i for i in final if stage1[i] >= threshold]
            reasons = (
                scoring.stage1_reasons(
                    [rows[i] for i in alerts],
                    None if routed.risks is None else [routed.risks[i] for i in alerts],
                )
                if alerts
                else []
            )
            by_index = dict(zip(alerts, reasons, strict=True))
            for i in final:
                works[i].timings.update(queue=0.0, inference=0.0)
                self.verdicts.score(works[i], float(stage1[i]), "stage1", by_index.get(i, []))
        lm = [works[i] for i in range(len(works)) if to_lm[i]]
        if lm:
            loop = asyncio.get_running_loop()
            token_ids = await loop.run_in_executor(
                self._tokenizer, scoring.tokenize, [w.event.narrative for w in lm]
            )
            now = time.monotonic()
            for work, ids in zip(lm, token_ids, strict=True):
                work.token_ids = ids
                work.tokens = len(ids)
                work.queued_at = now
                # A narrative read before costs a lookup in the model's cache of text vectors:
                # the scheduler's token budget counts the tokens a forward pass will pay for.
                cost = 1 if work.narrative_risk is not None else max(1, len(ids))
                self.scheduler.add(Item(payload=work, deadline=work.deadline, tokens=cost))
            ctx.wake.set()

    # ------------------------------------------------------------------------------ dispatch

    async def run(self) -> None:
        """The dispatch loop."""
        ctx = self.ctx
        while True:
            await self.runner.acquire_slot()
            decision: Dispatch[Work] | Wait | Idle
            while True:
                now = time.monotonic()
                decision = self.scheduler.poll(now, free_at=self.runner.busy_until(now))
                if isinstance(decision, Dispatch):
                    break
                ctx.wake.clear()
                timeout = decision.until - now if isinstance(decision, Wait) else None
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(ctx.wake.wait(), timeout)
            ctx.spawn(self._run_batch(decision))

    async def _run_batch(self, decision: Dispatch[Work]) -> None:
        works = [item.payload for item in decision.batch]
        dispatched = time.monotonic()
        estimate = self.latency_model.estimate(len(works), decision.padded_len)
        try:
            (probs, reasons, risks), times = await self.runner.run(works, estimate)
        except Exception as exc:  # a failing model must not stop the stream
            log.exception("inference failed for a batch of %d; splitting it", len(works))
            await self._split_retry(works, decision.padded_len, dispatched, exc)
            return
        self.scheduler.complete(decision, times.infer_s)
        self._scored(works, probs, reasons, risks, times, decision.padded_len, dispatched)

    async def _split_retry(
        self, works: list[Work], padded_len: int, dispatched: float, exc: BaseException
    ) -> None:
        """A batch failed (out of memory, one poisonous input): retry its halves, down to single
        records, so one bad record costs only itself; a single record that still fails gets the
        fallback score, flagged. Each retry takes an engine slot like any batch."""
        if len(works) == 1:
            self._fallback(works, exc)
            return
        self.ctx.counters.retried_batches += 1
        mid = len(works) // 2
        for half in (works[:mid], works[mid:]):
            await self.runner.acquire_slot()
            estimate = self.latency_model.estimate(len(half), padded_len)
            try:
                (probs, reasons, risks), times = await self.runner.run(half, estimate)
            except Exception as error:
                log.warning("inference failed again for %d records: %s", len(half), error)
                await self._split_retry(half, padded_len, dispatched, error)
                continue
            self._scored(half, probs, reasons, risks, times, padded_len, dispatched)

    def _scored(
        self,
        works: list[Work],
        probs: np.ndarray,
        reasons: dict[int, list[Reason]],
        risks: np.ndarray,
        times: Any,
        padded_len: int,
        dispatched: float,
    ) -> None:
        ctx = self.ctx
        counters = ctx.counters
        counters.batches += 1
        # The narratives are read: later payments that carry one get its risk from the memory
        # (on the event loop, the memory's only user).
        for i, work in enumerate(works):
            if work.text is not None and not np.isnan(risks[i]):
                remember(work.scoring or ctx.scoring, [work.text], risks[i : i + 1])
        fill = padded_len and sum(w.tokens for w in works) / (len(works) * padded_len)
        if ctx.observer is not None:
            ctx.observer.on_batch(len(works), len(works) * padded_len, float(fill))
        batch = {
            "size": len(works),
            "tokens": len(works) * padded_len,
            "fill": round(float(fill), 3),
        }
        for i, work in enumerate(works):
            queued = work.queued_at if work.queued_at is not None else dispatched
            work.timings["queue"] = dispatched - queued + times.prepare_s + times.wait_s
            work.timings["inference"] = times.infer_s
            counters.language_model += 1
            self.verdicts.score(work, float(probs[i]), "language_model", reasons.get(i, []), batch)
        ctx.moved()

    def _fallback(self, works: list[Work], exc: BaseException) -> None:
        """The language model failed on these records even alone: score them without it, flagged
        `fallback_after_model_error`, so nothing is lost. The stage-1 score when there is one;
        else the rules score: the alert threshold, i.e. the `review` band, because a transaction
        nobody could score is one an analyst should see rather than one to let through."""
        log.error("language model failed on a single record (%s): fallback score", exc)
        ctx = self.ctx
        for work in works:
            work.flags.append("fallback_after_model_error")
            work.timings["queue"] = 0.0
            work.timings["inference"] = 0.0
            ctx.counters.fallbacks += 1
            if work.stage1 is not None:
                work.flags.append("fallback_stage1")
                self.verdicts.score(work, work.stage1, "fallback", [])
            else:
                work.flags.append("fallback_rules")
                reason = Reason("model", "the language model failed on this record", 1.0)
                scoring = work.scoring or ctx.scoring
                self.verdicts.score(work, ctx.threshold(scoring), "fallback", [reason])
        ctx.moved()

    # ------------------------------------------------------------------------------ model work

    def _prepare(self, works: list[Work]) -> Any:
        # A batch formed across a hot swap holds records tokenised by two models: each group
        # runs on the model that tokenised it.
        groups: dict[int, tuple[Scoring, list[int]]] = {}
        for i, w in enumerate(works):
            scoring = w.scoring or self.ctx.scoring
            groups.setdefault(id(scoring), (scoring, []))[1].append(i)
        return len(works), [
            (
                scoring,
                index,
                scoring.prepare(
                    [works[i].row for i in index], [works[i].token_ids or [] for i in index]
                ),
            )
            for scoring, index in groups.values()
        ]

    def _infer(self, prepared: Any) -> BatchResult:
        """Scores, reasons of the alerting rows, and the narratives' own risk (NaN where the
        model has no text head), for one batch (inference thread)."""
        n, groups = prepared
        probs = np.zeros(n, dtype=np.float64)
        risks = np.full(n, np.nan)
        by_index: dict[int, list[Reason]] = {}
        for scoring, index, batch in groups:
            p, reasons, logits = scoring.predict_explain(batch, self.ctx.threshold(scoring))
            for j, x in enumerate(p):
                probs[index[j]] = x
            for j, r in reasons.items():
                by_index[index[j]] = r
            if logits is not None:
                risks[index] = logits
        return probs, by_index, risks

    def close(self) -> None:
        self.runner.close()
        self._tokenizer.shutdown(wait=True)
