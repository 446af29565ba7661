"""One frozen settings object for every command.

Sources, later ones winning: built-in defaults < a YAML file (`--config FILE` or
`FRAUDSTREAM_CONFIG`) < environment variables `FRAUDSTREAM_<SECTION>_<NAME>` (e.g.
`FRAUDSTREAM_KAFKA_BOOTSTRAP`, `FRAUDSTREAM_TOPICS_INPUT`, `FRAUDSTREAM_LATENCY_BUDGET_MS`) < CLI
flags. A secret may also come from a file named by `<variable>_FILE` (Docker and Kubernetes
secrets), e.g. `FRAUDSTREAM_KAFKA_SASL_PASSWORD_FILE=/run/secrets/kafka-password`. Every value
is checked when the settings are built; a bad one stops the start with a
`ConfigError` that names the field, where it came from and how to fix it. Secrets are `Secret`
values: they print as `******` everywhere (repr, str, `config show`, logs, exceptions) and are
revealed only where a client is built.
"""

from __future__ import annotations

import dataclasses
import os
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Literal,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

import yaml

if TYPE_CHECKING:
    from fraudstream.pipeline import AdmissionRules

ENV_PREFIX = "FRAUDSTREAM_"


class ConfigError(ValueError):
    """Bad configuration: the message names the field, its source and the fix."""


class Secret:
    """A string that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('******')"

    def __str__(self) -> str:
        return "******"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str = ""
    """host:port[,host:port...]; empty means the local broker started by `fraudstream kafka up`."""
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: Secret | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password: Secret | None = None
    ssl_check_hostname: bool = True
    client_id: str = "fraudstream"
    request_timeout_ms: int = 30_000

    def check(self) -> None:
        if self.bootstrap:
            for part in self.bootstrap.split(","):
                host, _, port = part.strip().rpartition(":")
                if not host or not port.isdigit() or not 0 < int(port) < 65536:
                    raise ConfigError(
                        f"kafka.bootstrap: {part.strip()!r} is not host:port; "
                        "fix: e.g. --bootstrap 127.0.0.1:9092"
                    )
        sasl = self.security_protocol.startswith("SASL")
        if sasl and (not self.sasl_mechanism or not self.sasl_username or not self.sasl_password):
            raise ConfigError(
                f"kafka: security_protocol {self.security_protocol} needs sasl_mechanism, "
                "sasl_username and sasl_password; fix: set FRAUDSTREAM_KAFKA_SASL_MECHANISM, "
                "FRAUDSTREAM_KAFKA_SASL_USERNAME and FRAUDSTREAM_KAFKA_SASL_PASSWORD"
            )
        if not sasl and self.sasl_mechanism:
            raise ConfigError(
                f"kafka.sasl_mechanism is set but security_protocol is {self.security_protocol}; "
                "fix: set kafka.security_protocol to SASL_SSL (or SASL_PLAINTEXT)"
            )
        tls_set = [
            name
            for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_key_password")
            if getattr(self, name) is not None
        ]
        if tls_set and self.security_protocol not in ("SSL", "SASL_SSL"):
            # Never a silent fallback to plaintext: TLS files under a plaintext protocol are a
            # mistake, not a preference.
            raise ConfigError(
                f"kafka.{tls_set[0]} is set but security_protocol is {self.security_protocol}, "
                "which does not use TLS; fix: set kafka.security_protocol to SSL or SASL_SSL "
                "(FRAUDSTREAM_KAFKA_SECURITY_PROTOCOL), or remove the ssl_* settings"
            )
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"kafka.{name}: no such file {path}; fix: point it at a PEM file")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ConfigError(
                "kafka: ssl_certfile and ssl_keyfile go together (mutual TLS); fix: set both or neither"
            )


@dataclass(frozen=True)
class TopicSettings:
    input: str = "transactions"
    scores: str = "risk-scores"
    alerts: str = "fraud-alerts"
    dlq: str = "transactions-dlq"
    labels: str = "labels"
    shadow: str = "risk-scores-shadow"
    state_prefix: str = ""
    """Prefix of the changelog topics holding per-entity state (default: the group id)."""
    partitions: int = 3
    """Partitions of the topics fraudstream creates (existing topics are left as they are)."""
    replication: int = 1

    def check(self) -> None:
        names = [self.input, self.scores, self.alerts, self.dlq, self.labels, self.shadow]
        for label, name in zip(
            ("input", "scores", "alerts", "dlq", "labels", "shadow"), names, strict=True
        ):
            if not name or len(name) > 249 or not all(c.isalnum() or c in "._-" for c in name):
                raise ConfigError(
                    f"topics.{label}: {name!r} is not a valid Kafka topic name; "
                    "fix: use letters, digits, '.', '_' and '-' (1-249 characters)"
                )
        outputs = {self.scores, self.alerts, self.dlq, self.shadow}
        if self.input in outputs:
            raise ConfigError(
                f"topics.input {self.input!r} is also an output topic; fix: give outputs their own names"
            )
        if len({self.scores, self.alerts, self.dlq}) != 3:
            raise ConfigError("topics: scores, alerts and dlq must be three different topics")
        if self.partitions < 1:
            raise ConfigError("topics.partitions must be >= 1")
        if self.replication < 1:
            raise ConfigError("topics.replication must be >= 1")


Guarantee = Literal["at_least_once", "exactly_once"]


@dataclass(frozen=True)
class Settings:
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    topics: TopicSettings = field(default_factory=TopicSettings)
    group_id: str = "fraudstream"
    processing_guarantee: Guarantee = "at_least_once"
    mapping: str = "native"
    """Built-in mapping name (native, handbook) or a mapping file."""
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
    latency_budget_ms: float = 50.0
    deadline_from: Literal["produced", "read"] = "produced"
    """Where a transaction's latency budget starts: `produced`, its Kafka record timestamp (so
    that time spent waiting in the topic, consumer lag, counts; bounded by the read time when
    the producer's clock is ahead), or `read`, when the processor read it (for producers whose
    clocks cannot be trusted)."""
    latency_margin_ms: float = 8.0
    """Part of the budget kept for producing and acknowledging the outputs."""
    alert_threshold: float | None = None
    """Score at or over which an alert is raised; empty means the model's own threshold."""
    cascade_band: tuple[float, float] | None = None
    """Stage-1 scores inside [low, high) go to the language model; empty means the model's band.
    The model's narrative rules (unread and risky narratives are read) apply either way."""
    narrative_cache_size: int = 50_000
    """Distinct narratives remembered: their risk, for the cascade (a narrative not remembered is
    read by the language model), and their text vectors in the model (a repeated one costs a
    lookup). A vector of the default model takes ~1.6 KB: the default holds up to ~80 MB there."""
    max_batch_size: int = 256
    token_budget: int = 8192
    max_in_flight: int = 4096
    """Records read but not yet acknowledged; over it the consumer pauses its partitions."""
    max_message_bytes: int = 1_000_000
    dlq_max_payload_bytes: int = 900_000
    commit_interval_ms: int = 250
    gc_freeze_interval_s: float = 10.0
    """Every this many seconds `fraudstream run` moves what survived into the garbage
    collector's permanent generation, so that full collections stay short as the feature state
    grows (runtime/gc_policy.py); 0 leaves the collector as Python sets it."""
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
    shutdown_timeout_s: float = 15.0
    max_event_age_days: float = 7300.0
    """Transactions older than this (by their own timestamp) are dead-lettered as bad_timestamp."""
    max_future_skew_s: float = 300.0
    """Transactions stamped further ahead of this machine's clock are dead-lettered as
    bad_timestamp (and reviewed, `input_checks.py`): minutes of clock skew, not a day, so that a
    forged timestamp cannot push a payment outside the velocity windows."""
    alert_dedup_window_s: float = 86_400.0
    """A second alert for the same transaction id within this many seconds is suppressed (the
    score still goes out, flagged); the ids are remembered per partition, at most
    `duplicate_window` of them, and survive a restart through the state changelog."""
    transaction_timeout_ms: int = 60_000
    """exactly_once: the broker aborts a transaction left open this long (a stuck worker)."""
    duplicate_window: int = 100_000
    """How many recent transaction ids per partition are remembered to spot duplicates."""
    max_key_bytes: int = 256
    """Records with a longer key are dead-lettered as `bad_key` (with the key's sha256): an
    account id is never that long, and every output would carry it."""
    rules_path: str | None = None
    """A rule file (YAML, `fraudstream/rules.py`): rules beside the model, reloaded on SIGHUP
    with it; every score names the rules that fired."""
    strict_schema: bool = False
    """Dead-letter native transactions with fields the schema does not know, or with hidden
    characters or look-alike letters in a text, as the schema's letter says. Off: they are
    scored and flagged (`fraudstream/input_checks.py`), so that neither a new upstream field
    nor a zero-width space in a memo can switch screening off."""
    web_port: int | None = None
    """Serve the live page and /metrics on this port (`run --web-port`); empty: no page."""
    web_token: Secret | None = None
    """A bearer token the page, /api/state and /metrics require (`FRAUDSTREAM_WEB_TOKEN`, or
    from a secret file with `FRAUDSTREAM_WEB_TOKEN_FILE`); /healthz and /readyz stay open for
    probes. A browser opens the page once as `/?token=...`, which sets a cookie."""
    web_host: str = "127.0.0.1"
    """Address the page and /metrics listen on: this machine only by default (they have no
    authentication); 0.0.0.0 (in a container, or behind a proxy) serves every interface."""
    drift_window: int = 10_000
    """The drift watch compares the latest this-many scores with the model card's validation."""
    drift_psi_bound: float = 0.25
    """Warn when the population stability index of the scores against validation exceeds this."""
    drift_alert_rate_factor: float = 2.0
    """Warn when the alert rate is over this many times, or under 1/this, the validation one."""
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
        self.kafka.check()
        self.topics.check()
        positive = {
            "latency_budget_ms": self.latency_budget_ms,
            "max_batch_size": self.max_batch_size,
            "token_budget": self.token_budget,
            "max_in_flight": self.max_in_flight,
            "max_message_bytes": self.max_message_bytes,
            "commit_interval_ms": self.commit_interval_ms,
            "shutdown_timeout_s": self.shutdown_timeout_s,
            "duplicate_window": self.duplicate_window,
            "max_key_bytes": self.max_key_bytes,
            "alert_dedup_window_s": self.alert_dedup_window_s,
            "transaction_timeout_ms": self.transaction_timeout_ms,
            "narrative_cache_size": self.narrative_cache_size,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(
                    f"{name} must be > 0, got {value}; fix: {_env_name(name)}=<positive>"
                )
        if self.state_hot_entities < 1:
            raise ConfigError(
                f"state_hot_entities must be >= 1, got {self.state_hot_entities}; fix: "
                f"{_env_name('state_hot_entities')}=100000"
            )
        if self.state_backend == "rocksdb":
            try:
                import rocksdict  # noqa: F401
            except ImportError:
                raise ConfigError(
                    "state_backend: rocksdb needs the rocksdict package; fix: pip install "
                    f"'fraudstream[rocksdb]', or {_env_name('state_backend')}=memory"
                ) from None
        if self.state_max_entities < 0:
            raise ConfigError(
                f"state_max_entities must be >= 0 (0: no limit), got {self.state_max_entities}"
            )
        if self.state_idle_expiry_s is not None and self.state_idle_expiry_s < 0:
            raise ConfigError(
                f"state_idle_expiry_s must be >= 0 seconds (0: never, empty: the feature "
                f"spec's horizon), got {self.state_idle_expiry_s}"
            )
        if self.state_maintenance_interval_s <= 0:
            raise ConfigError(
                "state_maintenance_interval_s must be > 0 seconds, got "
                f"{self.state_maintenance_interval_s}"
            )
        if self.gc_freeze_interval_s < 0:
            raise ConfigError(
                f"gc_freeze_interval_s must be >= 0, got {self.gc_freeze_interval_s}; "
                "fix: FRAUDSTREAM_GC_FREEZE_INTERVAL_S=10 (0: leave the collector alone)"
            )
        if not 0 <= self.latency_margin_ms < self.latency_budget_ms:
            raise ConfigError(
                f"latency_margin_ms ({self.latency_margin_ms}) must be >= 0 and below "
                f"latency_budget_ms ({self.latency_budget_ms})"
            )
        if self.alert_threshold is not None and not 0 <= self.alert_threshold <= 1:
            raise ConfigError(
                f"alert_threshold must be within [0, 1], got {self.alert_threshold}; "
                "fix: e.g. FRAUDSTREAM_ALERT_THRESHOLD=0.8, or leave it empty for the model's own"
            )
        if self.cascade_band is not None:
            low, high = self.cascade_band
            if not 0 <= low <= high <= 1:
                raise ConfigError(
                    f"cascade_band must be two scores 0 <= low <= high <= 1, got {self.cascade_band}"
                )
        if self.device != "auto" and self.device != "cpu" and not self.device.startswith("cuda"):
            raise ConfigError(
                f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}; fix: --device cpu"
            )
        if self.model_path is not None and not Path(self.model_path).is_dir():
            raise ConfigError(
                f"model_path: {self.model_path} is not a folder; fix: point it at a model folder "
                "made by `fraudstream train`, or leave it empty for the default model"
            )
        if not self.group_id:
            raise ConfigError("group_id must not be empty; fix: --group-id fraudstream")
        if self.web_port is not None and not 0 <= self.web_port < 65536:
            raise ConfigError(f"web_port must be a TCP port, got {self.web_port}")
        if self.drift_window < 1 or self.drift_psi_bound <= 0:
            raise ConfigError(
                f"drift_window ({self.drift_window}) and drift_psi_bound ({self.drift_psi_bound}) "
                "must be > 0; fix: e.g. FRAUDSTREAM_DRIFT_WINDOW=10000, "
                "FRAUDSTREAM_DRIFT_PSI_BOUND=0.25"
            )
        if self.drift_alert_rate_factor <= 1:
            raise ConfigError(
                f"drift_alert_rate_factor must be > 1, got {self.drift_alert_rate_factor}; "
                "fix: e.g. FRAUDSTREAM_DRIFT_ALERT_RATE_FACTOR=2 (warn at twice or half the "
                "validation alert rate)"
            )
        if self.dlq_max_payload_bytes <= 0:
            raise ConfigError("dlq_max_payload_bytes must be > 0")
        if (
            self.processing_guarantee == "exactly_once"
            and self.transaction_timeout_ms <= 2 * self.commit_interval_ms
        ):
            # a transaction stays open about one commit interval; with less headroom the broker
            # would abort healthy transactions
            raise ConfigError(
                f"transaction_timeout_ms ({self.transaction_timeout_ms}) must exceed twice "
                f"commit_interval_ms ({self.commit_interval_ms}) in exactly_once mode; fix: "
                "FRAUDSTREAM_TRANSACTION_TIMEOUT_MS=60000"
            )

    @property
    def state_prefix(self) -> str:
        return self.topics.state_prefix or self.group_id

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def redacted(self) -> dict[str, Any]:
        """The settings as plain data with secrets masked (what `config show` prints)."""
        return _to_plain(self)


# ---------------------------------------------------------------------------------------------
# Building settings from the sources


def load_settings(
    *,
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Defaults < YAML file < environment < overrides (CLI flags, dotted names like
    "kafka.bootstrap" or "topics.input"; None values are ignored)."""
    env = os.environ if env is None else env
    values: dict[str, tuple[Any, str]] = {}
    path = config_file or env.get(ENV_PREFIX + "CONFIG")
    if path:
        for name, value in _read_yaml(Path(path)).items():
            values[name] = (value, f"{path}")
    for name in _field_names():
        env_name = _env_name(name)
        if env_name in env:
            values[name] = (env[env_name], f"environment variable {env_name}")
        if _FIELD_TYPES[name] in (Secret, Secret | None) and env_name + "_FILE" in env:
            # Docker/Kubernetes secrets are files: FRAUDSTREAM_KAFKA_SASL_PASSWORD_FILE=/run/...
            if env_name in env:
                raise ConfigError(
                    f"{name}: both {env_name} and {env_name}_FILE are set; fix: keep one"
                )
            values[name] = (_read_secret_file(env[env_name + "_FILE"], name), f"{env_name}_FILE")
    for name, value in (overrides or {}).items():
        if value is not None:
            if name not in _FIELD_TYPES:
                raise ConfigError(f"unknown setting {name!r}")
            values[name] = (value, "command line")
    settings = _build(values)
    settings.check()
    return settings


def _read_secret_file(path: str, name: str) -> Secret:
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"{name}: cannot read the secret file {path} ({exc.strerror}); fix: mount the "
            f"secret there, readable by this user"
        ) from None
    return Secret(text.rstrip("\r\n"))


def _env_name(name: str) -> str:
    return ENV_PREFIX + name.replace(".", "_").upper()


def yaml_position(exc: yaml.YAMLError) -> str:
    """Where a YAML syntax error is, and what kind: never the text around it, which in a
    settings file may be a password."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "syntax error"
    if mark is None:
        return str(problem)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist; fix: --config <existing file>"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {yaml_position(exc)}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings")
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        if key in Settings.SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: {key} must be a mapping")
            for sub, subvalue in value.items():
                flat[f"{key}.{sub}"] = subvalue
        else:
            flat[str(key)] = value
    for name in flat:
        if name not in _FIELD_TYPES:
            raise ConfigError(
                f"{path}: unknown setting {name!r}; known: {', '.join(sorted(_FIELD_TYPES))}"
            )
    return flat


def _collect_types(cls: type, prefix: str = "") -> dict[str, Any]:
    hints = get_type_hints(cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            assert isinstance(hint, type)
            out.update(_collect_types(hint, f"{prefix}{f.name}."))
        else:
            out[prefix + f.name] = hint
    return out


_FIELD_TYPES: dict[str, Any] = _collect_types(Settings)


def _field_names() -> list[str]:
    return list(_FIELD_TYPES)


def _build(values: Mapping[str, tuple[Any, str]]) -> Settings:
    sections: dict[str, dict[str, Any]] = {s: {} for s in Settings.SECTIONS}
    top: dict[str, Any] = {}
    for name, (raw, source) in values.items():
        value = _coerce(name, _FIELD_TYPES[name], raw, source)
        section, _, sub = name.partition(".")
        if sub:
            sections[section][sub] = value
        else:
            top[name] = value
    return Settings(
        kafka=KafkaSettings(**sections["kafka"]),
        topics=TopicSettings(**sections["topics"]),
        **top,
    )


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(name: str, hint: Any, raw: Any, source: str) -> Any:
    def fail(expected: str) -> ConfigError:
        shown = "******" if hint in (Secret, Secret | None) else repr(raw)
        return ConfigError(f"{name}: expected {expected}, got {shown} (from {source})")

    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if raw is None or (isinstance(raw, str) and raw.strip() in ("", "null", "none")):
            return None
        if len(args) == 1:
            return _coerce(name, args[0], raw, source)
        raise AssertionError(f"unsupported type for {name}: {hint}")
    if origin is Literal:
        choices = get_args(hint)
        if raw not in choices:
            raise fail("one of " + ", ".join(map(str, choices)))
        return raw
    converters: dict[Any, Callable[[Any], Any]] = {
        str: str,
        Path: lambda v: Path(os.path.expanduser(str(v))),
        Secret: lambda v: v if isinstance(v, Secret) else Secret(str(v)),
    }
    if hint in converters:
        return converters[hint](raw)
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise fail("true or false")
    if hint in (int, float):
        if isinstance(raw, bool):
            raise fail("a number")
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise fail("a number") from None
        if hint is int:
            if number != int(number):
                raise fail("a whole number")
            return int(number)
        return number
    if origin is tuple:
        parts = raw.split(",") if isinstance(raw, str) else list(raw)
        if len(parts) != 2:
            raise fail("two numbers, e.g. 0.05,0.6")
        try:
            return (float(parts[0]), float(parts[1]))
        except (TypeError, ValueError):
            raise fail("two numbers, e.g. 0.05,0.6") from None
    raise AssertionError(f"unsupported type for {name}: {hint}")


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
