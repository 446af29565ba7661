"""Per-entity feature state that survives a crash and a rebalance: a compacted changelog topic.

Input partition p's state lives in changelog partition p (same partition count), one record per
entity: key `role \\x1f entity key`, value the entity's state as JSON (never a pickle). On
assignment the processor rebuilds partition p's `FeatureState` by reading changelog partition p
to its end; before each offset commit it writes the entities that changed since the last flush
and waits for their acknowledgement (step 2 of the commit sequence), so committed input offsets
are always covered by the state on the broker.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from fraudstream.config import Settings
from fraudstream.features import FeatureSpec, FeatureState
from fraudstream.features.disk_tier import DiskStore
from fraudstream.features.entity import PackedTier
from fraudstream.stream.clients import make_consumer
from fraudstream.stream.topics import changelog_topic

if TYPE_CHECKING:
    from fraudstream.stream.counters import Counters

log = logging.getLogger(__name__)

SEP = "\x1f"
ALERTED_ROLE = "alerted"
"""Changelog records `alerted \x1f <transaction id>` -> epoch seconds: the alert-dedupe memory
(`fraudstream/dedupe.py`), kept next to the features so it follows the partition."""


def state_key(role: str, key: str) -> bytes:
    return f"{role}{SEP}{key}".encode()


def maintain(
    states: Iterable[FeatureState], settings: Settings, spec: FeatureSpec, counters: Counters
) -> None:
    """Bounded state: entities idle past the horizon (`state_idle_expiry_s`, default the
    features' own horizon) expire, and a partition over `state_max_entities` forgets its least
    recently seen; both become tombstones at the next flush, so a new owner restores only the
    live ones."""
    idle = settings.state_idle_expiry_s
    if idle is None:
        idle = spec.horizon_s()
    for state in list(states):
        if idle > 0 and math.isfinite(state.stream_time):
            counters.state_expired += state.expire(
                state.stream_time, idle, budget=settings.state_expiry_batch
            )
        if settings.state_max_entities > 0:
            counters.state_evicted += state.evict(settings.state_max_entities)


async def maintenance_loop(
    states: Mapping[int, FeatureState], settings: Settings, spec: FeatureSpec, counters: Counters
) -> None:
    """`maintain` every `state_maintenance_interval_s`, on the event loop between fetches (a
    worker's supervised "state" loop)."""
    while True:
        await asyncio.sleep(settings.state_maintenance_interval_s)
        maintain(states.values(), settings, spec, counters)


def parse_state_key(raw: bytes) -> tuple[str, str]:
    role, _, key = raw.decode().partition(SEP)
    return role, key


class StateStore:
    def __init__(
        self,
        settings: Settings,
        spec: FeatureSpec,
        producer: AIOKafkaProducer,
        *,
        partitions: int,
    ) -> None:
        self.settings = settings
        self.spec = spec
        self.producer = producer
        self.topic = changelog_topic(settings)
        self.partitions = partitions
        self._reader: AIOKafkaConsumer | None = None
        self.restored_records = 0
        self.shared: FeatureState | None = None
        self.disk: DiskStore | None = (
            DiskStore(settings.state_dir) if settings.state_backend == "rocksdb" else None
        )
        """`state_backend: rocksdb`: the partitions' packed tiers on local disk."""
        self.alerted: dict[int, list[tuple[str, bytes | None]]] = {}
        """Per partition, the alert-dedupe markers read by the last `restore`, oldest first."""

    async def start(self) -> None:
        self._reader = make_consumer(
            self.settings.kafka,
            group_id=None,
            isolation_level="read_committed",
            client_id=f"{self.settings.kafka.client_id}-state",
        )
        await self._reader.start()

    async def stop(self) -> None:
        if self._reader is not None:
            await self._reader.stop()
            self._reader = None
        if self.disk is not None:
            self.disk.close()
            self.disk = None

    def fresh(self, partition: int | None = None) -> FeatureState:
        """An empty state for `partition` (its packed tier on disk with `state_backend:
        rocksdb`, emptied first: what a previous ownership of the partition left is stale)."""
        disk = self.disk
        packed_tier = None
        if disk is not None and partition is not None:
            for role in self.spec.roles():
                disk.drop(f"{partition}/{role}")

            def packed_tier(role: str) -> PackedTier:
                return disk.tier(f"{partition}/{role}")

        # `shared`: the labels feed's state, whose label-fed tables every partition reads
        return FeatureState(
            self.spec,
            shared=self.shared,
            hot_capacity=self.settings.state_hot_entities,
            packed_tier=packed_tier,
        )

    def release(self, partition: int) -> None:
        """A revoked partition: its packed tier on disk goes (its state is in the changelog)."""
        if self.disk is not None:
            for role in self.spec.roles():
                self.disk.drop(f"{partition}/{role}")

    async def restore(self, partition: int) -> FeatureState:
        """Rebuild one partition's state from its changelog."""
        assert self._reader is not None
        state = self.fresh(partition)
        tp = TopicPartition(self.topic, partition)
        reader = self._reader
        reader.assign([tp])
        await reader.seek_to_beginning(tp)
        end = (await reader.end_offsets([tp]))[tp]
        count = 0
        alerted: list[tuple[str, bytes | None]] = []
        while await reader.position(tp) < end:
            batch = await reader.getmany(tp, timeout_ms=200, max_records=5000)
            for message in batch.get(tp, []):
                if message.key is None:
                    continue
                role, key = parse_state_key(message.key)
                if role == ALERTED_ROLE:
                    alerted.append((key, message.value))
                    continue
                # A tombstone (None) forgets an expired entity that an older record would revive.
                state.load(role, key, message.value)
                count += 1
        state.clear_dirty()
        self.alerted[partition] = alerted
        self.restored_records += count
        if count:
            log.info("restored %d entity states for partition %d", count, partition)
        return state

    async def flush(
        self,
        states: Mapping[int, FeatureState],
        partitions: Iterable[int],
        *,
        producer: AIOKafkaProducer | None = None,
    ) -> None:
        """Write the changed entities of `partitions` and wait for the broker's acknowledgements.
        `producer`: exactly-once mode passes the partition's transactional producer, so the state
        commits or aborts together with the outputs and the offset."""
        producer = producer or self.producer
        deliveries = []
        for p in partitions:
            state = states.get(p)
            if state is None:
                continue
            # Snapshot before the first await: the fetch loop may change entities meanwhile, and
            # those must stay dirty for the next flush.
            changed = [(state_key(r, k), state.dump(r, k)) for r, k in state.dirty()]
            state.clear_dirty()
            for key, value in changed:
                deliveries.append(await producer.send(self.topic, value, key=key, partition=p))
        if deliveries:
            await asyncio.gather(*deliveries)
