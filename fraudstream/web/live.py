"""What the live page shows: rolling rates, latency percentiles, batches, lag, drift and the
latest alerts, as one JSON document (`LiveView.snapshot`).

Everything here is bounded, whatever the traffic: rates come from cumulative totals sampled once
a second (a ring of `SERIES_SECONDS` samples), latencies from a ring of the latest
`LATENCY_WINDOW` scores, alerts from a ring of the latest `ALERTS_SHOWN`. Thousands of alerts a
minute cost the page nothing more than a few: it always receives and draws at most `ALERTS_SHOWN`
rows.

Pure: time is passed in; the processor (`web/feed.py`) and the topic tail (`web/standalone.py`)
feed it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from fraudstream.logs import mask_identifiers
from fraudstream.records import mask

SERIES_SECONDS = 120
RATE_SECONDS = 10.0
LATENCY_WINDOW = 20_000
ALERTS_SHOWN = 50
BATCH_WINDOW = 2_000
TOTALS = ("records_in", "scored", "alerts", "dead_letters")


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def alert_row(alert: Mapping[str, Any]) -> dict[str, Any]:
    """One row of the alert table from an alert record (schemas/alert.schema.json). Account and
    card are masked again here, so a page never shows a number even if a producer sent one."""
    score = alert.get("score_record") or {}
    tx = alert.get("transaction") or {}
    reasons = [mask_identifiers(str(r.get("text", ""))) for r in (score.get("reasons") or [])[:5]]
    return {
        "alert_id": alert.get("alert_id"),
        "transaction_id": tx.get("transaction_id") or score.get("transaction_id"),
        "time": tx.get("timestamp"),
        "account": _masked(tx.get("account")),
        "card": _masked(tx.get("card")),
        "amount": tx.get("amount"),
        "currency": tx.get("currency") or "",
        "merchant": tx.get("merchant"),
        "channel": tx.get("channel"),
        "score": score.get("score"),
        "band": score.get("band"),
        "reasons": reasons,
        "model_version": score.get("model_version"),
        "stage": score.get("stage"),
        # the rules of the rule file that fired, as "id (action)" (fraudstream/rules.py)
        "rules": [
            f"{r.get('id')} ({r.get('action')})"
            for r in (score.get("rules") or [])
            if isinstance(r, Mapping)
        ],
    }


def _masked(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    if set(value[:-4]) <= {"*"}:
        return value  # already masked upstream
    return mask(value)


class LiveView:
    def __init__(self, *, mode: str, now: float) -> None:
        self.mode = mode
        """'processor' (served by `fraudstream run`) or 'topics' (`fraudstream web`)."""
        self.started = now
        self.totals: dict[str, int] = dict.fromkeys(TOTALS, 0)
        self._samples: deque[tuple[float, dict[str, int]]] = deque(maxlen=SERIES_SECONDS + 1)
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._batches: deque[tuple[int, float]] = deque(maxlen=BATCH_WINDOW)
        self.alerts: deque[dict[str, Any]] = deque(maxlen=ALERTS_SHOWN)
        self.alerts_seen = 0
        self.lag: dict[str, int] = {}
        self.model_versions: list[str] = []
        self.drift: dict[str, Any] | None = None
        self.worker: str | None = None
        self.notes: list[str] = []

    # -- feeding ----------------------------------------------------------------------------

    def observe_latency(self, end_to_end_ms: float) -> None:
        self._latencies.append(end_to_end_ms)

    def observe_batch(self, size: int, fill: float) -> None:
        self._batches.append((size, fill))

    def observe_alert(self, alert: Mapping[str, Any]) -> None:
        self.alerts.appendleft(alert_row(alert))
        self.alerts_seen += 1

    def sample(self, now: float, totals: Mapping[str, int]) -> None:
        """Cumulative totals at `now` (call about once a second)."""
        self.totals = {k: int(totals.get(k, 0)) for k in TOTALS}
        self._samples.append((now, dict(self.totals)))

    # -- reading ----------------------------------------------------------------------------

    def _rate(self, key: str, span: float) -> float:
        if len(self._samples) < 2:
            return 0.0
        t1, last = self._samples[-1]
        # the oldest sample still inside the span (at least the one before the last)
        t0, first = self._samples[-2]
        for t, values in reversed(self._samples):
            if t1 - t > span:
                break
            t0, first = t, values
        if t1 <= t0:
            return 0.0
        return (last[key] - first[key]) / (t1 - t0)

    def series(self) -> list[dict[str, float]]:
        out = []
        samples = list(self._samples)
        for (t0, a), (t1, b) in pairwise(samples):
            dt = t1 - t0
            if dt <= 0:
                continue
            out.append(
                {
                    "t": round(t1 - self.started, 2),
                    "in": round((b["records_in"] - a["records_in"]) / dt, 1),
                    "out": round((b["scored"] - a["scored"]) / dt, 1),
                    "alerts": round((b["alerts"] - a["alerts"]) / dt, 2),
                }
            )
        return out

    def snapshot(self, now: float) -> dict[str, Any]:
        rates = {
            "in_per_s": round(self._rate("records_in", RATE_SECONDS), 1),
            "out_per_s": round(self._rate("scored", RATE_SECONDS), 1),
            "alerts_per_s": round(self._rate("alerts", RATE_SECONDS), 2),
            "dead_letters_per_s": round(self._rate("dead_letters", RATE_SECONDS), 2),
        }
        scored, records_in = self.totals["scored"], self.totals["records_in"]
        lat = sorted(self._latencies)
        batches = [size for size, _ in self._batches]
        fills = [fill for _, fill in self._batches]
        return {
            "mode": self.mode,
            "worker": self.worker,
            "uptime_s": round(now - self.started, 1),
            "model_versions": list(self.model_versions),
            "totals": dict(self.totals),
            "rates": rates,
            "alert_rate": round(self.totals["alerts"] / scored, 5) if scored else None,
            "dead_letter_rate": round(self.totals["dead_letters"] / records_in, 5)
            if records_in
            else None,
            "latency_ms": {
                "window": len(lat),
                **{
                    name: _round(percentile(lat, q))
                    for name, q in (("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9))
                },
                "max": _round(lat[-1] if lat else None),
            },
            "batches": {
                "window": len(batches),
                "mean_size": round(sum(batches) / len(batches), 1) if batches else None,
                "max_size": max(batches) if batches else None,
                "mean_fill": round(sum(fills) / len(fills), 3) if fills else None,
                "recent": batches[-60:],
            },
            "lag": dict(self.lag),
            "lag_total": sum(self.lag.values()),
            "drift": self.drift,
            "alerts_seen": self.alerts_seen,
            "alerts": list(self.alerts),
            "series": self.series(),
            "notes": list(self.notes),
        }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 2)
