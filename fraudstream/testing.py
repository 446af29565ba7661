"""Fakes and builders that ship with the package, for unit tests (ours and a bank's own).

* `FakeClock`: injected time for the pure core.
* `FakeScoring`: a `Scoring` with no model: a keyword rule, optional per-batch delay, optional
  failures (the next N batches, or every batch holding a given text), so the processor can be
  tested without torch.
* `transaction(...)`: a valid native transaction with overrides.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from fraudstream.batching.clock import FakeClock
from fraudstream.cascade import CascadePolicy, NarrativeMemory
from fraudstream.config import KafkaSettings, Settings, TopicSettings
from fraudstream.features import FeatureRow
from fraudstream.runtime.scoring import Reason

__all__ = ["FakeClock", "FakeScoring", "transaction"]

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
