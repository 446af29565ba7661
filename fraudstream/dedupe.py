"""Alert dedupe: at most one alert per transaction id within a time window, in bounded memory.

A second alert for the same transaction id comes from the bank sending the id twice (after the
admission's own duplicate memory forgot it, e.g. across a restart) or, in at-least-once mode,
from replaying records after a crash. The processor keeps one `AlertDedupe` per input partition
(transactions are keyed by account, so one id lives in one partition) and persists every alerted
id to the state changelog, so the memory survives a restart and follows a partition to its new
owner.

Memory is bounded twice: ids older than `window_s` are forgotten, and at most `max_ids` are kept
(the oldest go first). Times are wall-clock epoch seconds because they outlive the process.

Pure: no asyncio, no Kafka client.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["AlertDedupe", "decode_marker", "encode_marker"]


class AlertDedupe:
    def __init__(self, window_s: float, max_ids: int) -> None:
        if window_s <= 0 or max_ids <= 0:
            raise ValueError("window_s and max_ids must be > 0")
        self.window_s = window_s
        self.max_ids = max_ids
        self._ids: OrderedDict[str, float] = OrderedDict()
        self.suppressed = 0

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, transaction_id: object) -> bool:
        return transaction_id in self._ids

    def first(self, transaction_id: str, now: float) -> bool:
        """True when no alert for this id was raised within the window (and remember it now);
        False for a repeat, which the caller suppresses."""
        self._expire(now)
        if transaction_id in self._ids:
            self.suppressed += 1
            return False
        self._remember(transaction_id, now)
        return True

    def load(self, transaction_id: str, at: float, now: float) -> None:
        """An id alerted at `at`, read back from the changelog (oldest first)."""
        if now - at < self.window_s:
            self._ids.pop(transaction_id, None)
            self._remember(transaction_id, at)
        self._expire(now)

    def _remember(self, transaction_id: str, at: float) -> None:
        self._ids[transaction_id] = at
        while len(self._ids) > self.max_ids:
            self._ids.popitem(last=False)

    def _expire(self, now: float) -> None:
        ids = self._ids
        horizon = now - self.window_s
        while ids:
            oldest = next(iter(ids.values()))
            if oldest > horizon:
                break
            ids.popitem(last=False)


def encode_marker(at: float) -> bytes:
    return f"{at:.3f}".encode()


def decode_marker(raw: bytes | None) -> float | None:
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None
