"""Bounded state on the real broker: entities idle past the horizon are tombstoned in the
changelog, so a new owner restores only the live ones; over the entity limit, the least
recently seen go the same way."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from fraudstream.config import Settings
from fraudstream.features import FeatureSpec
from fraudstream.localkafka import BrokerInfo
from fraudstream.stream.app import build_processor
from fraudstream.stream.clients import make_producer
from fraudstream.stream.counters import Counters
from fraudstream.stream.produce import produce_records
from fraudstream.stream.state_store import StateStore
from fraudstream.testing import FakeScoring, prefixed_settings, transaction

pytestmark = pytest.mark.integration


def tx(i: int, account: str, hour: int) -> tuple[bytes, bytes]:
    doc = transaction(
        transaction_id=f"tx-{i:05d}",
        account_id=account,
        card_id=f"card-{account}",
        timestamp=f"2026-01-15T{hour:02d}:{i % 60:02d}:00Z",
    )
    return account.encode(), orjson.dumps(doc)


async def restored_accounts(
    settings: Settings, spec: FeatureSpec, partitions: int, packed: list[int] | None = None
) -> set[str]:
    """The accounts a new owner restores; `packed` gets how many of them it keeps packed."""
    producer = make_producer(settings.kafka)
    await producer.start()
    store = StateStore(settings, spec, producer, partitions=partitions)
    await store.start()
    try:
        keys: set[str] = set()
        for p in range(partitions):
            state = await store.restore(p)
            keys |= {k for role, k in state.entity_keys() if role == "account"}
            if packed is not None:
                packed.append(state.packed_count())
        return keys
    finally:
        await store.stop()
        await producer.stop()


async def run_in_two_waves(
    settings: Settings,
    spec: FeatureSpec,
    first: list[tuple[bytes, bytes]],
    then: list[tuple[bytes, bytes]],
) -> Counters:
    """One processor: the first records, a second for maintenance to run, then the rest."""
    processor = build_processor(settings, scoring=FakeScoring(), spec=spec)
    run = asyncio.create_task(processor.run(exit_when_idle=2.0))
    await asyncio.wait_for(processor.ready.wait(), 60)
    await produce_records(settings.kafka, settings.topics.input, first)
    await asyncio.sleep(1.0)
    await produce_records(settings.kafka, settings.topics.input, then)
    return await asyncio.wait_for(run, 120)


@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
async def test_a_new_owner_restores_only_the_live_entities(
    kafka_broker: BrokerInfo, topic_prefix: str, backend: str, tmp_path: Path
) -> None:
    """With `state_backend: rocksdb` and 4 entities in memory, nearly all of them live packed
    on disk, and the worker's database folder is gone when it stops."""
    spec = FeatureSpec.native()
    settings = prefixed_settings(
        kafka_broker.bootstrap,
        topic_prefix,
        partitions=1,
        state_idle_expiry_s=3600.0,
        state_maintenance_interval_s=0.2,
        state_backend=backend,
        state_hot_entities=4 if backend == "rocksdb" else 100_000,
        state_dir=tmp_path / "state",
    )
    old = [tx(i, f"old-{i:03d}", 0) for i in range(40)]  # 00:xx, then idle
    new = [tx(100 + i, f"new-{i:03d}", 5) for i in range(40)]  # 05:xx: five hours later
    counters = await run_in_two_waves(settings, spec, old, new)
    assert counters.scored == 80
    assert counters.state_expired >= 40
    packed: list[int] = []
    assert await restored_accounts(settings, spec, 1, packed) == {k.decode() for k, _ in new}
    if backend == "rocksdb":
        # 40 restored, at most 4 as objects: the rest on disk (all 40 when the first ones
        # loaded were idle entities that a later tombstone in the changelog removed)
        assert len(packed) == 1 and 36 <= packed[0] <= 40
        assert list((tmp_path / "state").iterdir()) == []  # removed at each stop


async def test_over_the_entity_limit_the_least_recently_seen_are_forgotten(
    kafka_broker: BrokerInfo, topic_prefix: str
) -> None:
    spec = FeatureSpec.native()
    settings = prefixed_settings(
        kafka_broker.bootstrap,
        topic_prefix,
        partitions=1,
        state_max_entities=50,
        state_idle_expiry_s=0.0,
        state_maintenance_interval_s=0.2,
    )
    first = [tx(i, f"first-{i:03d}", 1) for i in range(60)]
    last = [tx(100 + i, f"last-{i:03d}", 2) for i in range(40)]
    counters = await run_in_two_waves(settings, spec, first, last)
    restored = await restored_accounts(settings, spec, 1)
    assert counters.state_evicted > 0
    assert len(restored) <= 50
    assert {k.decode() for k, _ in last} <= restored  # the most recent are kept
