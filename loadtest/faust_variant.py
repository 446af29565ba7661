"""The same pure core inside a Faust agent, batched by Faust's fixed window `take(max, within)`.

    python -m loadtest.faust_variant --bootstrap HOST:PORT --input-topic T ... \
        [--take 256] [--within-ms 10] [--datadir DIR]

This is the baseline the load test compares fraudstream's scheduler with (issue 4, variant b): a
real faust-streaming app and worker (`faust worker -l warn`), one agent over the input topic, the
same `pipeline.Admission` (decode, validate, map, duplicate check, per-entity state), the same
`Scoring` (stage 1, the language model on the uncertain band) and the same `score_record` /
`alert_record`, so the only difference is how records are gathered into batches and handed to the
model:

* Faust's `stream.take_events(max, within)` (the `take` of `stream.take(max, within)` that also
  gives each record's Kafka metadata) yields when `max` records are buffered or `within` seconds
  have passed since the previous yield, whichever comes first: a fixed window, blind to deadlines,
  to the model's cost and to token lengths;
* a batch is scored while the window is closed: Faust does not buffer the next batch until the
  agent returns to the `take` loop (the model runs in a worker thread so the event loop keeps
  serving the consumer and producer meanwhile);
* Faust acknowledges the batch's events once the agent is done with it and commits acknowledged
  offsets every `commit_interval_ms` (set equal to the processor's); it does not wait for the
  outputs' broker acknowledgements first as the processor does, and it keeps the per-entity state
  in memory only (no changelog): both make this variant cheaper, never dearer, than the processor.

Pitfalls handled here: Faust waits forever for a topic that does not exist, so every topic is
created first (`prepare_topics`); it declares no topics itself (`topic_allow_declare=False`, no
leader topic); it writes a data directory, pointed at `--datadir` (a temporary one by default);
its web server is off. Security settings other than PLAINTEXT are refused (a load-test tool;
`faust_credentials` is how they map onto Faust's credentials, checked by the security tests).

faust-streaming is not a dependency of the product: it comes with the `loadtest` extra
(`pip install 'fraudstream[loadtest]'`, which `make install` does), and is imported only here.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click
import numpy as np
import orjson

from fraudstream.cli_common import settings_options, setup_logging
from fraudstream.config import ConfigError, KafkaSettings, Settings
from fraudstream.features import FeatureSpec, FeatureState
from fraudstream.mapping import Mapping as FieldMapping
from fraudstream.pipeline import (
    Admission,
    InputRecord,
    Rejected,
    Work,
    alert_record,
    score_record,
)
from fraudstream.runtime.scoring import Reason, Scoring, decide, remember
from fraudstream.stream.clients import resolve_bootstrap, ssl_context
from fraudstream.stream.verdicts import decision_of

log = logging.getLogger(__name__)

Output = tuple[str, bytes | None, bytes]
"""(topic, key, value)"""


class FaustScorer:
    """The agent's body, without Faust: one batch of Kafka records in, the outputs out."""

    def __init__(
        self,
        settings: Settings,
        scoring: Scoring,
        *,
        mapping: FieldMapping,
        spec: FeatureSpec,
        worker: str = "fraudstream-faust",
    ) -> None:
        self.settings = settings
        self.scoring = scoring
        self.spec = spec
        self.admission = Admission(
            mapping,
            settings.admission_rules(worker),
        )
        self.states: dict[int, FeatureState] = {}
        self.model_pool = ThreadPoolExecutor(1, thread_name_prefix="faust-model")
        self.scored = 0

    @property
    def alert_threshold(self) -> float:
        t = self.settings.alert_threshold
        return self.scoring.alert_threshold if t is None else t

    def admit(self, records: Sequence[InputRecord]) -> tuple[list[Work], list[Output]]:
        works: list[Work] = []
        outputs: list[Output] = []
        wall = time.time()
        perf = time.monotonic
        for rec in records:
            state = self.states.get(rec.partition)
            if state is None:
                state = self.states[rec.partition] = FeatureState(self.spec)
            out = self.admission.admit(rec, state, now=perf(), wall_now=wall, clock=perf)
            if isinstance(out, Rejected):
                outputs.append((self.settings.topics.dlq, rec.key, out.payload))
            else:
                works.append(out)
        return works, outputs

    def _model(self, works: list[Work]) -> tuple[np.ndarray, dict[int, list[Reason]], float]:
        """Tokenise, prepare and score one batch (model thread)."""
        scoring = self.scoring
        ids = scoring.tokenize([w.event.narrative for w in works])
        for work, tokens in zip(works, ids, strict=True):
            work.token_ids = tokens
            work.tokens = len(tokens)
        t0 = time.monotonic()
        prepared = scoring.prepare([w.row for w in works], ids)
        probs, reasons, logits = scoring.predict_explain(prepared, self.alert_threshold)
        texts = [w.text for w in works]
        if all(t is not None for t in texts):
            remember(scoring, [t for t in texts if t is not None], logits)
        return probs, reasons, t0

    async def score(self, records: Sequence[InputRecord]) -> list[Output]:
        works, outputs = self.admit(records)
        if not works:
            return outputs
        rows = [w.row for w in works]
        routed = decide(self.scoring, rows)
        stage1, to_lm = routed.stage1, routed.to_lm
        if routed.texts is not None:
            for work, text in zip(works, routed.texts, strict=True):
                work.text = text
        final = [i for i in range(len(works)) if not to_lm[i]]
        if final:
            assert stage1 is not None
            alerts = [i for i in final if stage1[i] >= self.alert_threshold]
            risks = None if routed.risks is None else [routed.risks[i] for i in alerts]
            reasons = (
                self.scoring.stage1_reasons([rows[i] for i in alerts], risks) if alerts else []
            )
            by_index = dict(zip(alerts, reasons, strict=True))
            for i in final:
                works[i].stage1 = float(stage1[i])
                works[i].timings.update(queue=0.0, inference=0.0)
                outputs += self.outputs(works[i], float(stage1[i]), "stage1", by_index.get(i, []))
        lm = [works[i] for i in range(len(works)) if to_lm[i]]
        if lm:
            loop = asyncio.get_running_loop()
            try:
                probs, explained, started = await loop.run_in_executor(
                    self.model_pool, self._model, lm
                )
            except Exception:  # a failing model must not stop the stream
                log.exception("inference failed for a batch of %d", len(lm))
                for work in lm:
                    work.flags.append("fallback_after_model_error")
                    work.timings.update(queue=0.0, inference=0.0)
                    outputs += self.outputs(work, work.stage1 or 0.0, "fallback", [])
                return outputs
            infer = time.monotonic() - started
            padded = max((w.tokens for w in lm), default=0)
            fill = padded and sum(w.tokens for w in lm) / (len(lm) * padded)
            batch = {"size": len(lm), "tokens": len(lm) * padded, "fill": round(float(fill), 3)}
            for i, work in enumerate(lm):
                work.timings["queue"] = max(
                    0.0, started - work.read_at - work.timings["decode"] - work.timings["state"]
                )
                work.timings["inference"] = infer
                if time.monotonic() > work.deadline:
                    work.flags.append("late")
                outputs += self.outputs(
                    work, float(probs[i]), "language_model", explained.get(i, []), batch
                )
        return outputs

    def outputs(
        self,
        work: Work,
        score: float,
        stage: str,
        reasons: Sequence[Reason],
        batch: dict[str, Any] | None = None,
    ) -> list[Output]:
        threshold = self.alert_threshold
        decision = decision_of(score, self.scoring, threshold, stage, reasons)
        alert = decision.alert
        work.timings["produce"] = 0.0
        record = score_record(work, decision, now_ms=int(time.time() * 1000))
        if batch is not None:
            record["batch"] = batch
        topics = self.settings.topics
        key = work.source.key
        out: list[Output] = [(topics.scores, key, orjson.dumps(record))]
        if alert:
            out.append((topics.alerts, key, orjson.dumps(alert_record(record, work, threshold))))
        self.scored += 1
        return out


def faust_credentials(kafka: KafkaSettings) -> Any:
    """The same security for a Faust app (`faust.App(..., broker_credentials=...)`): None for
    PLAINTEXT, else SSL or SASL credentials carrying the same TLS context as every other client."""
    if kafka.security_protocol == "PLAINTEXT":
        return None
    import faust
    from faust.types.auth import SASLMechanism

    context = ssl_context(kafka) if kafka.security_protocol == "SASL_SSL" else None
    if kafka.security_protocol == "SSL":
        return faust.SSLCredentials(ssl_context(kafka))
    assert kafka.sasl_password is not None and kafka.sasl_mechanism is not None
    return faust.SASLCredentials(
        username=kafka.sasl_username,
        password=kafka.sasl_password.reveal(),
        ssl_context=context,
        mechanism=SASLMechanism(kafka.sasl_mechanism),
    )


def build_app(
    settings: Settings,
    scorer: FaustScorer,
    *,
    take: int = 256,
    within_s: float = 0.010,
    datadir: Path,
) -> Any:
    """The Faust app: one agent over the input topic, batching with `take_events`."""
    import faust

    if settings.kafka.security_protocol != "PLAINTEXT":
        raise ConfigError("the Faust engine supports kafka.security_protocol PLAINTEXT only")
    brokers = [f"kafka://{hp.strip()}" for hp in resolve_bootstrap(settings.kafka).split(",")]
    app = faust.App(
        settings.group_id,
        broker=brokers,
        datadir=str(datadir),
        web_enabled=False,
        autodiscover=False,
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=settings.commit_interval_ms / 1000.0,
        producer_acks=-1,
    )

    def raw(name: str) -> Any:
        return app.topic(
            name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )

    source = raw(settings.topics.input)
    sinks = {
        name: raw(name)
        for name in (settings.topics.scores, settings.topics.alerts, settings.topics.dlq)
    }

    async def score(stream: Any) -> None:
        async for events in stream.take_events(take, within_s):
            records = [
                InputRecord(
                    m.topic,
                    m.partition,
                    m.offset,
                    None if m.timestamp is None else round(m.timestamp * 1000.0),
                    m.key,
                    m.value,
                )
                for m in (event.message for event in events)
            ]
            for topic, key, value in await scorer.score(records):
                await sinks[topic].send(key=key, value=value)

    app.agent(source, name="fraudstream-score", concurrency=1)(score)
    return app


def run_worker(app: Any, loglevel: str = "warn") -> None:
    """`faust worker -l warn` for `app`, in this process (returns when the worker stops)."""
    sys.argv = [sys.argv[0], "worker", "-l", loglevel, "--without-web"]
    try:
        app.main()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise


def prepare(settings: Settings) -> None:
    """Create every topic first: Faust would wait forever for a missing one."""
    from fraudstream.stream.topics import prepare_topics

    asyncio.run(prepare_topics(settings))
    # asyncio.run leaves no current loop behind; Faust (mode) expects one.
    asyncio.set_event_loop(asyncio.new_event_loop())


def serve(
    settings: Settings,
    scoring: Scoring,
    spec: FeatureSpec,
    *,
    take: int,
    within_s: float,
    datadir: Path | None = None,
) -> None:
    from fraudstream.stream.app import load_mapping

    prepare(settings)
    scorer = FaustScorer(settings, scoring, mapping=load_mapping(settings), spec=spec)
    with tempfile.TemporaryDirectory(prefix="fraudstream-faust-") as tmp:
        app = build_app(
            settings, scorer, take=take, within_s=within_s, datadir=datadir or Path(tmp)
        )
        run_worker(app)


@click.command("faust-engine")
@settings_options
@click.option("--input-topic", default=None)
@click.option("--scores-topic", default=None)
@click.option("--alerts-topic", default=None)
@click.option("--dlq-topic", default=None)
@click.option("--labels-topic", default=None)
@click.option("--group-id", default=None)
@click.option("--partitions", type=int, default=None)
@click.option("--model", "model_path", default=None)
@click.option("--device", default=None)
@click.option("--latency-budget-ms", type=float, default=None)
@click.option("--take", type=int, default=256, show_default=True, help="take(max, ...)")
@click.option("--within-ms", type=float, default=10.0, show_default=True, help="take(.., within)")
@click.option("--datadir", type=click.Path(file_okay=False, path_type=Path), default=None)
def main(
    config_file: str | None,
    bootstrap: str | None,
    take: int,
    within_ms: float,
    datadir: Path | None,
    **flags: Any,
) -> None:
    """Score with the configured model inside a Faust agent (fixed-window batching)."""
    from fraudstream.runtime.loader import load_scoring
    from fraudstream.stream.run_cli import settings_from_flags

    settings = settings_from_flags(config_file, bootstrap, **flags)
    setup_logging(settings)
    scoring, spec = load_scoring(settings)
    serve(settings, scoring, spec, take=take, within_s=within_ms / 1000.0, datadir=datadir)


if __name__ == "__main__":
    main()
