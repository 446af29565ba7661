"""Records written by Kafka's own Java producer, with every codec Kafka supports, are all scored.

A bank's producers often compress (snappy, lz4 and zstd are common defaults); the consumer must
decompress each, not stop its fetch loop on the first compressed batch. The producer here is
Kafka's `ConsoleProducer` from the broker's jars: a real third-party client, not ours.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import orjson
import pytest

from fraudstream.features import FeatureSpec
from fraudstream.localkafka import BrokerInfo
from fraudstream.localkafka.jars import classpath, find_java, resolve_jars
from fraudstream.stream.app import build_processor
from fraudstream.stream.audit import id_counts, read_topic
from fraudstream.stream.topics import prepare_topics
from fraudstream.testing import FakeScoring, prefixed_settings, transaction

pytestmark = pytest.mark.integration

N = 200


def java_produce(bootstrap: str, topic: str, codec: str, lines: list[str], cwd: Path) -> None:
    done = subprocess.run(
        [
            str(find_java().path),
            "-Xmx256m",
            "-XX:TieredStopAtLevel=1",
            "-cp",
            classpath(resolve_jars()),
            "org.apache.kafka.tools.ConsoleProducer",
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
            "--compression-codec",
            codec,
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=|",
            # Batches of many records: compression applies per batch.
            "--batch-size",
            "50",
        ],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
async def test_every_record_of_a_compressed_topic_is_scored(
    kafka_broker: BrokerInfo, topic_prefix: str, codec: str, tmp_path: Path
) -> None:
    settings = prefixed_settings(kafka_broker.bootstrap, topic_prefix)
    lines = []
    for i in range(N):
        tx = transaction(
            transaction_id=f"{codec}-{i:04d}",
            account_id=f"acc-{i % 17:03d}",
            timestamp=f"2026-01-15T10:{i // 60:02d}:{i % 60:02d}Z",
        )
        lines.append(f"{tx['account_id']}|{orjson.dumps(tx).decode()}")
    # The topics first (three partitions), then the Java producer, then the processor: it
    # exits by itself once idle, which a fetch loop that died would never let it do.
    await prepare_topics(settings, shadow=False)
    await asyncio.to_thread(
        java_produce, kafka_broker.bootstrap, settings.topics.input, codec, lines, tmp_path
    )
    processor = build_processor(settings, scoring=FakeScoring(), spec=FeatureSpec.native())
    counters = await asyncio.wait_for(processor.run(exit_when_idle=3.0), 120)

    scores = await read_topic(settings.kafka, settings.topics.scores)
    ids = id_counts(scores)
    assert set(ids) == {f"{codec}-{i:04d}" for i in range(N)}
    assert set(ids.values()) == {1}
    assert await read_topic(settings.kafka, settings.topics.dlq) == []
    assert counters.scored == N
