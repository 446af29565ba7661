"""Kafka client construction: the one place where settings become aiokafka arguments.

Every client the project runs (processor, generator, replay, alerts, load test) is built here, so
security settings apply to all of them alike and a secret is revealed in exactly one place.

Before a command starts its clients it calls `check_connection`: one connection to a bootstrap
broker with exactly the configured security (TLS handshake, certificate checks, SASL), whose
failure becomes a `ConfigError` naming the setting to fix. aiokafka itself would only log the
cause and raise "Unable to bootstrap", or keep retrying. There is no fallback: a client set up
for SSL or SASL_SSL never sends a byte in the clear, and a TLS setting under a plaintext
protocol is refused by `KafkaSettings.check`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import errors as kafka_errors
from aiokafka.conn import AIOKafkaConnection
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.metadata import MetadataRequest

from fraudstream.config import ConfigError, KafkaSettings

PREFLIGHT_TIMEOUT_S = 10.0


def resolve_bootstrap(kafka: KafkaSettings) -> str:
    """The configured bootstrap, or the local broker's when none is configured."""
    if kafka.bootstrap:
        return kafka.bootstrap
    from fraudstream.localkafka import default_bootstrap

    bootstrap = default_bootstrap()
    if bootstrap is None:
        raise ConfigError(
            "kafka.bootstrap is not set and no local broker runs; fix: start one with "
            "`fraudstream kafka up`, or pass --bootstrap HOST:PORT"
        )
    return bootstrap


def common_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """Connection and security arguments shared by consumers, producers and admin clients."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": resolve_bootstrap(kafka),
        "client_id": kafka.client_id,
        "request_timeout_ms": kafka.request_timeout_ms,
        "security_protocol": kafka.security_protocol,
    }
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        kwargs["ssl_context"] = ssl_context(kafka)
    if kafka.security_protocol.startswith("SASL"):
        assert kafka.sasl_password is not None  # checked by KafkaSettings.check
        kwargs["sasl_mechanism"] = kafka.sasl_mechanism
        kwargs["sasl_plain_username"] = kafka.sasl_username
        kwargs["sasl_plain_password"] = kafka.sasl_password.reveal()
    return kwargs


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext:
    """The client's TLS context: the configured CA (else the system's), the client certificate
    for mutual TLS, certificate and host name checks on. Unreadable files and a wrong key
    password become a `ConfigError` naming the setting."""
    try:
        context = create_ssl_context(
            cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None,
            certfile=str(kafka.ssl_certfile) if kafka.ssl_certfile else None,
            keyfile=str(kafka.ssl_keyfile) if kafka.ssl_keyfile else None,
            password=kafka.ssl_key_password.reveal() if kafka.ssl_key_password else None,
        )
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ConfigError(_tls_file_problem(kafka, exc)) from None
    context.check_hostname = kafka.ssl_check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _tls_file_problem(kafka: KafkaSettings, exc: BaseException) -> str:
    text = str(exc)
    if kafka.ssl_certfile is None:
        return (
            f"kafka.ssl_cafile: cannot load the CA certificates from {kafka.ssl_cafile} ({text}); "
            "fix: point FRAUDSTREAM_KAFKA_SSL_CAFILE at a PEM file of CA certificates"
        )
    if "bad decrypt" in text.lower() or "password" in text.lower() or "PEM lib" in text:
        return (
            f"kafka.ssl_key_password: cannot read the private key {kafka.ssl_keyfile} ({text}); "
            "fix: set FRAUDSTREAM_KAFKA_SSL_KEY_PASSWORD to the key's password (or check "
            "kafka.ssl_keyfile and kafka.ssl_certfile belong together)"
        )
    return (
        f"kafka.ssl_certfile/kafka.ssl_keyfile/kafka.ssl_cafile: cannot load the TLS files "
        f"({text}); fix: PEM files, the key matching the certificate"
    )


# ---------------------------------------------------------------------------------------------
# Preflight


async def check_connection(kafka: KafkaSettings, *, timeout: float = PREFLIGHT_TIMEOUT_S) -> str:
    """Connect to a bootstrap broker exactly as the clients will (TLS, SASL) and ask for the
    cluster metadata; return the address that answered.

    Raises `ConfigError` within about `timeout` seconds with a message that names the setting to
    fix: wrong credentials, an unsupported SASL mechanism, a broker certificate the CA does not
    vouch for, a host name the certificate does not carry, a client certificate the broker does
    not accept, a TLS client talking to a plaintext listener or the other way round, nothing
    listening. Authentication and TLS failures are final at the first broker (every broker of a
    cluster shares them); a broker that cannot be reached is skipped for the next one.
    """
    bootstrap = resolve_bootstrap(kafka)
    kwargs = common_kwargs(kafka)
    unreachable: list[str] = []
    for address in [part.strip() for part in bootstrap.split(",") if part.strip()]:
        host, _, port = address.rpartition(":")
        host = host.strip("[]")
        conn = AIOKafkaConnection(
            host,
            int(port),
            client_id=kafka.client_id,
            request_timeout_ms=int(timeout * 1000),
            ssl_context=kwargs.get("ssl_context"),
            security_protocol=kafka.security_protocol,
            sasl_mechanism=kwargs.get("sasl_mechanism", "PLAIN"),
            sasl_plain_username=kwargs.get("sasl_plain_username"),
            sasl_plain_password=kwargs.get("sasl_plain_password"),
        )
        try:
            async with asyncio.timeout(timeout):
                try:
                    await conn.connect()
                    await conn.send(MetadataRequest([]))
                finally:
                    await _closed(conn)
        except Exception as exc:
            problem = explain_connection_error(kafka, address, exc, timeout=timeout)
            if problem.final:
                raise ConfigError(problem.message) from None
            unreachable.append(problem.message)
            continue
        return address
    raise ConfigError("; ".join(unreachable))


async def _closed(conn: AIOKafkaConnection) -> None:
    """Close and wait until the socket is gone: a TLS transport shuts down asynchronously, and a
    command that ends its event loop right after a failed preflight would otherwise leave the
    socket to the garbage collector (a ResourceWarning)."""
    conn.close()
    closed = getattr(conn, "_closed_fut", None)  # set by connect(); done when the socket is closed
    if closed is not None:
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(closed), 1.0)


class _Problem:
    __slots__ = ("final", "message")

    def __init__(self, message: str, *, final: bool) -> None:
        self.message = message
        self.final = final


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def explain_connection_error(
    kafka: KafkaSettings, address: str, exc: BaseException, *, timeout: float
) -> _Problem:
    """What a failed first connection means, in terms of the settings (no secret in it)."""
    protocol = kafka.security_protocol
    tls = protocol in ("SSL", "SASL_SSL")
    chain = _chain(exc)
    for err in chain:
        if isinstance(
            err, kafka_errors.SaslAuthenticationFailed | kafka_errors.AuthenticationFailedError
        ):
            return _Problem(
                f"kafka.sasl_password: the broker at {address} refused the credentials of user "
                f"{kafka.sasl_username!r} with {kafka.sasl_mechanism} ({_broker_text(err)}); "
                "fix: check FRAUDSTREAM_KAFKA_SASL_USERNAME, FRAUDSTREAM_KAFKA_SASL_PASSWORD and "
                "FRAUDSTREAM_KAFKA_SASL_MECHANISM (SCRAM users must exist for that mechanism)",
                final=True,
            )
        if isinstance(
            err, kafka_errors.UnsupportedSaslMechanismError | kafka_errors.IllegalSaslStateError
        ):
            return _Problem(
                f"kafka.sasl_mechanism: the broker at {address} does not offer "
                f"{kafka.sasl_mechanism} ({_broker_text(err)}); fix: set "
                "FRAUDSTREAM_KAFKA_SASL_MECHANISM to one the listener enables",
                final=True,
            )
        if isinstance(err, ssl.SSLCertVerificationError):
            if err.verify_code == 62 or "hostname" in str(err.verify_message).lower():
                return _Problem(
                    f"kafka.bootstrap: the broker certificate at {address} is not valid for "
                    f"this host name ({err.verify_message}); fix: connect with a name or "
                    "address the certificate lists (kafka.bootstrap, and the broker's "
                    "advertised.listeners); kafka.ssl_check_hostname=false only for tests",
                    final=True,
                )
            return _Problem(
                f"kafka.ssl_cafile: the broker certificate at {address} is not trusted "
                f"({err.verify_message}); fix: set FRAUDSTREAM_KAFKA_SSL_CAFILE to the CA "
                "that signed the broker's certificate"
                + ("" if kafka.ssl_cafile else " (no ssl_cafile is set: the system CAs were used)"),
                final=True,
            )
        if isinstance(err, ssl.SSLError):
            text = f"{err.reason or ''} {err}".lower()
            if any(
                word in text
                for word in ("certificate required", "bad certificate", "unknown ca", "alert")
            ):
                return _Problem(
                    f"kafka.ssl_certfile: the broker at {address} rejected the TLS handshake "
                    f"({err.reason or err}); it wants a client certificate it trusts (mutual "
                    "TLS); fix: set FRAUDSTREAM_KAFKA_SSL_CERTFILE and "
                    "FRAUDSTREAM_KAFKA_SSL_KEYFILE to a certificate signed by a CA the broker "
                    "trusts",
                    final=True,
                )
            return _Problem(
                f"kafka.security_protocol: the TLS handshake with {address} failed "
                f"({err.reason or err}); fix: check that kafka.bootstrap points at the "
                f"broker's {protocol} listener (a plaintext listener cannot speak TLS)",
                final=True,
            )
    first = chain[0]
    if isinstance(first, TimeoutError | asyncio.TimeoutError):
        hint = (
            "a plaintext listener stays silent when it receives TLS"
            if tls
            else "a TLS listener stays silent when it receives plaintext"
        )
        return _Problem(
            f"kafka.bootstrap: no answer from {address} within {timeout:.0f} s with "
            f"security_protocol {protocol}; fix: check the address, the firewall and "
            f"kafka.security_protocol ({hint})",
            final=False,
        )
    if tls and isinstance(first, ConnectionError | EOFError):
        # Reset during the TLS handshake, before any Kafka request: not a TLS listener.
        return _Problem(
            f"kafka.security_protocol: the TLS handshake with {address} failed "
            f"({type(first).__name__}): the listener there does not speak TLS; fix: point "
            f"kafka.bootstrap at the broker's {protocol} listener (or set "
            "FRAUDSTREAM_KAFKA_SECURITY_PROTOCOL to what that listener uses)",
            final=True,
        )
    unreachable = isinstance(first, ConnectionRefusedError | socket.gaierror) or (
        isinstance(first, OSError)
        and not isinstance(first, ssl.SSLError | ConnectionResetError | ConnectionAbortedError)
        and first.errno
    )
    if unreachable:
        assert isinstance(first, OSError)
        return _Problem(
            f"kafka.bootstrap: cannot connect to {address} ({first.strerror or first}); "
            "fix: check the host and port, and that the broker runs",
            final=False,
        )
    if isinstance(first, kafka_errors.KafkaConnectionError | ConnectionError | EOFError):
        # The broker hung up during the first request: the usual sign of a protocol mismatch
        # (plaintext client on a TLS or SASL listener), or of a client certificate refused
        # after a TLS 1.3 handshake.
        if kafka.security_protocol == "SSL" and kafka.ssl_certfile is None:
            fix = (
                "kafka.ssl_certfile: the listener may require a client certificate (mutual TLS); "
                "fix: set FRAUDSTREAM_KAFKA_SSL_CERTFILE and FRAUDSTREAM_KAFKA_SSL_KEYFILE"
            )
        elif tls:
            fix = (
                "kafka.ssl_certfile or kafka.security_protocol: the broker may not trust the "
                "client certificate, or the listener expects another protocol; fix: check "
                "FRAUDSTREAM_KAFKA_SSL_CERTFILE and FRAUDSTREAM_KAFKA_SECURITY_PROTOCOL"
            )
        else:
            fix = (
                "kafka.security_protocol: the listener probably expects TLS or SASL; fix: set "
                "FRAUDSTREAM_KAFKA_SECURITY_PROTOCOL to the listener's protocol "
                "(SSL, SASL_SSL), never a plaintext fallback"
            )
        return _Problem(
            f"the broker at {address} closed the connection during the first request with "
            f"security_protocol {protocol}: {fix}",
            final=True,
        )
    return _Problem(
        f"kafka: cannot talk to {address} with security_protocol {protocol}: "
        f"{type(first).__name__}: {first}",
        final=True,
    )


def _broker_text(err: BaseException) -> str:
    text = str(err).strip()
    return text or type(err).__name__


def make_producer(kafka: KafkaSettings, **overrides: Any) -> AIOKafkaProducer:
    kwargs = common_kwargs(kafka)
    kwargs.update(
        acks="all",
        enable_idempotence=True,
        linger_ms=1,
        max_batch_size=256 * 1024,
        max_request_size=20 * 1024 * 1024,
        compression_type=None,
    )
    kwargs.update(overrides)
    return AIOKafkaProducer(**kwargs)


def make_consumer(kafka: KafkaSettings, *topics: str, **overrides: Any) -> AIOKafkaConsumer:
    kwargs = common_kwargs(kafka)
    kwargs.update(
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # The default 500 ms fetch wait would eat the whole latency budget on a quiet topic.
        fetch_max_wait_ms=5,
        # ... and with the default of 1 byte a busy topic is fetched a few records at a time: a
        # request each, costly to client and broker alike. Wait for 32 KiB (or the 5 ms):
        # measured at 2,000 tx/s, the machine's CPU for broker, processor and load tool went
        # from 1.78 to 1.36 cores.
        fetch_min_bytes=32 * 1024,
        max_partition_fetch_bytes=21 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
        max_poll_records=2000,
    )
    kwargs.update(overrides)
    return AIOKafkaConsumer(*topics, **kwargs)


def admin_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """Arguments for `AIOKafkaAdminClient` (it takes no producer/consumer-only options)."""
    return common_kwargs(kafka)
