"""An output the broker refuses as too large (here: an alerts topic whose max.message.bytes is
below an alert's size) is dead-lettered as a stub, and the stream goes on."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from fraudstream.features import FeatureSpec
from fraudstream.localkafka import BrokerInfo
from fraudstream.stream.app import build_processor
from fraudstream.stream.audit import id_counts, read_topic
from fraudstream.stream.clients import admin_kwargs
from fraudstream.stream.produce import produce_records
from fraudstream.testing import FakeScoring, prefixed_settings, transaction

pytestmark = pytest.mark.integration


async def test_an_alert_too_large_for_its_topic_becomes_a_dead_letter_stub(
    kafka_broker: BrokerInfo, topic_prefix: str
) -> None:
    settings = prefixed_settings(kafka_broker.bootstrap, topic_prefix)
    admin = AIOKafkaAdminClient(**admin_kwargs(settings.kafka))
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(settings.topics.alerts, 3, 1, topic_configs={"max.message.bytes": "400"})]
        )
    finally:
        await admin.close()
    records = []
    for i in range(60):
        narrative = "URGENT gift card for tax office" if i % 10 == 0 else f"TESCO STORES {i}"
        tx = transaction(
            transaction_id=f"tx-{i:04d}", account_id=f"acc-{i % 5}", narrative=narrative
        )
        records.append((tx["account_id"].encode(), orjson.dumps(tx)))
    processor = build_processor(settings, scoring=FakeScoring(), spec=FeatureSpec.native())
    run = asyncio.create_task(processor.run(exit_when_idle=3.0))
    await asyncio.wait_for(processor.ready.wait(), 60)
    await produce_records(settings.kafka, settings.topics.input, records)
    counters = await asyncio.wait_for(run, 120)  # it does not stop on the refusal

    assert set(id_counts(await read_topic(settings.kafka, settings.topics.scores))) == {
        f"tx-{i:04d}" for i in range(60)
    }
    assert await read_topic(settings.kafka, settings.topics.alerts) == []
    stubs = [r.json() for r in await read_topic(settings.kafka, settings.topics.dlq)]
    assert len(stubs) == 6 == counters.outputs_too_large
    assert {s["error"]["kind"] for s in stubs} == {"output_too_large"}
    assert all(settings.topics.alerts in s["error"]["message"] for s in stubs)
    assert all(orjson.loads(s["payload"])["score_record"]["transaction_id"] for s in stubs)
