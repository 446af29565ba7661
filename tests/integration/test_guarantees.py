"""Delivery guarantees on the real broker, processor in-process with the fake model: exactly-once
outputs, model failures isolated by splitting the batch, alert dedupe across a restart, and the
per-account state after a kill -9 equal to an uninterrupted run. Counted with an independent
read_committed reader (stream/audit.py)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition

from fraudstream.config import Settings
from fraudstream.features import FeatureSpec
from fraudstream.localkafka import BrokerInfo
from fraudstream.stream.app import build_processor
from fraudstream.stream.audit import id_counts, read_topic
from fraudstream.stream.clients import make_consumer
from fraudstream.stream.produce import produce_records
from fraudstream.stream.state_store import ALERTED_ROLE, parse_state_key
from fraudstream.stream.topics import changelog_topic
from fraudstream.testing import FakeScoring, transaction
from loadtest.chaos import Env, Worker, good_record
from loadtest.chaos_worker import chaos_settings

pytestmark = pytest.mark.integration


def records(n: int, start: int = 0) -> list[tuple[bytes | None, bytes]]:
    return [good_record(i)[:2] for i in range(start, start + n)]


async def run_once(
    settings: Settings, scoring: FakeScoring, inputs: list[tuple[bytes | None, bytes]]
) -> Any:
    processor = build_processor(settings, scoring=scoring, spec=FeatureSpec.native())
    run = asyncio.create_task(processor.run(exit_when_idle=2.0))
    await asyncio.wait_for(processor.ready.wait(), 60)
    await produce_records(settings.kafka, settings.topics.input, inputs)
    return await asyncio.wait_for(run, 120)


async def committed_offsets(settings: Settings) -> dict[int, int]:
    consumer = make_consumer(settings.kafka, group_id=settings.group_id)
    await consumer.start()
    try:
        out = {}
        for p in range(settings.topics.partitions):
            out[p] = await consumer.committed(TopicPartition(settings.topics.input, p)) or 0
        return out
    finally:
        await consumer.stop()


async def test_exactly_once_each_score_once_and_offsets_in_the_transactions(
    kafka_broker: BrokerInfo, topic_prefix: str
) -> None:
    settings = chaos_settings(
        kafka_broker.bootstrap, topic_prefix, guarantee="exactly_once", commit_interval_ms=100
    )
    bad: list[tuple[bytes | None, bytes]] = [(b"acc-1", b"{oops"), (None, b"{}")]
    inputs = records(900) + bad
    counters = await run_once(settings, FakeScoring(), inputs)

    scores = await read_topic(settings.kafka, settings.topics.scores)
    counts = id_counts(scores)
    assert len(counts) == 900 and set(counts.values()) == {1}
    dead = await read_topic(settings.kafka, settings.topics.dlq)
    assert len(dead) == 2
    alerts = await read_topic(settings.kafka, settings.topics.alerts)
    assert len(alerts) == 90 == counters.alerts
    # The offsets went into the transactions: the group's position is the end of every partition.
    ends = {r.partition: 0 for r in scores}
    inputs_read = await read_topic(settings.kafka, settings.topics.input)
    for r in inputs_read:
        ends[r.partition] = max(ends.get(r.partition, 0), r.offset + 1)
    committed = await committed_offsets(settings)
    assert all(committed[p] >= end for p, end in ends.items())
    # Alert-dedupe markers went into the same transactions, one per alert.
    changelog = await read_topic(settings.kafka, changelog_topic(settings))
    markers = [r for r in changelog if r.key and parse_state_key(r.key)[0] == ALERTED_ROLE]
    assert len(markers) == 90


async def test_a_failing_record_is_isolated_by_splitting_and_falls_back_flagged(
    kafka_broker: BrokerInfo, topic_prefix: str
) -> None:
    settings = chaos_settings(kafka_broker.bootstrap, topic_prefix, commit_interval_ms=100)
    inputs = records(400)
    poison = {f"tx-{i:08d}" for i in (37, 222)}
    for i in (37, 222):
        tx = transaction(
            transaction_id=f"tx-{i:08d}",
            account_id=f"acc-{i % 200:05d}",
            narrative=f"POISON PILL {i}",
        )
        inputs[i] = (tx["account_id"].encode(), orjson.dumps(tx))
    scoring = FakeScoring(fail_on="poison", batch_delay_s=0.01)
    counters = await run_once(settings, scoring, inputs)

    scores = await read_topic(settings.kafka, settings.topics.scores)
    docs = {r.json()["transaction_id"]: r.json() for r in scores}
    assert len(scores) == len(docs) == 400  # nothing lost, nothing twice
    for tid, doc in docs.items():
        if tid in poison:
            assert doc["stage"] == "fallback" and doc["band"] == "review"
            assert {"fallback_after_model_error", "fallback_rules"} <= set(doc["flags"])
        else:
            # every other record of the failing batches was scored by the model after the split
            assert doc["stage"] == "language_model", doc
    assert counters.fallbacks == 2 and counters.retried_batches >= 2
    assert scoring.failed_batches > 2  # the split really retried (halves failed again)


async def test_second_alert_for_a_transaction_id_is_suppressed_across_a_restart(
    kafka_broker: BrokerInfo, topic_prefix: str
) -> None:
    settings = chaos_settings(kafka_broker.bootstrap, topic_prefix, commit_interval_ms=100)
    risky = good_record(0)  # an alerting one (i % 10 == 0)
    await run_once(settings, FakeScoring(), [risky[:2], *records(20, start=1)])
    # The bank sends the same transaction again; the new processor has no admission memory of
    # it (fresh process), but the dedupe memory comes back from the changelog.
    await run_once(settings, FakeScoring(), [risky[:2]])

    scores = [r.json() for r in await read_topic(settings.kafka, settings.topics.scores)]
    again = [s for s in scores if s["transaction_id"] == risky[2]]
    assert len(again) == 2
    assert "alert_suppressed_duplicate" not in again[0]["flags"]
    assert "alert_suppressed_duplicate" in again[1]["flags"]
    alerts = await read_topic(settings.kafka, settings.topics.alerts)
    assert [a.json()["alert_id"] for a in alerts].count(f"alert-{risky[2]}") == 1


async def test_replay_after_kill9_repeats_scores_but_not_alerts_in_at_least_once_mode(
    kafka_broker: BrokerInfo, topic_prefix: str, tmp_path: Path
) -> None:
    """Offsets are never committed before the kill (a 10-minute commit interval), so the restart
    replays every record: scores repeat (at-least-once), alerts do not."""
    env = Env(kafka_broker.bootstrap, prefix=topic_prefix, log_dir=tmp_path)
    settings = env.settings
    n = 300
    first = Worker(env, "--commit-interval-ms", "600000", idle_exit=None)
    await first.wait_assigned()
    await produce_records(settings.kafka, settings.topics.input, records(n))
    changelog = changelog_topic(settings)
    for _ in range(600):  # every alert acknowledged and its marker written
        log = await read_topic(settings.kafka, changelog)
        if sum(1 for r in log if r.key and r.key.startswith(ALERTED_ROLE.encode())) >= n // 10:
            break
        await asyncio.sleep(0.1)
    first.signal(signal.SIGKILL)
    first.reap(10)
    second = Worker(env, idle_exit=3.0)
    assert await second.wait_exit(timeout=120) == 0

    scores = id_counts(await read_topic(settings.kafka, settings.topics.scores))
    assert len(scores) == n and set(scores.values()) == {2}  # replayed: each scored twice
    alerts = id_counts(await read_topic(settings.kafka, settings.topics.alerts), field="alert_id")
    assert len(alerts) == n // 10 and set(alerts.values()) == {1}


async def latest_state(settings: Settings) -> dict[bytes, bytes | None]:
    out: dict[bytes, bytes | None] = {}
    for r in await read_topic(settings.kafka, changelog_topic(settings)):
        if r.key is not None and parse_state_key(r.key)[0] != ALERTED_ROLE:
            out[r.key] = r.value
    return out


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
async def test_state_after_kill9_and_restart_equals_an_uninterrupted_run(
    kafka_broker: BrokerInfo, topic_prefix: str, guarantee: str, tmp_path: Path
) -> None:
    n = 3000
    inputs = records(n)
    reference = chaos_settings(
        kafka_broker.bootstrap, f"{topic_prefix}-ref", guarantee=guarantee, commit_interval_ms=100
    )
    await run_once(reference, FakeScoring(), inputs)

    env = Env(
        kafka_broker.bootstrap,
        guarantee=guarantee,
        prefix=f"{topic_prefix}-crash",
        log_dir=tmp_path,
    )
    settings = env.settings
    first = Worker(env, "--batch-delay-s", "0.2", idle_exit=None)
    await first.wait_assigned()
    await produce_records(settings.kafka, settings.topics.input, inputs)
    for _ in range(600):  # kill once part of the input is committed, mid-stream
        if sum((await committed_offsets(settings)).values()) >= n // 3:
            break
        await asyncio.sleep(0.1)
    first.signal(signal.SIGKILL)
    first.reap(10)
    second = Worker(env, idle_exit=3.0)
    assert await second.wait_exit(timeout=120) == 0

    scores = id_counts(await read_topic(settings.kafka, settings.topics.scores))
    assert len(scores) == n  # nothing missing
    if guarantee == "exactly_once":
        assert set(scores.values()) == {1}
    expected = await latest_state(reference)
    assert expected and await latest_state(settings) == expected
