"""The `kafka` and `topics` sections of the settings, each checking itself.

They are the two nested sections of `Settings` (YAML `kafka:` and `topics:` mappings,
`FRAUDSTREAM_KAFKA_*` and `FRAUDSTREAM_TOPICS_*` variables): what the broker connection and
the topic names need to be valid is checked here, before any client is built, so that a
typo stops the start rather than a connection attempt minutes later.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fraudstream.config.errors import ConfigError
from fraudstream.config.secret import Secret

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
