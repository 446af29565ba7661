"""The validation of `Settings`, one function per section of related fields.

`Settings.check()` calls them in turn; each raises a `ConfigError` for the first bad value of
its section, naming the field and the fix, so that a bad value stops the start before any
client, model or state is built. The sections follow the groups of fields in `settings.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from fraudstream.config.errors import ConfigError, env_name

if TYPE_CHECKING:
    from fraudstream.config.settings import Settings


def _require_positive(values: Mapping[str, float]) -> None:
    for name, value in values.items():
        if value <= 0:
            raise ConfigError(f"{name} must be > 0, got {value}; fix: {env_name(name)}=<positive>")


def check_kafka(settings: Settings) -> None:
    """The broker connection, the topic names and the consumer group."""
    settings.kafka.check()
    settings.topics.check()
    if not settings.group_id:
        raise ConfigError("group_id must not be empty; fix: --group-id fraudstream")


def check_admission(settings: Settings) -> None:
    """Message and key sizes, and the duplicate windows, of the admission (`pipeline.py`)."""
    _require_positive(
        {
            "max_message_bytes": settings.max_message_bytes,
            "duplicate_window": settings.duplicate_window,
            "max_key_bytes": settings.max_key_bytes,
            "alert_dedup_window_s": settings.alert_dedup_window_s,
        }
    )
    if settings.dlq_max_payload_bytes <= 0:
        raise ConfigError("dlq_max_payload_bytes must be > 0")


def check_batching(settings: Settings) -> None:
    """The latency budget and its margin, the batch size, token budget and records in flight."""
    _require_positive(
        {
            "latency_budget_ms": settings.latency_budget_ms,
            "max_batch_size": settings.max_batch_size,
            "token_budget": settings.token_budget,
            "max_in_flight": settings.max_in_flight,
        }
    )
    if not 0 <= settings.latency_margin_ms < settings.latency_budget_ms:
        raise ConfigError(
            f"latency_margin_ms ({settings.latency_margin_ms}) must be >= 0 and below "
            f"latency_budget_ms ({settings.latency_budget_ms})"
        )


def check_model(settings: Settings) -> None:
    """The narrative cache, the alert threshold, the cascade band, the device and the model."""
    _require_positive({"narrative_cache_size": settings.narrative_cache_size})
    if settings.alert_threshold is not None and not 0 <= settings.alert_threshold <= 1:
        raise ConfigError(
            f"alert_threshold must be within [0, 1], got {settings.alert_threshold}; "
            "fix: e.g. FRAUDSTREAM_ALERT_THRESHOLD=0.8, or leave it empty for the model's own"
        )
    if settings.cascade_band is not None:
        low, high = settings.cascade_band
        if not 0 <= low <= high <= 1:
            raise ConfigError(
                f"cascade_band must be two scores 0 <= low <= high <= 1, got {settings.cascade_band}"
            )
    device = settings.device
    if device != "auto" and device != "cpu" and not device.startswith("cuda"):
        raise ConfigError(
            f"device must be auto, cpu, cuda or cuda:N, got {device!r}; fix: --device cpu"
        )
    if settings.model_path is not None and not Path(settings.model_path).is_dir():
        raise ConfigError(
            f"model_path: {settings.model_path} is not a folder; fix: point it at a model folder "
            "made by `fraudstream train`, or leave it empty for the default model"
        )


def check_state(settings: Settings) -> None:
    """The bounds of the entity state, its backend and the collector's freezes."""
    if settings.state_hot_entities < 1:
        raise ConfigError(
            f"state_hot_entities must be >= 1, got {settings.state_hot_entities}; fix: "
            f"{env_name('state_hot_entities')}=100000"
        )
    if settings.state_backend == "rocksdb":
        # An optional extra: say how to install it now, not at the first packed entity.
        try:
            import rocksdict  # noqa: F401
        except ImportError:
            raise ConfigError(
                "state_backend: rocksdb needs the rocksdict package; fix: pip install "
                f"'fraudstream[rocksdb]', or {env_name('state_backend')}=memory"
            ) from None
    if settings.state_max_entities < 0:
        raise ConfigError(
            f"state_max_entities must be >= 0 (0: no limit), got {settings.state_max_entities}"
        )
    if settings.state_idle_expiry_s is not None and settings.state_idle_expiry_s < 0:
        raise ConfigError(
            f"state_idle_expiry_s must be >= 0 seconds (0: never, empty: the feature "
            f"spec's horizon), got {settings.state_idle_expiry_s}"
        )
    if settings.state_expiry_batch < 1:
        raise ConfigError(
            f"state_expiry_batch must be >= 1, got {settings.state_expiry_batch}; fix: "
            f"{env_name('state_expiry_batch')}=20000"
        )
    if settings.state_maintenance_interval_s <= 0:
        raise ConfigError(
            "state_maintenance_interval_s must be > 0 seconds, got "
            f"{settings.state_maintenance_interval_s}"
        )
    if settings.gc_freeze_interval_s < 0:
        raise ConfigError(
            f"gc_freeze_interval_s must be >= 0, got {settings.gc_freeze_interval_s}; "
            "fix: FRAUDSTREAM_GC_FREEZE_INTERVAL_S=10 (0: leave the collector alone)"
        )


def check_delivery(settings: Settings) -> None:
    """The commit interval, the transaction timeout of exactly_once, and the shutdown."""
    _require_positive(
        {
            "commit_interval_ms": settings.commit_interval_ms,
            "shutdown_timeout_s": settings.shutdown_timeout_s,
            "transaction_timeout_ms": settings.transaction_timeout_ms,
        }
    )
    if (
        settings.processing_guarantee == "exactly_once"
        and settings.transaction_timeout_ms <= 2 * settings.commit_interval_ms
    ):
        # a transaction stays open about one commit interval; with less headroom the broker
        # would abort healthy transactions
        raise ConfigError(
            f"transaction_timeout_ms ({settings.transaction_timeout_ms}) must exceed twice "
            f"commit_interval_ms ({settings.commit_interval_ms}) in exactly_once mode; fix: "
            "FRAUDSTREAM_TRANSACTION_TIMEOUT_MS=60000"
        )


def check_web(settings: Settings) -> None:
    """The port of the live page and /metrics."""
    if settings.web_port is not None and not 0 <= settings.web_port < 65536:
        raise ConfigError(f"web_port must be a TCP port, got {settings.web_port}")


def check_drift(settings: Settings) -> None:
    """The window and bounds of the drift watch."""
    if settings.drift_window < 1 or settings.drift_psi_bound <= 0:
        raise ConfigError(
            f"drift_window ({settings.drift_window}) and drift_psi_bound "
            f"({settings.drift_psi_bound}) must be > 0; fix: e.g. FRAUDSTREAM_DRIFT_WINDOW=10000, "
            "FRAUDSTREAM_DRIFT_PSI_BOUND=0.25"
        )
    if settings.drift_alert_rate_factor <= 1:
        raise ConfigError(
            f"drift_alert_rate_factor must be > 1, got {settings.drift_alert_rate_factor}; "
            "fix: e.g. FRAUDSTREAM_DRIFT_ALERT_RATE_FACTOR=2 (warn at twice or half the "
            "validation alert rate)"
        )
