"""The decision for each record and the outputs that carry it.

A scored record (stage 1's, the language model's or a fallback score) becomes a risk-score
record, and an alert at or above the threshold: the rule file (`rules.py`) may block, allow,
review or raise the score first; a second alert for one transaction id within
`alert_dedup_window_s` is suppressed (the score goes out flagged). A record that could not be
parsed becomes a dead letter, and, when its ids could be read, a review score as well (fail
closed: `input_checks.py`). The outputs go to the `Outbox`; the counters, the observer (live
page, metrics) and the listener hear of each.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from fraudstream.batching import Ticket
from fraudstream.input_checks import INPUT_FLAGS, unscorable_record
from fraudstream.pipeline import Decision, Rejected, Work, alert_record, band_of, score_record
from fraudstream.rules import RuleSet, facts_of
from fraudstream.runtime.scoring import Reason, Scoring
from fraudstream.stream.context import WorkerContext
from fraudstream.stream.outbox import Outbox
from fraudstream.stream.state_store import ALERTED_ROLE, state_key


def decision_of(
    score: float,
    scoring: Scoring,
    threshold: float,
    stage: str,
    reasons: Sequence[Reason],
    *,
    extra: Sequence[dict[str, Any]] = (),
    band: str | None = None,
    alert: bool | None = None,
) -> Decision:
    """The decision a score makes (the processor's, and the load test's Faust variant's): the
    score clipped to [0, 1], its band by the thresholds (unless a rule set one), the model's
    five strongest reasons then `extra`, an alert at or above `threshold` (unless a rule
    said)."""
    return Decision(
        score=min(1.0, max(0.0, score)),
        band=band or band_of(score, threshold, max(threshold, scoring.block_threshold)),
        reasons=[*(r.as_dict() for r in reasons[:5]), *extra],
        model_version=scoring.version,
        stage=stage,
        alert=score >= threshold if alert is None else alert,
    )


class Verdicts:
    def __init__(self, ctx: WorkerContext, outbox: Outbox, rules: RuleSet | None) -> None:
        self.ctx = ctx
        self.outbox = outbox
        self.rules = rules
        """Replaced whole on SIGHUP (`reload.HotSwap.request`)."""

    def score(
        self,
        work: Work,
        score: float,
        stage: str,
        reasons: Sequence[Reason],
        batch: dict[str, Any] | None = None,
    ) -> None:
        """Publish `work`'s score (and alert) from `stage`."""
        ctx = self.ctx
        t0 = time.monotonic()
        if t0 > work.deadline:
            # past its budget, whichever stage scored it (with `deadline_from: produced` a
            # record that waited in the topic can be late before it is read)
            work.flags.append("late")
            ctx.counters.late += 1
        scoring: Scoring = work.scoring or ctx.scoring  # the model that routed it
        threshold = ctx.threshold(scoring)
        band: str | None = None
        alert: bool | None = None
        fired: list[dict[str, Any]] | None = None
        if self.rules is not None:
            ev = work.event
            outcome = self.rules.decide(
                facts_of(ev.amount, ev.categorical, ev.numeric, work.row.named(), ev.entities),
                score,
            )
            score, band, alert, fired = (
                outcome.score,
                outcome.band,
                outcome.alert,
                outcome.records(),
            )
        decision = decision_of(
            score,
            scoring,
            threshold,
            stage,
            reasons,
            extra=[
                *work.input_reasons,
                *(
                    {"code": "rule", "text": f"rule {f['id']}: {f['reason']}", "weight": 0.0}
                    for f in fired or ()
                ),
            ],
            band=band,
            alert=alert,
        )
        alert = decision.alert
        work.timings["produce"] = 0.0
        counters = ctx.counters
        if alert:
            dedupe = ctx.dedupe.get(work.source.partition)
            if dedupe is not None and not dedupe.first(work.event.transaction_id, time.time()):
                # the same transaction id alerted within alert_dedup_window_s: score, no alert
                alert = False
                work.flags.append("alert_suppressed_duplicate")
                counters.alerts_suppressed += 1
        record = score_record(work, decision, now_ms=int(time.time() * 1000))
        if fired is not None:
            record["rules"] = fired
        if batch is not None:
            record["batch"] = batch
        record["timings_ms"]["produce"] = round((time.monotonic() - t0) * 1000.0, 3)
        topics = ctx.settings.topics
        outputs: list[tuple[str, bytes]] = [(topics.scores, orjson.dumps(record))]
        marker: bytes | None = None
        alert_doc: dict[str, Any] | None = None
        if alert:
            alert_doc = alert_record(record, work, threshold)
            outputs.append((topics.alerts, orjson.dumps(alert_doc)))
            marker = state_key(ALERTED_ROLE, work.event.transaction_id)
            counters.alerts += 1
        counters.scored += 1
        for flag in work.flags:
            if flag in INPUT_FLAGS:
                counters.flagged_input[flag] = counters.flagged_input.get(flag, 0) + 1
        self.outbox.send(work.tracked_ticket, work.source.key, outputs, marker=marker)
        if ctx.observer is not None:
            ctx.observer.on_score(record, work.tracked_ticket)
            if alert_doc is not None:
                ctx.observer.on_alert(alert_doc)
        if ctx.listener is not None:
            ctx.listener("score", record)

    def dead_letter(self, rejected: Rejected, ticket: Ticket) -> None:
        """Publish a record that could not be admitted to the dead-letter topic, and, when its
        ids are readable, a review score for the payment it names (fail closed)."""
        ctx = self.ctx
        counters = ctx.counters
        counters.dead_letters += 1
        kinds = counters.dead_letter_kinds
        kinds[rejected.error.kind] = kinds.get(rejected.error.kind, 0) + 1
        topics = ctx.settings.topics
        outputs = [(topics.dlq, rejected.payload)]
        record = None
        if rejected.ids is not None:
            src = rejected.source
            record = unscorable_record(
                transaction_id=rejected.ids[0],
                account_id=rejected.ids[1],
                error=rejected.error,
                source={
                    "topic": src.topic,
                    "partition": src.partition,
                    "offset": src.offset,
                    "timestamp_ms": src.timestamp_ms,
                },
                model_version=ctx.scoring.version,
                now_ms=int(time.time() * 1000),
            )
            outputs.append((topics.scores, orjson.dumps(record)))
            counters.unscorable += 1
        self.outbox.send(ticket, rejected.output_key, outputs)
        if ctx.listener is not None:
            ctx.listener(
                "dead_letter", {"kind": rejected.error.kind, "offset": rejected.source.offset}
            )
            if record is not None:
                ctx.listener("score", record)
