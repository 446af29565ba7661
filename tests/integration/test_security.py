"""Security on a real broker: SASL/SCRAM and SASL/PLAIN over TLS, mutual TLS, no leaks, closed
network.

The module starts its own broker (a temporary home, certificates from a throwaway CA made here,
SCRAM users created at format time) with three listeners: PLAINTEXT (the broker's own traffic),
SASL_SSL (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN) and MTLS (SSL with required client certificates).

One pipeline run over SASL_SSL/SCRAM-SHA-512 is shared by several tests: it runs with every
logger at DEBUG captured through the production handler, and with a network guard that allows
only the SASL_SSL listener; the tests then grep the logs and the output topics for the password,
the card and account numbers, the names and the narratives it used.

What each topic may carry (docs/deployment.md, "Personal data on the topics"):
* input, dead letters, state changelog, labels: raw transactions or entity ids (restrict them);
* risk-scores: the account id (it is the record key anyway) and scores, never card numbers,
  names or narratives;
* fraud-alerts: account and card masked to the last four, the narrative with digit runs masked.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from fraudstream.config import ConfigError, KafkaSettings, Secret, Settings
from fraudstream.features import FeatureSpec
from fraudstream.localkafka import BrokerInfo, LocalBroker, free_port
from fraudstream.localkafka.pki import Issued, issue, make_ca
from fraudstream.localkafka.security import MTLS_LISTENER, SASL_SSL_LISTENER, BrokerSecurity
from fraudstream.logs import THIRD_PARTY, make_handler
from fraudstream.netguard import NetworkGuard
from fraudstream.stream.app import build_processor
from fraudstream.stream.audit import Read, id_counts, read_topic
from fraudstream.stream.clients import check_connection
from fraudstream.stream.produce import produce_records
from fraudstream.stream.topics import prepare_topics
from fraudstream.testing import FakeScoring, prefixed_settings, transaction

pytestmark = pytest.mark.integration

SCRAM_USER = "fraudstream-svc"
PLAIN_USER = "fraudstream-plain"
FAIL_FAST_S = 10.0


@dataclass
class Secure:
    info: BrokerInfo
    security: BrokerSecurity
    ca: Issued
    rogue_ca: Issued
    client: Issued
    rogue_client: Issued
    scram_password: str
    plain_password: str

    def scram(self, mechanism: str = "SCRAM-SHA-512", **changes: Any) -> KafkaSettings:
        values: dict[str, Any] = {
            "bootstrap": self.security.address(SASL_SSL_LISTENER),
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": mechanism,
            "sasl_username": SCRAM_USER,
            "sasl_password": Secret(self.scram_password),
            "ssl_cafile": self.ca.cert_path,
        }
        values.update(changes)
        return KafkaSettings(**values)

    def plain(self, **changes: Any) -> KafkaSettings:
        values: dict[str, Any] = {
            "sasl_mechanism": "PLAIN",
            "sasl_username": PLAIN_USER,
            "sasl_password": Secret(self.plain_password),
        }
        values.update(changes)
        return self.scram(**values)

    def mtls(self, **changes: Any) -> KafkaSettings:
        values: dict[str, Any] = {
            "bootstrap": self.security.address(MTLS_LISTENER),
            "security_protocol": "SSL",
            "ssl_cafile": self.ca.cert_path,
            "ssl_certfile": self.client.cert_path,
            "ssl_keyfile": self.client.key_path,
        }
        values.update(changes)
        return KafkaSettings(**values)


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secure]:
    pki = tmp_path_factory.mktemp("pki")
    ca, rogue_ca = make_ca(pki, "ca"), make_ca(pki, "rogue-ca")
    server = issue(ca, pki, "broker", hosts=["127.0.0.1", "localhost"])
    client = issue(ca, pki, "processor", client=True)
    rogue_client = issue(rogue_ca, pki, "intruder", client=True)
    scram_password = f"scram-{uuid.uuid4().hex}"
    plain_password = f"plain-{uuid.uuid4().hex}"
    security = BrokerSecurity(
        keystore=server.keystore_path,
        truststore=ca.cert_path,
        sasl_ssl_port=free_port(),
        mtls_port=free_port(),
        scram_users={SCRAM_USER: scram_password},
        plain_users={PLAIN_USER: plain_password},
    )
    broker = LocalBroker(
        tmp_path_factory.mktemp("kafka-secure"), port=free_port(), security=security
    )
    info = broker.up()
    try:
        yield Secure(
            info, security, ca, rogue_ca, client, rogue_client, scram_password, plain_password
        )
    finally:
        broker.down()


# ------------------------------------------------------------------------------ personal data


@dataclass
class Identities:
    """The personal data the pipeline run uses, to grep for afterwards."""

    accounts: list[str] = field(default_factory=list)
    cards: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    narratives: list[str] = field(default_factory=list)
    ibans: list[str] = field(default_factory=list)


def personal_records(n: int) -> tuple[list[tuple[bytes, bytes]], Identities]:
    ids = Identities()
    out = []
    for i in range(n):
        account = f"8601{i % 23:08d}"  # 12-digit account numbers
        card = f"45320151{i:08d}"  # 16-digit card numbers
        name = f"Johanna Testperson{chr(65 + i % 26)}"
        iban = f"DE8937040044{i:010d}"
        suspicious = i % 7 == 0
        narrative = (
            f"URGENT gift card for tax office ref {card} to {name}"
            if suspicious
            else f"Rent Flat{i} to {name}"
        )
        tx = transaction(
            transaction_id=f"tx-{i:06d}",
            account_id=account,
            card_id=card,
            narrative=narrative,
            counterparty={"name": name, "account": iban, "country": "DE", "new_beneficiary": True},
            timestamp=f"2026-01-15T10:{(i // 60) % 60:02d}:{i % 60:02d}Z",
        )
        ids.accounts.append(account)
        ids.cards.append(card)
        ids.names.append(name)
        ids.narratives.append(narrative)
        ids.ibans.append(iban)
        out.append((account.encode(), orjson.dumps(tx)))
    ids.accounts = sorted(set(ids.accounts))
    return out, ids


@dataclass
class Run:
    settings: Settings
    n: int
    ids: Identities
    counters: Any
    scores: list[Read]
    alerts: list[Read]
    dead: list[Read]
    json_log: str
    text_log: str
    guard: NetworkGuard
    seconds: float


def capture_all_logs() -> tuple[io.StringIO, io.StringIO, Any]:
    """Every logger at DEBUG through the production handlers (JSON and text), into buffers."""
    json_buf, text_buf = io.StringIO(), io.StringIO()
    handlers = [make_handler("json", json_buf), make_handler("text", text_buf)]
    root = logging.getLogger()
    saved = (root.level, {n: logging.getLogger(n).level for n in THIRD_PARTY})
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in THIRD_PARTY:
        logging.getLogger(name).setLevel(logging.DEBUG)

    def restore() -> None:
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)

    return json_buf, text_buf, restore


async def run_pipeline(settings: Settings, records: list[tuple[bytes, bytes]]) -> Any:
    """Topics, the input, then the processor until it has scored every record and drained."""
    await prepare_topics(settings)
    await produce_records(settings.kafka, settings.topics.input, records)
    outputs = 0
    done = asyncio.Event()

    def listener(kind: str, record: dict[str, Any]) -> None:
        nonlocal outputs
        outputs += 1
        if outputs >= len(records):
            done.set()

    processor = build_processor(
        settings, scoring=FakeScoring(), spec=FeatureSpec.native(), listener=listener
    )
    run = asyncio.create_task(processor.run())
    waiter = asyncio.ensure_future(done.wait())
    await asyncio.wait([run, waiter], timeout=90, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    processor.stop()  # drains: every output acknowledged and committed before it returns
    return await asyncio.wait_for(run, 60)


@pytest.fixture(scope="module")
def scram_run(secure: Secure) -> Run:
    """The processor over SASL_SSL + SCRAM-SHA-512, every logger at DEBUG, network guarded."""
    prefix = f"t-sec-{uuid.uuid4().hex[:8]}"
    settings = prefixed_settings(secure.scram(), prefix, partitions=2)
    n = 140
    records, ids = personal_records(n)
    guard = NetworkGuard([secure.security.address(SASL_SSL_LISTENER)])
    json_buf, text_buf, restore = capture_all_logs()

    async def main() -> tuple[Any, list[Read], list[Read], list[Read]]:
        counters = await run_pipeline(settings, records)
        topics = settings.topics
        return (
            counters,
            await read_topic(settings.kafka, topics.scores),
            await read_topic(settings.kafka, topics.alerts),
            await read_topic(settings.kafka, topics.dlq),
        )

    started = time.monotonic()
    try:
        with guard.active():
            counters, scores, alerts, dead = asyncio.run(main())
    finally:
        restore()
    return Run(
        settings,
        n,
        ids,
        counters,
        scores,
        alerts,
        dead,
        json_buf.getvalue(),
        text_buf.getvalue(),
        guard,
        time.monotonic() - started,
    )


# ------------------------------------------------------------------------------ the pipeline


def test_pipeline_over_sasl_ssl_scram_scores_every_input(scram_run: Run) -> None:
    ids = id_counts(scram_run.scores)
    assert len(ids) == scram_run.n and set(ids.values()) == {1}
    assert not scram_run.dead
    alerted = {r.json()["score_record"]["transaction_id"] for r in scram_run.alerts}
    assert alerted == {f"tx-{i:06d}" for i in range(0, scram_run.n, 7)}
    assert scram_run.counters.scored == scram_run.n


def test_the_run_authenticated_with_scram_over_tls(scram_run: Run) -> None:
    # aiokafka logs the principal (never the password) once per authenticated connection
    assert f"Authenticated as {SCRAM_USER} via SCRAM-SHA-512" in scram_run.text_log


def test_the_network_guard_refuses_any_other_address() -> None:
    """The guard of the closed-network test is not vacuous."""
    import socket
    import urllib.request

    guard = NetworkGuard(["127.0.0.1:1"])
    with guard.active():
        with pytest.raises(PermissionError), socket.create_connection(("127.0.0.1", 2), 1):
            pass
        with pytest.raises(OSError):  # urllib wraps the refusal of the DNS lookup
            urllib.request.urlopen("https://huggingface.co/api/models", timeout=1)
    assert guard.violations == ["connect to 127.0.0.1:2", "resolve huggingface.co"]


def test_closed_network_only_the_broker_was_contacted(scram_run: Run, secure: Secure) -> None:
    assert scram_run.guard.violations == []
    allowed = secure.security.address(SASL_SSL_LISTENER)
    assert {f"{h}:{p}" for h, p in scram_run.guard.connections} == {allowed}


# ------------------------------------------------------------------------------ leaks


def test_logs_hold_no_secret_and_no_personal_data(scram_run: Run, secure: Secure) -> None:
    json_lines = scram_run.json_log.splitlines()
    assert len(json_lines) > 50  # aiokafka's DEBUG output really was captured
    for line in json_lines:
        doc = orjson.loads(line)  # every line is one JSON object
        assert {"ts", "level", "logger", "message"} <= set(doc)
    ids = scram_run.ids
    for log in (scram_run.json_log, scram_run.text_log):
        assert secure.scram_password not in log
        for value in [*ids.accounts, *ids.cards, *ids.ibans, *ids.names, *ids.narratives]:
            assert value not in log, value
        # not even the parts of a narrative that are not identifiers
        assert "Rent Flat" not in log and "Testperson" not in log


def test_alert_topic_masks_account_and_card(scram_run: Run) -> None:
    assert scram_run.alerts
    ids = scram_run.ids
    raw = b"".join(r.value or b"" for r in scram_run.alerts).decode()
    for value in [*ids.accounts, *ids.cards, *ids.ibans]:
        assert value not in raw, value
    for read in scram_run.alerts:
        alert = read.json()
        tx = alert["transaction"]
        assert tx["account"].endswith(alert["score_record"]["account_id"][-4:])
        assert set(tx["account"][:-4]) == {"*"} and set(tx["card"][:-4]) == {"*"}
        assert tx["card"][-4:].isdigit() and len(tx["card"]) == 16
        assert set(alert["score_record"]["account_id"][:-4]) == {"*"}
        # the narrative stays readable for the analyst, with its card number masked
        assert "gift card" in tx["narrative"] and "************" in tx["narrative"]


def test_score_topic_carries_the_account_id_but_no_card_name_or_narrative(
    scram_run: Run,
) -> None:
    ids = scram_run.ids
    raw = b"".join(r.value or b"" for r in scram_run.scores).decode()
    for value in [*ids.cards, *ids.ibans, *ids.names, *ids.narratives]:
        assert value not in raw, value
    assert {r.json()["account_id"] for r in scram_run.scores} == set(ids.accounts)


# ------------------------------------------------------------------------------ other mechanisms


async def test_the_pipeline_runs_over_mutual_tls(secure: Secure, topic_prefix: str) -> None:
    settings = prefixed_settings(secure.mtls(), topic_prefix, partitions=2)
    records, _ = personal_records(15)
    counters = await run_pipeline(settings, records)
    scores = await read_topic(settings.kafka, settings.topics.scores)
    assert len(id_counts(scores)) == 15 and counters.scored == 15


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "PLAIN"])
async def test_producer_and_reader_work_over_each_sasl_mechanism(
    secure: Secure, topic_prefix: str, mechanism: str
) -> None:
    """What `generate`, `replay`, `alerts` and the load tool use: the preflight, the producer,
    an assigned (group-less) consumer and the admin client."""
    kafka = secure.plain() if mechanism == "PLAIN" else secure.scram(mechanism)
    settings = prefixed_settings(kafka, topic_prefix, partitions=2)
    assert await check_connection(kafka) == secure.security.address(SASL_SSL_LISTENER)
    await prepare_topics(settings)
    records, _ = personal_records(5)
    assert await produce_records(kafka, settings.topics.input, records) == 5
    assert len(await read_topic(kafka, settings.topics.input)) == 5


# ------------------------------------------------------------------------------ failing fast


async def refused(kafka: KafkaSettings) -> tuple[str, float]:
    kafka.check()
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        await check_connection(kafka)
    return str(info.value), time.monotonic() - started


@pytest.mark.parametrize(
    ("case", "names"),
    [
        ("wrong SCRAM password", ["kafka.sasl_password", "FRAUDSTREAM_KAFKA_SASL_PASSWORD"]),
        ("wrong PLAIN password", ["kafka.sasl_password", "refused the credentials"]),
        ("unknown user", ["kafka.sasl_password", "'nobody'"]),
        ("broker certificate from another CA", ["kafka.ssl_cafile", "not trusted"]),
        ("client certificate from another CA", ["kafka.ssl_certfile", "mutual TLS"]),
        ("no client certificate", ["kafka.ssl_certfile"]),
        ("TLS client on the plaintext listener", ["kafka.security_protocol", "TLS"]),
        ("plaintext client on the SASL_SSL listener", ["kafka.security_protocol"]),
        ("plaintext client on the mTLS listener", ["kafka.security_protocol"]),
    ],
)
async def test_bad_security_settings_fail_fast_naming_the_setting(
    secure: Secure, case: str, names: list[str]
) -> None:
    wrong = f"wrong-{uuid.uuid4().hex}"
    kafka = {
        "wrong SCRAM password": lambda: secure.scram(sasl_password=Secret(wrong)),
        "wrong PLAIN password": lambda: secure.plain(sasl_password=Secret(wrong)),
        "unknown user": lambda: secure.scram(sasl_username="nobody", sasl_password=Secret(wrong)),
        "broker certificate from another CA": lambda: secure.scram(
            ssl_cafile=secure.rogue_ca.cert_path
        ),
        "client certificate from another CA": lambda: secure.mtls(
            ssl_certfile=secure.rogue_client.cert_path, ssl_keyfile=secure.rogue_client.key_path
        ),
        "no client certificate": lambda: secure.mtls(ssl_certfile=None, ssl_keyfile=None),
        "TLS client on the plaintext listener": lambda: secure.scram(
            bootstrap=secure.info.bootstrap
        ),
        "plaintext client on the SASL_SSL listener": lambda: KafkaSettings(
            bootstrap=secure.security.address(SASL_SSL_LISTENER)
        ),
        "plaintext client on the mTLS listener": lambda: KafkaSettings(
            bootstrap=secure.security.address(MTLS_LISTENER)
        ),
    }[case]()
    message, seconds = await refused(kafka)
    assert seconds < FAIL_FAST_S, f"{case} took {seconds:.1f} s"
    for name in names:
        assert name in message, message
    for secret in (wrong, secure.scram_password, secure.plain_password):
        assert secret not in message


async def test_the_processor_refuses_to_start_with_wrong_credentials(
    secure: Secure, topic_prefix: str
) -> None:
    settings = prefixed_settings(
        secure.scram(sasl_password=Secret("not-the-password")), topic_prefix, partitions=2
    )
    processor = build_processor(settings, scoring=FakeScoring(), spec=FeatureSpec.native())
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"kafka\.sasl_password"):
        await asyncio.wait_for(processor.run(), 30)
    assert time.monotonic() - started < FAIL_FAST_S


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """`fraudstream run` configures logging for the process: put it back afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, {n: logging.getLogger(n).level for n in THIRD_PARTY}
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("command", [["alerts"], ["run", "--exit-when-idle", "1"]])
@pytest.mark.usefixtures("keep_logging")
def test_commands_fail_with_one_line_naming_the_setting(secure: Secure, command: list[str]) -> None:
    from fraudstream.cli import main

    env = {
        "FRAUDSTREAM_KAFKA_BOOTSTRAP": secure.security.address(SASL_SSL_LISTENER),
        "FRAUDSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "FRAUDSTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "FRAUDSTREAM_KAFKA_SASL_USERNAME": SCRAM_USER,
        "FRAUDSTREAM_KAFKA_SASL_PASSWORD": "definitely-wrong-pw",
        "FRAUDSTREAM_KAFKA_SSL_CAFILE": str(secure.ca.cert_path),
        "FRAUDSTREAM_GROUP_ID": f"cli-{uuid.uuid4().hex[:6]}",
    }
    started = time.monotonic()
    result = CliRunner().invoke(main, command, env=env)
    assert result.exit_code == 1, result.output
    assert "kafka.sasl_password" in result.output
    assert "definitely-wrong-pw" not in result.output
    assert "Traceback" not in result.output
    assert time.monotonic() - started < 60
