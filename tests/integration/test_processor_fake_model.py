"""The processor end to end on the real broker, with the fake model (no torch): every input ends
as exactly one score or one dead letter, alerts for the risky ones, nothing lost."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from fraudstream.features import FeatureSpec
from fraudstream.localkafka import BrokerInfo
from fraudstream.stream.app import build_processor
from fraudstream.stream.audit import id_counts, read_topic
from fraudstream.stream.produce import produce_records
from fraudstream.testing import FakeScoring, prefixed_settings, transaction

pytestmark = pytest.mark.integration


def good_records(n: int) -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(n):
        narrative = "URGENT gift card for tax office" if i % 10 == 0 else f"TESCO STORES {i}"
        tx = transaction(
            transaction_id=f"tx-{i:06d}",
            account_id=f"acc-{i % 37:04d}",
            narrative=narrative,
            timestamp=f"2026-01-15T10:{(i // 60) % 60:02d}:{i % 60:02d}Z",
        )
        out.append((tx["account_id"].encode(), orjson.dumps(tx)))
    return out


BAD: list[tuple[bytes | None, bytes]] = [
    (b"acc-1", b"{not json"),
    (b"acc-1", b"\xff\xfe\xfd"),
    (b"acc-1", orjson.dumps(transaction(transaction_id="bad-amount", amount=-5))),
    (b"acc-1", orjson.dumps(transaction(transaction_id="bad-ts", timestamp="yesterday"))),
    (None, orjson.dumps(transaction(transaction_id="no-key"))),
    (b"acc-1", b'{"amount": NaN}'),
    (b"acc-1", orjson.dumps([1, 2, 3])),
]


async def test_every_input_scored_or_dead_lettered(
    kafka_broker: BrokerInfo, topic_prefix: str
) -> None:
    settings = prefixed_settings(kafka_broker.bootstrap, topic_prefix)
    n = 600
    records: list[tuple[bytes | None, bytes]] = list(good_records(n))
    for i, bad in enumerate(BAD):
        records.insert(50 + i * 70, bad)
    scoring = FakeScoring()
    processor = build_processor(settings, scoring=scoring, spec=FeatureSpec.native())
    run = asyncio.create_task(processor.run(exit_when_idle=3.0))
    await asyncio.wait_for(processor.ready.wait(), 60)
    await produce_records(settings.kafka, settings.topics.input, records)
    counters = await asyncio.wait_for(run, 120)

    scores = await read_topic(settings.kafka, settings.topics.scores)
    alerts = await read_topic(settings.kafka, settings.topics.alerts)
    dead = await read_topic(settings.kafka, settings.topics.dlq)
    ids = id_counts(scores)
    # Fail closed: the three bad records that name their payment (bad amount, bad timestamp,
    # no key) get a review score as well as their dead letter.
    unscorable = {"bad-amount", "bad-ts", "no-key"}
    assert set(ids) == {f"tx-{i:06d}" for i in range(n)} | unscorable
    assert set(ids.values()) == {1}
    for r in scores:
        doc = r.json()
        if doc["transaction_id"] in unscorable:
            assert doc["band"] == "review" and doc["stage"] == "unscorable"
            assert doc["flags"][0] == "unscorable_input" and doc["reasons"][0]["text"]
    assert len(dead) == len(BAD)
    kinds = sorted(r.json()["error"]["kind"] for r in dead)
    assert kinds == sorted(
        [
            "not_json",
            "not_utf8",
            "bad_amount",
            "bad_timestamp",
            "bad_key",
            "bad_value",
            "not_object",
        ]
    )
    for r in dead:
        doc = r.json()
        assert doc["source"]["topic"] == settings.topics.input and doc["error"]["message"]
    assert {r.json()["score_record"]["transaction_id"] for r in alerts} == {
        f"tx-{i:06d}" for i in range(0, n, 10)
    }
    one = orjson.loads(scores[0].value or b"{}")
    assert set(one["timings_ms"]) >= {"decode", "state", "queue", "inference", "produce"}
    assert one["model_version"] == "fake-0001"
    assert counters.scored == n and counters.dead_letters == len(BAD)
    assert counters.unscorable == len(unscorable)
    # The committed offsets cover every input: a restart would read nothing again.
    assert processor.tracker.in_flight() == 0
