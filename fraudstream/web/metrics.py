"""Prometheus metrics of one processor, in its own registry.

Counters (records in, scored, alerts, dead letters) are not counted twice: a collector reads the
processor's own `Counters` at scrape time, so the hot path pays nothing for them. Histograms are
observed on the hot path, so they use `FastHistogram` (a bisect into fixed buckets, no lock: every
observation happens on the processor's event loop) instead of `prometheus_client.Histogram`,
whose per-observation lock and child lookup cost several microseconds per record per stage.

Each processor gets its own `CollectorRegistry` (never the global default): two processors in
one test process, or a processor and a standalone page, must not collide or add up.

Names follow the Prometheus conventions: base units (seconds), `_total` on counters, `_info` for
the model version. The full list with their meaning is in docs/operations.md.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE_LATEST", "STAGES", "FastHistogram", "ProcessorMetrics"]

STAGES = ("topic", "decode", "state", "queue", "inference", "produce")
"""Stages of `timings_ms` on score records; `topic` is the time from the record's Kafka
timestamp to its reading (consumer lag); `produce` here runs until the broker's ack."""

LATENCY_BUCKETS_S = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
BATCH_TOKENS_BUCKETS = (16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
FILL_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


STATE_BYTES_PER_ENTITY = 1_300
"""An entity held as objects, native spec (`fraudstream bench-state`)."""
STATE_BYTES_PER_PACKED = 175
"""A packed one (`features/entity.py`), likewise."""
"""Resident memory per entity of the native spec, measured with `FeatureState.process`: 100,000
new accounts, +180 MB (1,802 B each)."""


class FastHistogram:
    """Cumulative-on-export histogram: `observe` is one bisect and two additions."""

    __slots__ = ("buckets", "count", "counts", "sum")

    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(float(b) for b in buckets)
        if list(self.buckets) != sorted(set(self.buckets)):
            raise ValueError("histogram buckets must be strictly increasing")
        self.counts = [0] * (len(self.buckets) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bound's bucket (le, "less or equal")
        self.counts[bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, c in zip(self.buckets, self.counts, strict=False):
            running += c
            out.append((_le(bound), running))
        out.append(("+Inf", self.count))
        return out

    def quantile(self, q: float) -> float | None:
        """Upper bound of the bucket holding the q-quantile (None when empty or past the top)."""
        if not self.count:
            return None
        rank = q * self.count
        running = 0
        for bound, c in zip(self.buckets, self.counts, strict=False):
            running += c
            if running >= rank:
                return bound
        return None


def _le(bound: float) -> str:
    return str(int(bound)) + ".0" if bound == int(bound) else repr(bound)


CounterSource = Callable[[], Mapping[str, Any]]
"""Returns the processor's cumulative counts (`Counters.as_dict()`)."""


class ProcessorMetrics(Collector):
    """Everything `/metrics` shows for one processor. Feed it with the `observe_*` methods; set
    `counters`, `lag`, `model_versions` and `drift` to callables read at scrape time."""

    def __init__(self, *, scores_topic: str) -> None:
        self.scores_topic = scores_topic
        self.stages = {stage: FastHistogram(LATENCY_BUCKETS_S) for stage in STAGES}
        self.end_to_end = FastHistogram(LATENCY_BUCKETS_S)
        self.batch_size = FastHistogram(BATCH_SIZE_BUCKETS)
        self.batch_tokens = FastHistogram(BATCH_TOKENS_BUCKETS)
        self.batch_fill = FastHistogram(FILL_BUCKETS)
        self.counters: CounterSource = dict
        self.lag: Callable[[], Mapping[tuple[str, int], int]] = dict
        self.model_versions: Callable[[], Sequence[str]] = list
        self.drift: Callable[[], Mapping[str, Any] | None] = lambda: None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    # -- hot path ---------------------------------------------------------------------------

    def observe_score(self, timings_ms: Mapping[str, float]) -> None:
        """The stages a score record carries (produce is observed at the ack instead)."""
        stages = self.stages
        for stage in ("topic", "decode", "state", "queue", "inference"):
            value = timings_ms.get(stage)
            if value is not None:
                stages[stage].observe(value / 1000.0)

    def observe_batch(self, size: int, tokens: int, fill: float) -> None:
        self.batch_size.observe(size)
        self.batch_tokens.observe(tokens)
        self.batch_fill.observe(fill)

    def observe_ack(self, topic: str, produce_s: float, end_to_end_s: float | None) -> None:
        """An output acknowledged by the broker; only scores count for latency."""
        if topic != self.scores_topic:
            return
        self.stages["produce"].observe(produce_s)
        if end_to_end_s is not None and end_to_end_s >= 0:
            self.end_to_end.observe(end_to_end_s)

    # -- scrape -----------------------------------------------------------------------------

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        counts = self.counters()
        simple = (
            ("records_in", "Records read from the input topic."),
            ("scored", "Transactions scored (one risk score each)."),
            ("alerts", "Alerts raised."),
            ("language_model", "Transactions scored by the language model (the rest: stage 1)."),
            ("late", "Scores produced after their latency budget ran out."),
            ("batches", "Language-model batches run."),
            ("retried_batches", "Language-model batches that failed and were split and retried."),
            ("fallbacks", "Scores given by stage 1 or the rules because the model failed."),
            (
                "alerts_suppressed",
                "Alerts not raised again for a transaction id within the window.",
            ),
            ("model_restarts", "Times the model's child process was started again after it died."),
        )
        for key, doc in simple:
            name = "language_model_scored" if key == "language_model" else key
            name = "late_scores" if key == "late" else name
            yield CounterMetricFamily(f"fraudstream_{name}", doc, value=int(counts.get(key, 0)))
        dead = CounterMetricFamily(
            "fraudstream_dead_letters", "Records sent to the dead-letter topic.", labels=["reason"]
        )
        kinds: Mapping[str, int] = counts.get("dead_letter_kinds") or {}
        for kind, n in sorted(kinds.items()):
            dead.add_metric([kind], n)
        if not kinds and counts.get("dead_letters"):
            dead.add_metric(["unknown"], int(counts["dead_letters"]))
        yield dead
        yield CounterMetricFamily(
            "fraudstream_unscorable",
            "Records that named a payment but could not be scored: a dead letter and a score "
            "with band review and flag unscorable_input.",
            value=int(counts.get("unscorable", 0)),
        )
        state = counts.get("state") or {}
        entities = int(state.get("entities", 0))
        packed = int(state.get("packed", 0))
        rows: list[tuple[str, str, float, type[CounterMetricFamily | GaugeMetricFamily]]] = [
            ("state_entities", "Entities (accounts, cards, devices...) held in memory over this "
             "worker's partitions.", entities, GaugeMetricFamily),
            ("state_packed_entities", "Of those, entities held packed (state_hot_entities).",
             packed, GaugeMetricFamily),
            ("state_bytes_estimate", "Estimated memory of the per-entity state (1,300 B per "
             "entity as objects, 175 B packed, measured for the native spec).",
             (entities - packed) * STATE_BYTES_PER_ENTITY + packed * STATE_BYTES_PER_PACKED,
             GaugeMetricFamily),
            ("state_expired", "Entities forgotten after state_idle_expiry_s without activity "
             "(tombstoned).", state.get("expired", 0), CounterMetricFamily),
            ("state_evicted", "Entities forgotten, least recently seen first, over "
             "state_max_entities.", state.get("evicted", 0), CounterMetricFamily),
            ("state_restore_seconds", "Time spent restoring partitions' state from the "
             "changelog.", float(state.get("restore_seconds", 0.0)), CounterMetricFamily),
        ]  # fmt: skip
        for name, doc, value, family in rows:
            yield family(f"fraudstream_{name}", doc, value=value)
        flagged = CounterMetricFamily(
            "fraudstream_flagged_input",
            "Scored records whose input carried an anomaly (hidden characters, look-alike "
            "letters, unknown fields, a re-sent id with other content).",
            labels=["flag"],
        )
        for flag, n in sorted((counts.get("flagged_input") or {}).items()):
            flagged.add_metric([flag], n)
        yield flagged

        stage = HistogramMetricFamily(
            "fraudstream_stage_duration_seconds",
            "Time per record in each stage: topic (from the record's Kafka timestamp to its "
            "reading: the lag it arrived with), decode, state (per-account features), queue "
            "(wait for a batch), inference, produce (hand to the producer until the broker's "
            "ack).",
            labels=["stage"],
        )
        for name in STAGES:
            h = self.stages[name]
            stage.add_metric([name], h.cumulative(), sum_value=h.sum)
        yield stage
        yield _histogram(
            "fraudstream_end_to_end_latency_seconds",
            "From the input record's timestamp to the broker's ack of its score.",
            self.end_to_end,
        )
        yield _histogram(
            "fraudstream_batch_size", "Records per language-model batch.", self.batch_size
        )
        yield _histogram(
            "fraudstream_batch_tokens",
            "Padded token slots per batch (size x padded length).",
            self.batch_tokens,
        )
        yield _histogram(
            "fraudstream_batch_fill_ratio",
            "Real tokens over padded token slots per batch (1.0: no padding).",
            self.batch_fill,
        )

        lag = GaugeMetricFamily(
            "fraudstream_consumer_lag_records",
            "Records on the input partition not yet done (high watermark - done position).",
            labels=["topic", "partition"],
        )
        for (topic, partition), n in sorted(self.lag().items()):
            lag.add_metric([topic, str(partition)], n)
        yield lag

        yield from _narrative_metrics(counts.get("narrative") or {})

        info = GaugeMetricFamily(
            "fraudstream_model_info", "The model version in use (value 1).", labels=["version"]
        )
        for version in self.model_versions():
            info.add_metric([version], 1)
        yield info

        drift = self.drift()
        if drift is not None:
            yield from _drift_metrics(drift)


def _narrative_metrics(stats: Mapping[str, Mapping[str, float]]) -> Iterator[Metric]:
    """The narrative memory (`cache="memory"`: which narratives the language model has read,
    `fraudstream/cascade.py`) and the model's text-vector cache (`cache="vectors"`)."""
    doc = {
        "hits": "Narrative lookups that found the narrative.",
        "misses": "Narrative lookups that did not (a forward pass of the text tower follows).",
        "evictions": "Narratives dropped to keep the cache within its capacity.",
    }
    for key, text in doc.items():
        family = CounterMetricFamily(f"fraudstream_narrative_cache_{key}", text, labels=["cache"])
        for name, kept in sorted(stats.items()):
            family.add_metric([name], kept.get(key, 0.0))
        yield family
    gauges = {
        "entries": "Narratives held.",
        "capacity": "Most narratives held (settings: narrative_cache_size).",
        "hit_rate": "Hits over lookups since the model was loaded.",
        "preloaded": "Narratives the memory started with (read in training: narratives.json).",
    }
    for key, text in gauges.items():
        gauge = GaugeMetricFamily(f"fraudstream_narrative_cache_{key}", text, labels=["cache"])
        for name, kept in sorted(stats.items()):
            gauge.add_metric([name], kept.get(key, 0.0))
        yield gauge


def _histogram(name: str, doc: str, h: FastHistogram) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, doc, buckets=h.cumulative(), sum_value=h.sum)


def _drift_metrics(drift: Mapping[str, Any]) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "fraudstream_drift_window_scores",
        "Scores in the drift watch's window.",
        value=drift["samples"],
    )
    if drift.get("psi") is not None:
        yield GaugeMetricFamily(
            "fraudstream_drift_score_psi",
            "Population stability index of the window's scores against validation.",
            value=drift["psi"],
        )
    if drift.get("alert_rate") is not None:
        yield GaugeMetricFamily(
            "fraudstream_alert_rate_ratio",
            "Share of the scores in the drift watch's window that raised an alert.",
            value=drift["alert_rate"],
        )
    if drift.get("expected_alert_rate") is not None:
        yield GaugeMetricFamily(
            "fraudstream_validation_alert_rate_ratio",
            "Alert share on the model card's validation data.",
            value=drift["expected_alert_rate"],
        )
    warning = GaugeMetricFamily(
        "fraudstream_drift_warning",
        "1 when the check is beyond its bound (drift_psi_bound, drift_alert_rate_factor).",
        labels=["check"],
    )
    warning.add_metric(["score_distribution"], int(bool(drift["score_drift"])))
    warning.add_metric(["alert_rate"], int(bool(drift["alert_rate_drift"])))
    yield warning
