"""Security parts that need no broker: client TLS settings, no plaintext fallback, secrets kept
out of `config show`, exceptions and logs, the secure listeners of the local broker."""

from __future__ import annotations

import io
import json
import logging
import re
import ssl
import stat
from pathlib import Path

import orjson
import pytest
import yaml
from click.testing import CliRunner

from fraudstream.config import ConfigError, KafkaSettings, Secret, load_settings
from fraudstream.localkafka import LocalBroker
from fraudstream.localkafka.pki import Issued, issue, make_ca
from fraudstream.localkafka.security import BrokerSecurity
from fraudstream.localkafka.settings import controller, listener_properties, plaintext
from fraudstream.logs import PayloadFilter, configure, make_handler, mask_identifiers, redact
from fraudstream.stream.clients import common_kwargs, ssl_context

PASSWORD = "s3cr3t-Pa55word"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Issued]:
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca(directory)
    return {
        "ca": ca,
        "server": issue(ca, directory, "broker", hosts=["127.0.0.1", "localhost"]),
        "client": issue(ca, directory, "client", client=True),
        "locked": issue(ca, directory, "locked", client=True, key_password=PASSWORD),
    }


def sasl_ssl(ca: Path, **changes: object) -> KafkaSettings:
    values: dict[str, object] = {
        "bootstrap": "127.0.0.1:9093",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "svc",
        "sasl_password": Secret(PASSWORD),
        "ssl_cafile": ca,
    }
    values.update(changes)
    return KafkaSettings(**values)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ client side


def test_tls_clients_verify_the_broker(pki: dict[str, Issued]) -> None:
    kwargs = common_kwargs(sasl_ssl(pki["ca"].cert_path))
    context = kwargs["ssl_context"]
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"


def test_mutual_tls_with_an_encrypted_key(pki: dict[str, Issued]) -> None:
    locked = pki["locked"]
    kafka = KafkaSettings(
        bootstrap="127.0.0.1:9093",
        security_protocol="SSL",
        ssl_cafile=pki["ca"].cert_path,
        ssl_certfile=locked.cert_path,
        ssl_keyfile=locked.key_path,
        ssl_key_password=Secret(PASSWORD),
    )
    assert ssl_context(kafka).verify_mode == ssl.CERT_REQUIRED
    wrong = KafkaSettings(**{**kafka.__dict__, "ssl_key_password": Secret("not-it")})
    with pytest.raises(ConfigError, match="ssl_key_password") as info:
        ssl_context(wrong)
    assert "not-it" not in str(info.value) and PASSWORD not in str(info.value)


@pytest.mark.parametrize("name", ["ssl_cafile", "ssl_certfile"])
def test_tls_files_under_a_plaintext_protocol_are_refused(
    pki: dict[str, Issued], name: str
) -> None:
    """No silent fallback: TLS settings with PLAINTEXT or SASL_PLAINTEXT are a mistake."""
    env = (
        {"FRAUDSTREAM_KAFKA_SSL_CAFILE": str(pki["ca"].cert_path)}
        if name == "ssl_cafile"
        else {
            "FRAUDSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "FRAUDSTREAM_KAFKA_SASL_MECHANISM": "PLAIN",
            "FRAUDSTREAM_KAFKA_SASL_USERNAME": "svc",
            "FRAUDSTREAM_KAFKA_SASL_PASSWORD": PASSWORD,
            "FRAUDSTREAM_KAFKA_SSL_CERTFILE": str(pki["client"].cert_path),
            "FRAUDSTREAM_KAFKA_SSL_KEYFILE": str(pki["client"].key_path),
        }
    )
    with pytest.raises(ConfigError, match=f"kafka.{name} is set but security_protocol"):
        load_settings(env=env)


def test_faust_gets_the_same_security(pki: dict[str, Issued]) -> None:
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    from loadtest.faust_variant import faust_credentials

    kafka = sasl_ssl(pki["ca"].cert_path)
    auth = credentials_to_aiokafka_auth(faust_credentials(kafka))
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert auth["sasl_plain_password"] == PASSWORD
    assert auth["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert faust_credentials(KafkaSettings()) is None


# ------------------------------------------------------------------------------ secrets


def secret_env(pki: dict[str, Issued]) -> dict[str, str]:
    return {
        "FRAUDSTREAM_KAFKA_BOOTSTRAP": "127.0.0.1:9093",
        "FRAUDSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "FRAUDSTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "FRAUDSTREAM_KAFKA_SASL_USERNAME": "svc",
        "FRAUDSTREAM_KAFKA_SASL_PASSWORD": PASSWORD,
        "FRAUDSTREAM_KAFKA_SSL_CAFILE": str(pki["ca"].cert_path),
        "FRAUDSTREAM_KAFKA_SSL_CERTFILE": str(pki["locked"].cert_path),
        "FRAUDSTREAM_KAFKA_SSL_KEYFILE": str(pki["locked"].key_path),
        "FRAUDSTREAM_KAFKA_SSL_KEY_PASSWORD": PASSWORD + "-key",
    }


@pytest.mark.parametrize("as_json", [False, True])
def test_config_show_masks_every_secret(pki: dict[str, Issued], as_json: bool) -> None:
    from fraudstream.cli import main

    args = ["config", "show", *(["--json"] if as_json else [])]
    result = CliRunner().invoke(main, args, env=secret_env(pki))
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    shown = json.loads(result.output) if as_json else yaml.safe_load(result.output)
    assert shown["kafka"]["sasl_password"] == "******"
    assert shown["kafka"]["ssl_key_password"] == "******"
    assert shown["kafka"]["sasl_username"] == "svc"


def test_settings_never_print_their_secrets(pki: dict[str, Issued]) -> None:
    settings = load_settings(env=secret_env(pki))
    for text in (repr(settings), str(settings), repr(settings.kafka), str(settings.redacted())):
        assert PASSWORD not in text
    # an exception that quotes the settings (say, in a traceback's message) does not either
    assert PASSWORD not in str(ConfigError(f"bad: {settings.kafka}"))


# ------------------------------------------------------------------------------ logs


def test_redact_masks_identifiers_secrets_and_personal_fields() -> None:
    line = (
        "card 4532 0151 2345 6789 account 860100001234 iban DE89370400440532013000 "
        "mail jane.doe@example.com sasl_plain_password='hunter2' "
        "{'narrative': 'Rent to Johanna Testperson', 'name': \"Johanna Testperson\", "
        "card_id=4532015112345678}"
    )
    out = redact(line)
    for raw in (
        "4532 0151 2345 6789",
        "860100001234",
        "DE89370400440532013000",
        "jane.doe@example.com",
        "hunter2",
        "Johanna",
        "Rent to",
        "4532015112345678",
    ):
        assert raw not in out, raw
    assert "6789" in out and "1234" in out and "3000" in out  # last four kept


def test_mask_identifiers_keeps_free_text_readable() -> None:
    text = "URGENT gift card for tax office ref 4532015112345678 to Johanna"
    assert (
        mask_identifiers(text) == "URGENT gift card for tax office ref ************5678 to Johanna"
    )


def test_redact_leaves_the_digits_of_decimal_numbers_alone() -> None:
    line = "cascade band [0.0227517657, 0.2654000123), threshold 0.04230911"
    assert redact(line) == line
    assert redact("account 860100001234.") == "account ********1234."


def test_aiokafka_start_up_transients_are_not_error_lines() -> None:
    buffer = io.StringIO()
    handler = make_handler("text", buffer)
    logger = logging.getLogger("aiokafka.consumer.group_coordinator")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    try:
        logger.error(
            "Group Coordinator Request failed: [Error 15] GroupCoordinatorNotAvailableError"
        )
        logger.error("Unexpected error in heartbeat routine")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    out = buffer.getvalue()
    assert "Group Coordinator Request failed" not in out
    assert "ERROR aiokafka.consumer.group_coordinator: Unexpected error" in out


def test_payload_filter_drops_wire_bytes_and_protocol_objects() -> None:
    from aiokafka.protocol.admin import SaslAuthenticateRequest_v0

    # SASL/PLAIN sends "\0user\0password" on the wire; aiokafka logs requests at DEBUG.
    request = SaslAuthenticateRequest_v0(b"\x00svc\x00" + PASSWORD.encode())
    buffer = io.StringIO()
    logger = logging.getLogger("aiokafka.test-payload")
    handler = make_handler("json", buffer)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("Request to %s:%d %d: %s", "127.0.0.1", 9093, 1, request)
        logger.debug("Sending (key=%r value=%r)", b"860100001234", b'{"card_id":"4532"}')
    finally:
        logger.removeHandler(handler)
    out = buffer.getvalue()
    assert PASSWORD not in out and "860100001234" not in out and "card_id" not in out
    lines = [orjson.loads(line) for line in out.splitlines()]
    assert "<SaslAuthenticateRequest_v0>" in lines[0]["message"]
    assert "<12 bytes>" in lines[1]["message"]


def test_json_logs_redact_exceptions_too() -> None:
    buffer = io.StringIO()
    logger = logging.getLogger("fraudstream.test-json")
    handler = make_handler("json", buffer)
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("bad record {'account_id': '860100001234', 'narrative': 'x y'}")
        except ValueError:
            logger.exception("scoring failed for card 4532015112345678")
    finally:
        logger.removeHandler(handler)
    doc = orjson.loads(buffer.getvalue())
    assert doc["level"] == "ERROR" and doc["logger"] == "fraudstream.test-json"
    assert "4532015112345678" not in doc["message"]
    assert "860100001234" not in doc["exception"] and "'x y'" not in doc["exception"]


def test_configure_keeps_third_party_loggers_quiet() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logging.getLogger("aiokafka").level
    try:
        handler = configure("DEBUG", "json", stream=io.StringIO())
        assert root.handlers == [handler]
        assert any(isinstance(f, PayloadFilter) for f in handler.filters)
        assert logging.getLogger("aiokafka").level == logging.WARNING
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("aiokafka").setLevel(saved[2])


# ------------------------------------------------------------------------------ the broker side


def security(pki: dict[str, Issued]) -> BrokerSecurity:
    return BrokerSecurity(
        keystore=pki["server"].keystore_path,
        truststore=pki["ca"].cert_path,
        sasl_ssl_port=9094,
        mtls_port=9095,
        scram_users={"svc": "scram-pw"},
        plain_users={"plain": "plain-pw"},
    )


def test_secure_listeners_render_scram_plain_and_mtls(pki: dict[str, Issued]) -> None:
    props = listener_properties([plaintext(9092), *security(pki).listeners()], controller(9093))
    assert props["listener.security.protocol.map"] == (
        "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,MTLS:SSL,CONTROLLER:PLAINTEXT"
    )
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    sasl = "listener.name.sasl_ssl."
    assert props[sasl + "sasl.enabled.mechanisms"] == "SCRAM-SHA-512,SCRAM-SHA-256,PLAIN"
    assert "ScramLoginModule required;" in props[sasl + "scram-sha-512.sasl.jaas.config"]
    assert 'user_plain="plain-pw"' in props[sasl + "plain.sasl.jaas.config"]
    assert props[sasl + "ssl.keystore.type"] == "PEM"
    assert props[sasl + "ssl.client.auth"] == "none"
    assert props["listener.name.mtls.ssl.client.auth"] == "required"
    assert props["listener.name.mtls.ssl.truststore.location"] == str(pki["ca"].cert_path)


def test_scram_users_are_created_at_format_time(pki: dict[str, Issued]) -> None:
    assert security(pki).format_args() == [
        "--add-scram",
        "SCRAM-SHA-512=[name=svc,password=scram-pw]",
        "--add-scram",
        "SCRAM-SHA-256=[name=svc,password=scram-pw]",
    ]


@pytest.mark.parametrize("password", ["has space", 'quo"te', "com,ma", "br]acket", ""])
def test_credentials_that_would_break_the_config_are_refused(
    pki: dict[str, Issued], password: str
) -> None:
    with pytest.raises(ValueError, match="password of svc"):
        BrokerSecurity(
            keystore=pki["server"].keystore_path,
            truststore=pki["ca"].cert_path,
            sasl_ssl_port=9094,
            scram_users={"svc": password},
        )


def test_server_properties_with_passwords_are_private(
    pki: dict[str, Issued], tmp_path: Path
) -> None:
    broker = LocalBroker(tmp_path / "home", security=security(pki))
    broker._write_config(19092, 19093)
    mode = stat.S_IMODE(broker.server_properties.stat().st_mode)
    assert mode == 0o600
    text = broker.server_properties.read_text()
    assert "SASL_SSL://127.0.0.1:9094" in text and "MTLS://127.0.0.1:9095" in text


def test_keys_are_written_private(pki: dict[str, Issued]) -> None:
    for issued in pki.values():
        assert stat.S_IMODE(issued.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(pki["server"].keystore_path.stat().st_mode) == 0o600


def test_secrets_can_come_from_files(tmp_path: Path) -> None:
    """Docker and Kubernetes mount secrets as files: FRAUDSTREAM_..._PASSWORD_FILE."""
    secret = tmp_path / "kafka-password"
    secret.write_text(PASSWORD + "\n")
    env = {
        "FRAUDSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "FRAUDSTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "FRAUDSTREAM_KAFKA_SASL_USERNAME": "svc",
        "FRAUDSTREAM_KAFKA_SASL_PASSWORD_FILE": str(secret),
    }
    settings = load_settings(env=env)
    assert settings.kafka.sasl_password == Secret(PASSWORD)
    with pytest.raises(ConfigError, match="cannot read the secret file") as info:
        load_settings(env={**env, "FRAUDSTREAM_KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "no")})
    assert PASSWORD not in str(info.value)
    with pytest.raises(ConfigError, match="keep one"):
        load_settings(env={**env, "FRAUDSTREAM_KAFKA_SASL_PASSWORD": PASSWORD})


def test_text_logs_keep_their_timestamp_and_redact_the_rest() -> None:
    buffer = io.StringIO()
    logger = logging.getLogger("fraudstream.test-text")
    handler = make_handler("text", buffer)
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("card 4532015112345678")
        except ValueError:
            logger.exception("account %s", "860100001234")
    finally:
        logger.removeHandler(handler)
    out = buffer.getvalue()
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ERROR fraudstream.test-text: ", out)
    assert "860100001234" not in out and "4532015112345678" not in out
    assert "********1234" in out and "************5678" in out
