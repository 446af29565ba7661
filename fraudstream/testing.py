"""Fakes and builders that ship with the package, for unit tests (ours and a bank's own).

* `FakeClock`: injected time for the pure core.
* `FakeScoring`: a `Scoring` with no model: a keyword rule, optional per-batch delay, optional
  failures (the next N batches, or every batch holding a given text), so the processor can be
  tested without torch.
* `FakeProducer`, `FakeConsumer`, `FakeStateStore`: stand-ins for the Kafka clients and the
  changelog, so that each part of the worker (`stream/intake.py`, `outbox.py`, `checkpoint.py`,
  ...) is unit-tested without a broker. They keep what they were given, in order.
* `transaction(...)`: a valid native transaction with overrides.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fraudstream.batching.clock import FakeClock
from fraudstream.cascade import CascadePolicy, NarrativeMemory
from fraudstream.config import KafkaSettings, Settings, TopicSettings
from fraudstream.features import FeatureRow
from fraudstream.runtime.scoring import Reason

__all__ = [
    "FakeClock",
    "FakeConsumer",
    "FakeMessage",
    "FakeProducer",
    "FakeScoring",
    "FakeStateStore",
    "transaction",
]

SUSPICIOUS = ("gift card", "urgent", "crypto", "safe account", "tax office", "investment")


class FakeScoring:
    """Scores by keywords in the narrative: 0.97 when one appears, else 0.03 (stage 1: by amount)."""

    def __init__(
        self,
        *,
        version: str = "fake-0001",
        alert_threshold: float = 0.5,
        block_threshold: float = 0.9,
        band: tuple[float, float] | None = None,
        stage1_enabled: bool = False,
        batch_delay_s: float = 0.0,
        per_item_delay_s: float = 0.0,
        fail_batches: int = 0,
        fail_on: str | None = None,
    ) -> None:
        self.version = version
        self.alert_threshold = alert_threshold
        self.block_threshold = block_threshold
        self.band = band
        self.policy: CascadePolicy | None = CascadePolicy(band) if band is not None else None
        self.memory: NarrativeMemory | None = None
        self.stage1_enabled = stage1_enabled
        self.batch_delay_s = batch_delay_s
        self.per_item_delay_s = per_item_delay_s
        self._fail_left = fail_batches
        self.fail_on = fail_on
        """A batch holding a narrative with this text (lower case) fails, like a poisonous
        input that crashes the model: the processor must split the batch to isolate it."""
        self.failed_batches = 0
        self._lock = threading.Lock()
        self.batch_sizes: list[int] = []

    def narrative_stats(self) -> dict[str, dict[str, float]]:
        return {} if self.memory is None else {"memory": self.memory.stats()}

    def stage1(
        self, rows: Sequence[FeatureRow], narrative_risk: Sequence[float | None] | None = None
    ) -> np.ndarray | None:
        if not self.stage1_enabled:
            return None
        return np.array(
            [0.6 if "amount" in r.named() and r.named()["amount"] > 500 else 0.02 for r in rows]
        )

    def stage1_reasons(
        self, rows: Sequence[FeatureRow], narrative_risk: Sequence[float | None] | None = None
    ) -> list[list[Reason]]:
        return [[Reason("amount", "large amount", 1.0)] for _ in rows]

    def tokenize(self, narratives: Sequence[str]) -> list[list[int]]:
        return [[hash(w) % 1000 for w in n.lower().split()] or [0] for n in narratives]

    def prepare(self, rows: Sequence[FeatureRow], token_ids: Sequence[list[int]]) -> Any:
        return [r.narrative.lower() for r in rows]

    def predict(self, prepared: Any) -> np.ndarray:
        with self._lock:
            self.batch_sizes.append(len(prepared))
            if self._fail_left > 0:
                self._fail_left -= 1
                self.failed_batches += 1
                raise RuntimeError("injected model failure")
            if self.fail_on is not None and any(self.fail_on in n for n in prepared):
                self.failed_batches += 1
                raise RuntimeError(f"injected model failure on {self.fail_on!r}")
        delay = self.batch_delay_s + self.per_item_delay_s * len(prepared)
        if delay:
            time.sleep(delay)
        return np.array([0.97 if any(k in n for k in SUSPICIOUS) else 0.03 for n in prepared])

    def predict_explain(
        self, prepared: Any, threshold: float
    ) -> tuple[np.ndarray, dict[int, list[Reason]], np.ndarray | None]:
        probs = self.predict(prepared)
        alerts = [i for i, p in enumerate(probs) if p >= threshold]
        return probs, dict(zip(alerts, self.explain(prepared, alerts), strict=True)), None

    def explain(self, prepared: Any, indices: Sequence[int]) -> list[list[Reason]]:
        out = []
        for i in indices:
            words = [k for k in SUSPICIOUS if k in prepared[i]]
            out.append([Reason("narrative", f"memo mentions '{w}'", 1.0) for w in words])
        return out


@dataclass(frozen=True)
class Sent:
    topic: str
    value: bytes
    key: bytes | None
    partition: int | None


class FakeProducer:
    """An `AIOKafkaProducer` stand-in: `send` keeps the record and returns its delivery future,
    acknowledged at once (`auto_ack`) or when the test calls `ack()`; `fail(error, times)` makes
    the next deliveries fail with `error`."""

    def __init__(self, *, auto_ack: bool = True) -> None:
        self.auto_ack = auto_ack
        self.sent: list[Sent] = []
        self.pending: deque[asyncio.Future[Any]] = deque()
        self._failures: deque[BaseException] = deque()

    def fail(self, error: BaseException, times: int = 1) -> None:
        self._failures.extend([error] * times)

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, partition: int | None = None
    ) -> asyncio.Future[Any]:
        delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self._failures:
            delivery.set_exception(self._failures.popleft())
            return delivery
        self.sent.append(Sent(topic, value, key, partition))
        if self.auto_ack:
            delivery.set_result(None)
        else:
            self.pending.append(delivery)
        return delivery

    def ack(self, n: int | None = None) -> int:
        """Acknowledge the `n` oldest pending sends (None: all); returns how many."""
        count = 0
        while self.pending and (n is None or count < n):
            self.pending.popleft().set_result(None)
            count += 1
        return count

    def topics(self) -> list[str]:
        return [s.topic for s in self.sent]


@dataclass(frozen=True)
class FakeMessage:
    """What `getmany` yields per record (the fields the worker reads)."""

    offset: int
    value: bytes
    key: bytes | None = None
    timestamp: int = 0


class FakeConsumer:
    """An `AIOKafkaConsumer` stand-in over in-memory partitions of one topic: `add` appends
    records, `getmany` returns what is past each partition's position (unless paused),
    `commit` keeps the offsets."""

    def __init__(self, topic: str, partitions: Iterable[int] = (0,)) -> None:
        from aiokafka import TopicPartition

        self.topic = topic
        self._tp = {p: TopicPartition(topic, p) for p in partitions}
        self.records: dict[int, list[FakeMessage]] = {p: [] for p in self._tp}
        self.position: dict[int, int] = {p: 0 for p in self._tp}
        self.paused: set[int] = set()
        self.commits: list[dict[Any, int]] = []
        self.seeks: list[tuple[int, int]] = []

    def add(
        self,
        partition: int,
        value: bytes,
        key: bytes | None = None,
        *,
        timestamp_ms: int | None = None,
    ) -> int:
        """Append a record (stamped now unless `timestamp_ms` is given); returns its offset."""
        log = self.records[partition]
        stamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        log.append(FakeMessage(len(log), value, key, stamp))
        return len(log) - 1

    def assignment(self) -> set[Any]:
        return set(self._tp.values())

    def pause(self, *tps: Any) -> None:
        self.paused.update(tp.partition for tp in tps)

    def resume(self, *tps: Any) -> None:
        self.paused.difference_update(tp.partition for tp in tps)

    def seek(self, tp: Any, offset: int) -> None:
        self.seeks.append((tp.partition, offset))
        self.position[tp.partition] = offset

    def highwater(self, tp: Any) -> int:
        return len(self.records[tp.partition])

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, Any]:
        out: dict[Any, list[FakeMessage]] = {}
        left = max_records if max_records is not None else 1 << 30
        for p, tp in self._tp.items():
            if p in self.paused or left <= 0:
                continue
            batch = self.records[p][self.position[p] : self.position[p] + left]
            if batch:
                out[tp] = batch
                self.position[p] += len(batch)
                left -= len(batch)
        if not out:
            await asyncio.sleep(timeout_ms / 1000.0)
        return out

    async def commit(self, offsets: dict[Any, int]) -> None:
        self.commits.append(dict(offsets))


class FakeStateStore:
    """A `stream.state_store.StateStore` stand-in: `flush` records which partitions it wrote
    (and can be made to fail); `restore` gives a fresh state."""

    def __init__(self, spec: Any = None) -> None:
        from fraudstream.features import FeatureSpec

        self.spec = spec or FeatureSpec.native()
        self.flushes: list[list[int]] = []
        self.alerted: dict[int, list[tuple[str, bytes]]] = {}
        self.error: BaseException | None = None
        self.released: set[int] = set()

    async def flush(self, states: Any, partitions: Iterable[int], producer: Any = None) -> None:
        if self.error is not None:
            raise self.error
        self.flushes.append(sorted(partitions))

    async def restore(self, partition: int) -> Any:
        from fraudstream.features import FeatureState

        self.released.discard(partition)
        return FeatureState(self.spec)

    def release(self, partition: int) -> None:
        self.released.add(partition)


def transaction(**overrides: Any) -> dict[str, Any]:
    """A valid native transaction; nested keys can be replaced whole (merchant=..., device=...)."""
    tx: dict[str, Any] = {
        "transaction_id": "tx-00000001",
        "account_id": "acc-0001",
        "card_id": "4000000000000001",
        "timestamp": "2026-01-15T10:30:00Z",
        "amount": 42.0,
        "currency": "EUR",
        "narrative": "TESCO STORES 3417",
        "channel": "card_present",
        "merchant": {"name": "Tesco", "mcc": "5411", "country": "GB"},
    }
    tx.update(overrides)
    return tx


def prefixed_settings(
    kafka: KafkaSettings | str, prefix: str, *, partitions: int = 3, **changes: Any
) -> Settings:
    """Settings whose topics and group all start with `prefix` (one test, one set of topics),
    committing every 100 ms so that tests see their offsets soon."""
    return Settings(
        kafka=kafka if isinstance(kafka, KafkaSettings) else KafkaSettings(bootstrap=kafka),
        topics=TopicSettings(
            input=f"{prefix}-tx",
            scores=f"{prefix}-scores",
            alerts=f"{prefix}-alerts",
            dlq=f"{prefix}-dlq",
            labels=f"{prefix}-labels",
            shadow=f"{prefix}-shadow",
            partitions=partitions,
        ),
        group_id=f"{prefix}-g",
        **{"commit_interval_ms": 100, **changes},
    )
