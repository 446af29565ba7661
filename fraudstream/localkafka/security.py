"""Secure listeners for the local broker: SASL over TLS (SCRAM and PLAIN) and mutual TLS.

The plaintext listener stays: it carries the broker's own traffic and `up()`'s readiness check
on loopback. Next to it, `BrokerSecurity` adds

* `SASL_SSL` (protocol SASL_SSL): TLS with the broker's PEM keystore, then SASL with
  SCRAM-SHA-512, SCRAM-SHA-256 (users stored in the KRaft metadata by `kafka-storage format
  --add-scram`, the way KRaft clusters create their first SCRAM users) and PLAIN (users in the
  listener's JAAS configuration);
* `MTLS` (protocol SSL, `ssl.client.auth=required`): a client must present a certificate signed
  by a CA in the broker's truststore; its principal is the certificate's subject.

Both read PEM files (`ssl.keystore.type=PEM`, Kafka 2.7+), so no Java keystore is ever made.
PLAIN passwords end up in `server.properties`, which is therefore written readable by its owner
only; the SCRAM passwords appear once on the command line of the format tool. This is a broker
for tests and development, not a template for production (see docs/deployment.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fraudstream.localkafka.settings import LOOPBACK, Listener

SASL_SSL_LISTENER = "SASL_SSL"
MTLS_LISTENER = "MTLS"
SCRAM_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")
SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
# Characters that would need escaping in a JAAS string or in `--add-scram`'s [k=v,...] syntax.
_FORBIDDEN = set('"\\,[]=\n\r ')


def _check_credential(kind: str, text: str) -> None:
    if not text or _FORBIDDEN & set(text):
        raise ValueError(
            f"{kind} {text!r}: use a non-empty value without spaces, quotes, backslashes, "
            "commas, brackets or '='"
        )


@dataclass(frozen=True)
class BrokerSecurity:
    """The secure listeners of a local broker; the ports are the caller's choice."""

    keystore: Path
    """PEM: the broker's unencrypted PKCS#8 private key, its certificate and the CA chain."""
    truststore: Path
    """PEM: CA certificates whose client certificates the MTLS listener accepts."""
    sasl_ssl_port: int | None = None
    mtls_port: int | None = None
    scram_users: Mapping[str, str] = field(default_factory=dict, hash=False)
    plain_users: Mapping[str, str] = field(default_factory=dict, hash=False)
    host: str = LOOPBACK

    def __post_init__(self) -> None:
        if self.sasl_ssl_port is None and self.mtls_port is None:
            raise ValueError("BrokerSecurity needs sasl_ssl_port, mtls_port or both")
        if self.sasl_ssl_port is not None and not (self.scram_users or self.plain_users):
            raise ValueError("a SASL_SSL listener needs at least one SCRAM or PLAIN user")
        for users in (self.scram_users, self.plain_users):
            for name, password in users.items():
                _check_credential("user name", name)
                _check_credential(f"password of {name}", password)

    @property
    def mechanisms(self) -> tuple[str, ...]:
        scram = SCRAM_MECHANISMS if self.scram_users else ()
        return (*scram, *(("PLAIN",) if self.plain_users else ()))

    def address(self, listener: str) -> str:
        port = self.sasl_ssl_port if listener == SASL_SSL_LISTENER else self.mtls_port
        if port is None:
            raise ValueError(f"no {listener} listener configured")
        return f"{self.host}:{port}"

    def _tls(self, client_auth: str) -> dict[str, str]:
        return {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.truststore),
            "ssl.client.auth": client_auth,
            "ssl.enabled.protocols": "TLSv1.3,TLSv1.2",
        }

    def listeners(self) -> list[Listener]:
        out: list[Listener] = []
        if self.sasl_ssl_port is not None:
            extra = {**self._tls("none"), "sasl.enabled.mechanisms": ",".join(self.mechanisms)}
            for mechanism in self.mechanisms:
                if mechanism.startswith("SCRAM"):
                    jaas = f"{SCRAM_MODULE} required;"
                else:
                    users = " ".join(f'user_{u}="{p}"' for u, p in self.plain_users.items())
                    jaas = f"{PLAIN_MODULE} required {users};"
                extra[f"{mechanism.lower()}.sasl.jaas.config"] = jaas
            out.append(
                Listener(
                    name=SASL_SSL_LISTENER,
                    protocol="SASL_SSL",
                    port=self.sasl_ssl_port,
                    host=self.host,
                    extra=extra,
                )
            )
        if self.mtls_port is not None:
            out.append(
                Listener(
                    name=MTLS_LISTENER,
                    protocol="SSL",
                    port=self.mtls_port,
                    host=self.host,
                    extra=self._tls("required"),
                )
            )
        return out

    def format_args(self) -> list[str]:
        """`kafka-storage format` arguments creating the SCRAM users (every SCRAM mechanism)."""
        args: list[str] = []
        for name, password in self.scram_users.items():
            for mechanism in SCRAM_MECHANISMS:
                args += ["--add-scram", f"{mechanism}=[name={name},password={password}]"]
        return args
