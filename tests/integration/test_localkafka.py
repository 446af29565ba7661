"""The local broker against real Apache Kafka: it answers, topics, round trips, transactions,
and the lifecycle through the API and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from click.testing import CliRunner

from fraudstream.localkafka import (
    BrokerInfo,
    LocalBroker,
    TopicSpec,
    delete_topics,
    ensure_topics,
    free_port,
)
from fraudstream.localkafka.cli import kafka

pytestmark = pytest.mark.integration

BIG = 10 * 1024 * 1024


@asynccontextmanager
async def admin_for(broker: BrokerInfo) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


@asynccontextmanager
async def producer_for(broker: BrokerInfo, **kwargs: Any) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, **kwargs)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def consume(
    broker: BrokerInfo, topic: str, count: int, **kwargs: Any
) -> list[tuple[bytes | None, bytes]]:
    """Read `count` records from the start of `topic`, then one more poll to catch extras."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        group_id=None,  # no committed offsets: every call reads from the start
        auto_offset_reset="earliest",
        fetch_max_bytes=2 * BIG,
        max_partition_fetch_bytes=2 * BIG,
        **kwargs,
    )
    await consumer.start()
    records: list[tuple[bytes | None, bytes]] = []
    try:
        for _ in range(60):
            batches = await consumer.getmany(timeout_ms=500)
            records += [(r.key, r.value) for batch in batches.values() for r in batch]
            if len(records) >= count:
                break
        records += [
            (r.key, r.value)
            for batch in (await consumer.getmany(timeout_ms=300)).values()
            for r in batch
        ]
    finally:
        await consumer.stop()
    return records


async def test_broker_answers(kafka_broker: BrokerInfo) -> None:
    async with admin_for(kafka_broker) as admin:
        cluster = await admin.describe_cluster()
    assert [(b["host"], b["port"]) for b in cluster["brokers"]] == [
        ("127.0.0.1", kafka_broker.port)
    ]
    assert kafka_broker.bootstrap == f"127.0.0.1:{kafka_broker.port}"


def test_up_is_idempotent(kafka_broker: BrokerInfo) -> None:
    broker = LocalBroker(kafka_broker.home)
    assert broker.status() == kafka_broker
    assert broker.up() == kafka_broker  # the running one, not a second JVM


async def test_ensure_topics_creates_the_requested_partitions(
    kafka_broker: BrokerInfo, topic_prefix: str
) -> None:
    specs = {
        f"{topic_prefix}-one": TopicSpec(partitions=1),
        f"{topic_prefix}-five": TopicSpec(partitions=5, config={"retention.ms": "3600000"}),
    }
    await ensure_topics(kafka_broker.bootstrap, specs)
    await ensure_topics(kafka_broker.bootstrap, specs)  # existing topics are fine
    async with admin_for(kafka_broker) as admin:
        described = {t["topic"]: t for t in await admin.describe_topics(list(specs))}
        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, f"{topic_prefix}-five")]
        )
    assert {name: len(t["partitions"]) for name, t in described.items()} == {
        f"{topic_prefix}-one": 1,
        f"{topic_prefix}-five": 5,
    }
    entries = {entry[0]: entry[1] for entry in configs[0].resources[0][4]}
    assert entries["retention.ms"] == "3600000"

    await delete_topics(kafka_broker.bootstrap, list(specs))
    async with admin_for(kafka_broker) as admin:
        assert not set(specs) & set(await admin.list_topics())


async def test_produce_consume_round_trip_with_a_10mb_record(
    kafka_broker: BrokerInfo, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}-rt"
    await ensure_topics(kafka_broker.bootstrap, {topic: TopicSpec(partitions=3)})
    big = bytes(range(256)) * (BIG // 256)
    sent = [(f"acct-{i}".encode(), f"tx-{i}".encode()) for i in range(20)] + [(b"acct-big", big)]
    async with producer_for(kafka_broker, max_request_size=2 * BIG, acks="all") as producer:
        for key, value in sent:
            await producer.send_and_wait(topic, value, key=key)
    received = await consume(kafka_broker, topic, len(sent))
    assert sorted(received) == sorted(sent)


async def test_transactions_commit_and_abort(kafka_broker: BrokerInfo, topic_prefix: str) -> None:
    topic = f"{topic_prefix}-tx"
    await ensure_topics(kafka_broker.bootstrap, {topic: TopicSpec(partitions=1)})
    async with producer_for(kafka_broker, transactional_id=f"{topic_prefix}-txid") as producer:
        async with producer.transaction():
            await producer.send(topic, b"committed-1", key=b"a")
            await producer.send(topic, b"committed-2", key=b"a")
        await producer.begin_transaction()
        await producer.send(topic, b"aborted", key=b"a")
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send(topic, b"committed-3", key=b"a")

    committed = await consume(kafka_broker, topic, 3, isolation_level="read_committed")
    assert [value for _, value in committed] == [b"committed-1", b"committed-2", b"committed-3"]
    everything = await consume(kafka_broker, f"{topic}", 4, isolation_level="read_uncommitted")
    assert b"aborted" in [value for _, value in everything]


@pytest.mark.slow
def test_lifecycle_of_a_second_broker(tmp_path: Path, kafka_broker: BrokerInfo) -> None:
    """up/status/down through the API and the CLI, on a broker of its own (one more JVM start
    is slow on a small machine, hence one test for both)."""
    broker = LocalBroker(tmp_path / "kafka", port=free_port(), heap="256m")
    home = ["--home", str(broker.home)]
    runner = CliRunner()
    assert broker.status() is None
    assert broker.down() is False
    info = broker.up()
    try:
        assert info.port != kafka_broker.port
        assert broker.status() == info
        assert json.loads(broker.record_path.read_text())["pid"] == info.pid
        assert (broker.logs_dir / "server.log").exists()
        result = runner.invoke(kafka, ["status", *home, "--json"])
        assert result.exit_code == 0
        assert json.loads(result.output) == {"running": True, **info.to_json()}
    finally:
        result = runner.invoke(kafka, ["down", *home])
    assert result.exit_code == 0
    assert "Kafka stopped" in result.output
    assert broker.status() is None
    assert not broker.record_path.exists()
    assert broker.down() is False

    result = runner.invoke(kafka, ["down", *home])
    assert result.exit_code == 0
    assert "was not running" in result.output
    result = runner.invoke(kafka, ["status", *home])
    assert result.exit_code == 1
    assert "not running" in result.output
    assert LocalBroker(kafka_broker.home).status() == kafka_broker  # untouched


def test_cli_up_finds_the_running_broker(kafka_broker: BrokerInfo) -> None:
    result = CliRunner().invoke(kafka, ["up", "--home", str(kafka_broker.home)])
    assert result.exit_code == 0, result.output
    assert f"Kafka {kafka_broker.version} is up at {kafka_broker.bootstrap}" in result.output
    assert f"pid {kafka_broker.pid}" in result.output


def test_cli_status_of_the_session_broker_as_a_command(kafka_broker: BrokerInfo) -> None:
    """Through the installed `fraudstream` entry point, as a user would type it."""
    command = Path(sys.executable).with_name("fraudstream")
    done = subprocess.run(
        [str(command), "kafka", "status", "--home", str(kafka_broker.home)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"is up at {kafka_broker.bootstrap}" in done.stdout


def test_cli_errors_are_one_line_messages(tmp_path: Path, kafka_broker: BrokerInfo) -> None:
    result = CliRunner().invoke(
        kafka, ["up", "--home", str(tmp_path), "--port", str(kafka_broker.port)]
    )
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: port {kafka_broker.port} on 127.0.0.1 is already in use; "
        "choose another with --port"
    )
