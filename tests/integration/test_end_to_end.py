"""The whole pipeline on the real broker with the real default model: synthetic traffic in, one
score per transaction and alerts for most injected frauds out, read back by an independent reader
and by Kafka's own console consumer; two processors in one group share the partitions."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from fraudstream.config import Settings
from fraudstream.features import FeatureSpec
from fraudstream.localkafka import BrokerInfo
from fraudstream.localkafka.jars import classpath, find_java, resolve_jars
from fraudstream.stream.app import build_processor
from fraudstream.stream.audit import id_counts, read_topic
from fraudstream.stream.produce import produce_records
from fraudstream.synth import SynthConfig, generate
from fraudstream.testing import FakeScoring, prefixed_settings, transaction

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def generated_run(
    kafka_broker: BrokerInfo, default_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """10,000 synthetic transactions through `build_processor` with the default model."""
    prefix = f"t-e2e-{tmp_path_factory.mktemp('e2e').name[-6:]}"
    settings = prefixed_settings(
        kafka_broker.bootstrap, prefix, model_path=str(default_model), torch_threads=1
    )
    records = list(generate(10_000, SynthConfig(seed=11)))
    frauds = {r["transaction_id"] for r in records if r["metadata"]["is_fraud"]}

    async def go() -> dict[str, Any]:
        processor = build_processor(settings)
        run = asyncio.create_task(processor.run(exit_when_idle=5.0))
        await asyncio.wait_for(processor.ready.wait(), 120)
        await produce_records(
            settings.kafka,
            settings.topics.input,
            [(r["account_id"].encode(), orjson.dumps(r)) for r in records],
        )
        counters = await asyncio.wait_for(run, 600)
        return {
            "counters": counters,
            "scores": await read_topic(settings.kafka, settings.topics.scores),
            "alerts": await read_topic(settings.kafka, settings.topics.alerts),
            "dead": await read_topic(settings.kafka, settings.topics.dlq),
        }

    out = asyncio.run(go())
    out.update(settings=settings, records=records, frauds=frauds)
    return out


def test_every_generated_transaction_is_scored_exactly_once(generated_run: dict[str, Any]) -> None:
    ids = id_counts(generated_run["scores"])
    sent = {r["transaction_id"] for r in generated_run["records"]}
    assert set(ids) == sent
    assert set(ids.values()) == {1}
    assert generated_run["dead"] == []
    one = generated_run["scores"][0].json()
    assert 0.0 <= one["score"] <= 1.0
    assert one["model_version"] and one["band"] in {"allow", "review", "block"}


def test_alerts_catch_most_injected_frauds(generated_run: dict[str, Any]) -> None:
    frauds: set[str] = generated_run["frauds"]
    alerted = {r.json()["score_record"]["transaction_id"] for r in generated_run["alerts"]}
    recall = len(alerted & frauds) / len(frauds)
    precision = len(alerted & frauds) / max(len(alerted), 1)
    print(
        f"\n10,000 generated: {len(frauds)} injected frauds, {len(alerted)} alerts, "
        f"recall {recall:.3f}, precision {precision:.3f}"
    )
    assert len(frauds) > 50
    assert recall >= 0.6
    # Alerts are the risky few, not a flood: at most a few times the number of frauds.
    assert len(alerted) <= 4 * len(frauds)
    for alert in generated_run["alerts"][:50]:
        doc = alert.json()
        assert doc["score_record"]["reasons"], "every alert says why"
        account = doc["transaction"]["account"]
        assert "*" in account  # masked but for the last four characters


def test_a_plain_kafka_client_reads_scores_and_alerts_as_json(
    kafka_broker: BrokerInfo, generated_run: dict[str, Any], tmp_path: Path
) -> None:
    """Kafka's own console consumer (Java, from the broker's jars) reads both topics."""
    java = find_java().path
    libs = resolve_jars()
    settings: Settings = generated_run["settings"]
    for topic, expected in (
        (settings.topics.scores, 50),
        (settings.topics.alerts, min(20, len(generated_run["alerts"]))),
    ):
        done = subprocess.run(
            [
                str(java),
                "-Xmx256m",
                "-XX:TieredStopAtLevel=1",
                "-cp",
                classpath(libs),
                "org.apache.kafka.tools.consumer.ConsoleConsumer",
                "--bootstrap-server",
                kafka_broker.bootstrap,
                "--topic",
                topic,
                "--from-beginning",
                "--max-messages",
                str(expected),
                "--timeout-ms",
                "60000",
                "--isolation-level",
                "read_committed",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=tmp_path,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        assert len(lines) == expected, done.stderr[-2000:]
        docs = [orjson.loads(line) for line in lines]
        assert all("transaction_id" in d or "score_record" in d for d in docs)


async def test_two_processors_in_one_group_split_the_partitions(
    kafka_broker: BrokerInfo, topic_prefix: str
) -> None:
    settings = prefixed_settings(kafka_broker.bootstrap, topic_prefix)
    n = 3_000
    records = []
    for i in range(n):
        tx = transaction(
            transaction_id=f"tx-{i:06d}",
            account_id=f"acc-{i % 97:04d}",
            timestamp=f"2026-01-15T10:{(i // 60) % 60:02d}:{i % 60:02d}Z",
        )
        records.append((tx["account_id"].encode(), orjson.dumps(tx)))
    first = build_processor(
        settings, scoring=FakeScoring(), spec=FeatureSpec.native(), worker_id="w1"
    )
    second = build_processor(
        settings, scoring=FakeScoring(), spec=FeatureSpec.native(), worker_id="w2"
    )
    runs = [asyncio.create_task(p.run(exit_when_idle=4.0)) for p in (first, second)]
    await asyncio.wait_for(asyncio.gather(first.ready.wait(), second.ready.wait()), 120)

    # Send only once the group has settled (each member holds a share, together all of them),
    # so that no rebalance moves a partition in mid-stream.
    def settled() -> bool:
        a, b = first.assigned_partitions, second.assigned_partitions
        return bool(a and b and not a & b and len(a | b) == settings.topics.partitions)

    for _ in range(600):
        if settled():
            break
        await asyncio.sleep(0.1)
    assert settled(), (first.assigned_partitions, second.assigned_partitions)
    await produce_records(settings.kafka, settings.topics.input, records)
    counters = await asyncio.wait_for(asyncio.gather(*runs), 180)

    ids = id_counts(await read_topic(settings.kafka, settings.topics.scores))
    assert set(ids) == {f"tx-{i:06d}" for i in range(n)}
    assert set(ids.values()) == {1}
    assert all(c.scored > 0 for c in counters)
    assert sum(c.scored for c in counters) == n
