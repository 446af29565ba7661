"""`Settings`: the one frozen settings object every command is given.

One flat dataclass, so that each field is one YAML key and one environment variable
(`FRAUDSTREAM_<FIELD>`; the nested `kafka` and `topics` sections add their name,
`FRAUDSTREAM_KAFKA_<FIELD>`). The fields are grouped in the source by the part of the
processor they tune; `checks.py` validates them section by section, in the same groups.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from fraudstream.config import checks
from fraudstream.config.kafka import KafkaSettings, TopicSettings
from fraudstream.config.secret import Secret

if TYPE_CHECKING:
    from fraudstream.pipeline import AdmissionRules

Guarantee = Literal["at_least_once", "exactly_once"]


@dataclass(frozen=True)
class Settings:
    # Kafka: the broker connection, the topics and the consumer group.
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    topics: TopicSettings = field(default_factory=TopicSettings)
    group_id: str = "fraudstream"

    # Admission and input: how records are read and which are dead-lettered (`pipeline.py`).
    mapping: str = "native"
    """Built-in mapping name (native, handbook) or a mapping file."""
    max_message_bytes: int = 1_000_000
    dlq_max_payload_bytes: int = 900_000
    max_key_bytes: int = 256
    """Records with a longer key are dead-lettered as `bad_key` (with the key's sha256): an
    account id is never that long, and every output would carry it."""
    max_event_age_days: float = 7300.0
    """Transactions older than this (by their own timestamp) are dead-lettered as bad_timestamp."""
    max_future_skew_s: float = 300.0
    """Transactions stamped further ahead of this machine's clock are dead-lettered as
    bad_timestamp (and reviewed, `input_checks.py`): minutes of clock skew, not a day, so that a
    forged timestamp cannot push a payment outside the velocity windows."""
    duplicate_window: int = 100_000
    """How many recent transaction ids per partition are remembered to spot duplicates."""
    alert_dedup_window_s: float = 86_400.0
    """A second alert for the same transaction id within this many seconds is suppressed (the
    score still goes out, flagged); the ids are remembered per partition, at most
    `duplicate_window` of them, and survive a restart through the state changelog."""
    strict_schema: bool = False
    """Dead-letter native transactions with fields the schema does not know, or with hidden
    characters or look-alike letters in a text, as the schema's letter says. Off: they are
    scored and flagged (`fraudstream/input_checks.py`), so that neither a new upstream field
    nor a zero-width space in a memo can switch screening off."""

    # Batching and latency: the deadline each transaction is scored within, and the batches.
    latency_budget_ms: float = 50.0
    deadline_from: Literal["produced", "read"] = "produced"
    """Where a transaction's latency budget starts: `produced`, its Kafka record timestamp (so
    that time spent waiting in the topic, consumer lag, counts; bounded by the read time when
    the producer's clock is ahead), or `read`, when the processor read it (for producers whose
    clocks cannot be trusted)."""
    latency_margin_ms: float = 8.0
    """Part of the budget kept for producing and acknowledging the outputs."""
    max_batch_size: int = 256
    token_budget: int = 8192
    max_in_flight: int = 4096
    """Records read but not yet acknowledged; over it the consumer pauses its partitions."""

    # Model and scoring: what scores, where it runs, and what raises an alert.
    model_path: Path | None = None
    """A model folder; empty means the default model (built on first use)."""
    shadow_model_path: Path | None = None
    device: str = "auto"
    """auto (CUDA when there is one), cpu, cuda or cuda:N."""
    torch_threads: int = 0
    """Threads for CPU inference; 0 means one per core, minus one for the event loop."""
    model_process: bool = True
    """Run the language model in a child process, so that its forward passes and the event
    loop do not wait for each other's GIL (see runtime/model_process.py)."""
    model_server: str | None = None
    """The address of a model server shared by the workers of `run --workers N`
    (`runtime/model_server.py`); set by the supervisor for its workers, empty otherwise."""
    model_server_key: Secret | None = None
    """The key of `model_server` (hex), set by the supervisor with it."""
    alert_threshold: float | None = None
    """Score at or over which an alert is raised; empty means the model's own threshold."""
    cascade_band: tuple[float, float] | None = None
    """Stage-1 scores inside [low, high) go to the language model; empty means the model's band.
    The model's narrative rules (unread and risky narratives are read) apply either way."""
    narrative_cache_size: int = 50_000
    """Distinct narratives remembered: their risk, for the cascade (a narrative not remembered is
    read by the language model), and their text vectors in the model (a repeated one costs a
    lookup). A vector of the default model takes ~1.6 KB: the default holds up to ~80 MB there."""
    rules_path: str | None = None
    """A rule file (YAML, `fraudstream/rules.py`): rules beside the model, reloaded on SIGHUP
    with it; every score names the rules that fired."""

    # State: the per-entity feature state, its bounds, where it is kept, and its memory.
    state_max_entities: int = 500_000
    """Per input partition: over this many entities (accounts, cards, devices...) the least
    recently seen are forgotten, tombstoned in the changelog (0: no limit). With the native
    spec an entity costs about 1.3 kB as an object and 250 B packed (`state_hot_entities`):
    500,000 take about 0.25 GB per partition."""
    state_hot_entities: int = 100_000
    """Per input partition and role: the most recently used entities kept as objects; the others
    are packed into one bytes string each (`features/entity.py`), about five times smaller, and
    unpacked when they are used again. Features do not depend on it."""
    state_backend: Literal["memory", "rocksdb"] = "memory"
    """Where packed entities are kept: `memory`, or `rocksdb`, on local disk (needs
    `pip install 'fraudstream[rocksdb]'`; `features/disk_tier.py`), for state larger than
    memory: only the `state_hot_entities` stay in memory. Either way the changelog topic is the
    state's source of truth, and the disk a cache of it, emptied at every start."""
    state_dir: Path | None = None
    """With `state_backend: rocksdb`, the folder under which each worker makes its database (a
    fresh sub-folder, removed when it stops); empty: the system's temporary folder."""
    state_idle_expiry_s: float | None = None
    """Forget an entity idle (in event time) for this long, tombstoned in the changelog; None:
    the feature spec's horizon (its longest window, or delay plus window), past which an idle
    entity reads the same as a new one; 0: never."""
    state_maintenance_interval_s: float = 10.0
    """How often expiry and the entity limit run (on the event loop, between fetches)."""
    state_expiry_batch: int = 20_000
    """Entities each maintenance pass looks at for expiry, per partition and role, continuing
    where the last pass stopped (`EntityTable.sweep`), so that a pass costs the same however
    large the state: over 1,000,000 entities, 11 ms in memory and 19 ms on disk (median of 60
    passes) where a whole pass took 0.54 s and 0.97 s of the event loop. A sweep of N entities
    takes N / this passes."""
    gc_freeze_interval_s: float = 10.0
    """Every this many seconds `fraudstream run` moves what survived into the garbage
    collector's permanent generation, so that full collections stay short as the feature state
    grows (runtime/gc_policy.py); 0 leaves the collector as Python sets it."""

    # Delivery: the processing guarantee, commits and stopping.
    processing_guarantee: Guarantee = "at_least_once"
    commit_interval_ms: int = 250
    transaction_timeout_ms: int = 60_000
    """exactly_once: the broker aborts a transaction left open this long (a stuck worker)."""
    shutdown_timeout_s: float = 15.0

    # Web: the live page and /metrics.
    web_port: int | None = None
    """Serve the live page and /metrics on this port (`run --web-port`); empty: no page."""
    web_token: Secret | None = None
    """A bearer token the page, /api/state and /metrics require (`FRAUDSTREAM_WEB_TOKEN`, or
    from a secret file with `FRAUDSTREAM_WEB_TOKEN_FILE`); /healthz and /readyz stay open for
    probes. A browser opens the page once as `/?token=...`, which sets a cookie."""
    web_host: str = "127.0.0.1"
    """Address the page and /metrics listen on: this machine only by default (they have no
    authentication); 0.0.0.0 (in a container, or behind a proxy) serves every interface."""

    # Drift: the watch on the scores against the model card's validation.
    drift_window: int = 10_000
    """The drift watch compares the latest this-many scores with the model card's validation."""
    drift_psi_bound: float = 0.25
    """Warn when the population stability index of the scores against validation exceeds this."""
    drift_alert_rate_factor: float = 2.0
    """Warn when the alert rate is over this many times, or under 1/this, the validation one."""

    # Logging: the format and level of the log lines.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    SECTIONS: ClassVar[tuple[str, ...]] = ("kafka", "topics")

    def admission_rules(self, worker: str) -> AdmissionRules:
        """What the admission (`pipeline.py`) checks, from these settings."""
        from fraudstream.pipeline import AdmissionRules

        return AdmissionRules(
            max_message_bytes=self.max_message_bytes,
            dlq_max_payload_bytes=self.dlq_max_payload_bytes,
            latency_budget_s=self.latency_budget_ms / 1000.0,
            deadline_from_produced=self.deadline_from == "produced",
            max_event_age_s=self.max_event_age_days * 86400.0,
            max_future_skew_s=self.max_future_skew_s,
            duplicate_window=self.duplicate_window,
            max_key_bytes=self.max_key_bytes,
            strict_schema=self.strict_schema,
            worker=worker,
        )

    def check(self) -> None:
        """Raise a `ConfigError` for the first bad value, section by section (`checks.py`).
        Log format and level need no check: their types admit only the valid choices."""
        checks.check_kafka(self)
        checks.check_admission(self)
        checks.check_batching(self)
        checks.check_model(self)
        checks.check_state(self)
        checks.check_delivery(self)
        checks.check_web(self)
        checks.check_drift(self)

    @property
    def state_prefix(self) -> str:
        return self.topics.state_prefix or self.group_id

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def redacted(self) -> dict[str, Any]:
        """The settings as plain data with secrets masked (what `config show` prints)."""
        return _to_plain(self)


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Secret):
        return str(obj) if obj else ""
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, tuple):
        return list(obj)
    return obj
