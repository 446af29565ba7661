"""What a worker counts: records in, scores, alerts, dead letters, model and state figures.

The run summary (`fraudstream run` prints `as_dict()` when it stops) and `/metrics`
(`web/metrics.py`) read the same object.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fraudstream.runtime.gc_policy import GcStats


@dataclass
class Counters:
    records_in: int = 0
    scored: int = 0
    alerts: int = 0
    dead_letters: int = 0
    language_model: int = 0
    late: int = 0
    batches: int = 0
    retried_batches: int = 0
    fallbacks: int = 0
    alerts_suppressed: int = 0
    state_expired: int = 0
    """Entities forgotten after `state_idle_expiry_s` without activity (tombstoned)."""
    state_evicted: int = 0
    """Entities forgotten, least recently seen first, over `state_max_entities`."""
    state_entities: Callable[[], int] | None = None
    state_packed: Callable[[], int] | None = None
    """Of those, how many are packed (`features/entity.py`)."""
    restore_seconds: float = 0.0
    """Time spent restoring partitions' state from the changelog, in all."""
    outputs_too_large: int = 0
    """Outputs the broker refused as too large, dead-lettered as a stub instead."""
    unscorable: int = 0
    """Records with a readable id that could not be scored: a dead letter and a review score."""
    flagged_input: dict[str, int] = field(default_factory=dict)
    """Scored records per input flag (`input_checks.py`): hidden characters, unknown fields..."""
    started_at: float = field(default_factory=time.monotonic)
    dead_letter_kinds: dict[str, int] = field(default_factory=dict)
    gc: GcStats | None = None
    """Garbage-collector pauses, when the processor manages them (`owns_process`)."""
    narrative: Callable[[], dict[str, dict[str, float]]] | None = None
    """The model's narrative memory and text-vector cache counters, read when reported."""
    model_restarts: Callable[[], int] | None = None
    """Restarts of the model's child process (after it died), read when reported."""

    def as_dict(self) -> dict[str, Any]:
        elapsed = max(time.monotonic() - self.started_at, 1e-9)
        return {
            "records_in": self.records_in,
            "scored": self.scored,
            "alerts": self.alerts,
            "dead_letters": self.dead_letters,
            "dead_letter_kinds": dict(self.dead_letter_kinds),
            "language_model": self.language_model,
            "late": self.late,
            "batches": self.batches,
            "retried_batches": self.retried_batches,
            "fallbacks": self.fallbacks,
            "alerts_suppressed": self.alerts_suppressed,
            "state": {
                "entities": self.state_entities() if self.state_entities is not None else 0,
                "packed": self.state_packed() if self.state_packed is not None else 0,
                "expired": self.state_expired,
                "evicted": self.state_evicted,
                "restore_seconds": round(self.restore_seconds, 3),
            },
            "unscorable": self.unscorable,
            "outputs_too_large": self.outputs_too_large,
            "model_restarts": self.model_restarts() if self.model_restarts is not None else 0,
            "flagged_input": dict(self.flagged_input),
            "elapsed_s": round(elapsed, 3),
            "throughput_per_s": round(self.scored / elapsed, 1),
            **({} if self.gc is None else {"gc": self._gc()}),
            **self._narrative(),
        }

    def _narrative(self) -> dict[str, Any]:
        stats = self.narrative() if self.narrative is not None else {}
        if not stats:
            return {}
        return {
            "narrative": {
                name: {k: round(v, 4) if k == "hit_rate" else int(v) for k, v in kept.items()}
                for name, kept in stats.items()
            }
        }

    def _gc(self) -> dict[str, Any]:
        assert self.gc is not None
        return {
            "collections": self.gc.collections,
            "full_collections": self.gc.full_collections,
            "max_pause_ms": round(self.gc.max_pause_s * 1000, 1),
            "pauses_over_50ms": self.gc.long_pauses,
            "frozen_objects": self.gc.frozen,
        }
