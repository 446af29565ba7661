"""The processor's side of the page: observe its outputs, keep the metrics, the live view and the
drift watch, and serve them (`fraudstream run --web-port P`).

`ProcessorFeed` is the processor's `observer` (see `stream/worker.py`): the processor calls it
on every score, alert, batch and broker acknowledgement, on its own event loop. Counters, lag and
the model version are not pushed: they are read from the processor when the page or Prometheus
asks, or once a second by `tick`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Hashable, Mapping
from typing import Any, Protocol

from fraudstream.config import Settings
from fraudstream.web.drift import DriftWatch, Reference
from fraudstream.web.live import LiveView
from fraudstream.web.metrics import ProcessorMetrics
from fraudstream.web.server import WebServer

log = logging.getLogger(__name__)

MAX_PENDING = 200_000


class _Processor(Protocol):
    """What the feed reads from `stream.worker.Worker` (a protocol: no import cycle)."""

    settings: Settings
    observer: Any

    @property
    def scoring(self) -> Any: ...

    @property
    def worker_id(self) -> str: ...

    @property
    def counters(self) -> Any: ...

    def lag(self) -> dict[tuple[str, int], int]: ...

    def readiness(self) -> tuple[bool, str]: ...


def model_card(scoring: Any) -> Mapping[str, Any] | None:
    """The model card of a `Scoring`, where it has one (the real one wraps a loaded model folder;
    the fakes may carry a `card`)."""
    card = getattr(scoring, "card", None)
    if card is None:
        card = getattr(getattr(scoring, "model", None), "card", None)
    return card if isinstance(card, Mapping) else None


def reference_for(scoring: Any, settings: Settings) -> Reference | None:
    ref = Reference.from_card(model_card(scoring))
    if ref is not None and settings.alert_threshold is not None:
        # The card's alert rate was measured at the model's own threshold; at another one the
        # comparison would warn about a choice, not about drift.
        ref = dataclasses.replace(ref, alert_rate=None)
    return ref


def drift_watch(reference: Reference | None, settings: Settings) -> DriftWatch:
    return DriftWatch(
        reference,
        window=settings.drift_window,
        psi_bound=settings.drift_psi_bound,
        alert_rate_factor=settings.drift_alert_rate_factor,
    )


class DriftLog:
    """Logs a warning when a check crosses its bound, and once more when it is back within."""

    def __init__(self) -> None:
        self.drifting = False

    def update(self, status: Mapping[str, Any], version: str) -> None:
        now = bool(status.get("drifting"))
        if now and not self.drifting:
            log.warning("model %s: %s", version, status.get("message"))
        elif self.drifting and not now:
            log.info("model %s: drift back within bounds (%s)", version, status.get("message"))
        self.drifting = now


class ProcessorFeed:
    def __init__(self, processor: _Processor, *, clock: Any = time.monotonic) -> None:
        self.processor = processor
        self.settings = processor.settings
        self.clock = clock
        self.scores_topic = self.settings.topics.scores
        self.metrics = ProcessorMetrics(scores_topic=self.scores_topic)
        # input record -> (when its score was handed to the producer, its source timestamp), until
        # the broker acknowledges the score: produce time and end-to-end latency
        self._pending: dict[Hashable, tuple[float, int | None]] = {}
        self.view = LiveView(mode="processor", now=clock())
        self.view.worker = processor.worker_id
        self._version = str(processor.scoring.version)
        self.drift = drift_watch(reference_for(processor.scoring, self.settings), self.settings)
        self._drift_log = DriftLog()
        self.metrics.counters = lambda: processor.counters.as_dict()
        self.metrics.lag = processor.lag
        self.metrics.model_versions = lambda: [str(processor.scoring.version)]
        self.metrics.drift = lambda: self.drift.status().as_dict()

    # -- the processor's observer -------------------------------------------------------------

    def on_score(self, record: Mapping[str, Any], ticket: Hashable) -> None:
        self.metrics.observe_score(record["timings_ms"])
        self.drift.observe(float(record["score"]), record["band"] != "allow")
        pending = self._pending
        pending[ticket] = (time.monotonic(), record["source"]["timestamp_ms"])
        if len(pending) > MAX_PENDING:
            # a revoked partition's outputs are never acknowledged here: forget the oldest
            del pending[next(iter(pending))]

    def on_alert(self, alert: Mapping[str, Any]) -> None:
        self.view.observe_alert(alert)

    def on_batch(self, size: int, tokens: int, fill: float) -> None:
        self.metrics.observe_batch(size, tokens, fill)
        self.view.observe_batch(size, fill)

    def on_acked(self, topic: str, ticket: Hashable) -> None:
        if topic != self.scores_topic:
            return
        sent = self._pending.pop(ticket, None)
        if sent is None:
            return
        made_at, origin_ms = sent
        end_to_end = None if origin_ms is None else time.time() - origin_ms / 1000.0
        self.metrics.observe_ack(topic, time.monotonic() - made_at, end_to_end)
        if end_to_end is not None:
            self.view.observe_latency(end_to_end * 1000.0)

    # -- once a second --------------------------------------------------------------------------

    def tick(self) -> None:
        p = self.processor
        version = str(p.scoring.version)
        if version != self._version:
            # A new model: its own validation figures, and a window of its own scores only.
            self._version = version
            self.drift = drift_watch(reference_for(p.scoring, self.settings), self.settings)
            self._drift_log = DriftLog()
        self.view.sample(self.clock(), p.counters.as_dict())
        # one input topic: the partition number says it all (the topic is in /metrics)
        self.view.lag = {str(n): lag for (_, n), lag in sorted(p.lag().items())}
        self.view.model_versions = [version]
        status = self.drift.status().as_dict()
        self.view.drift = status
        self._drift_log.update(status, version)

    def state(self) -> dict[str, Any]:
        self.tick()
        return self.view.snapshot(self.clock())


class ProcessorWeb:
    """The page and /metrics of a running processor; `await stop()` when it ends."""

    def __init__(self, feed: ProcessorFeed, server: WebServer, ticker: asyncio.Task[None]) -> None:
        self.feed = feed
        self.server = server
        self._ticker = ticker

    @property
    def port(self) -> int:
        return self.server.port

    async def stop(self) -> None:
        self._ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._ticker
        await self.server.stop()


async def serve_processor(
    processor: _Processor, *, host: str | None = None, port: int | None = None
) -> ProcessorWeb:
    """Attach a feed to `processor` and serve the page on `port` (default: settings.web_port;
    0 picks a free port, see `ProcessorWeb.port`)."""
    settings = processor.settings
    feed = ProcessorFeed(processor)
    processor.observer = feed
    server = WebServer(
        state=feed.state,
        metrics=feed.metrics.render,
        ready=processor.readiness,
        token=settings.web_token.reveal() if settings.web_token else None,
    )
    await server.start(
        host if host is not None else settings.web_host,
        port if port is not None else (settings.web_port or 0),
    )
    ticker = asyncio.create_task(_tick_forever(feed), name="web-tick")
    log.info("live page on http://%s:%d/ (metrics on /metrics)", settings.web_host, server.port)
    return ProcessorWeb(feed, server, ticker)


async def _tick_forever(feed: ProcessorFeed) -> None:
    while True:
        try:
            feed.tick()
        except Exception:  # the page must never stop the stream
            log.exception("live page: tick failed")
        await asyncio.sleep(1.0)
