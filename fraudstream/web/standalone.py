"""`fraudstream web`: the live page on its own, fed by the output topics instead of a processor.

It tails the risk-scores, fraud-alerts and dead-letter topics from their end (plus the latest few
alerts, so the table is not empty on arrival), reads the input topic's end offsets once a second
for the arrival rate, and the consumer group's committed offsets for the lag. It reads without a
consumer group of its own, so it never takes partitions from the processors, and any number of
pages can run.

What differs from the page a processor serves (`run --web-port`): the whole group's traffic
instead of one worker's; latency is from the input record's timestamp to `scored_at_ms` (the
broker's acknowledgement is not visible here); batch sizes are per scored record (a batch of 64
counts 64 times); there is no `/metrics` (scrape the processors for that).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import orjson

from fraudstream.cli_common import friendly_errors, setup_logging
from fraudstream.config import Settings
from fraudstream.stream.run_cli import processor_options, settings_from_flags
from fraudstream.web.drift import DriftWatch, Reference
from fraudstream.web.feed import DriftLog, drift_watch
from fraudstream.web.live import ALERTS_SHOWN, LiveView
from fraudstream.web.server import WebServer

log = logging.getLogger(__name__)

VERSION_SEEN_S = 60.0


def read_card(settings: Settings) -> dict[str, Any] | None:
    """The model card of the configured model folder (no model is loaded: the card is JSON)."""
    folder = settings.model_path
    if folder is None:
        from fraudstream.runtime.loader import default_model_dir

        folder = default_model_dir()
    path = Path(folder) / "model_card.json"
    try:
        card = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return card if isinstance(card, dict) else None


class TopicsFeed:
    def __init__(self, settings: Settings, *, card: Mapping[str, Any] | None = None) -> None:
        self.settings = settings
        self.view = LiveView(mode="topics", now=time.monotonic())
        self.card = card
        self.counts = {"records_in": 0, "scored": 0, "alerts": 0, "dead_letters": 0}
        self.versions: dict[str, float] = {}
        self._watched_version: str | None = None
        self.drift: DriftWatch = drift_watch(None, settings)
        self._drift_log = DriftLog()
        self._input_start: int | None = None
        self._alerts_from: dict[int, int] = {}
        self.unreadable = 0
        """Records on the output topics of a shape the page cannot read (skipped)."""

    # -- records ----------------------------------------------------------------------------

    def on_score(self, record: Mapping[str, Any], now: float) -> None:
        self.counts["scored"] += 1
        version = str(record.get("model_version", ""))
        self.versions[version] = now
        if version != self._watched_version:
            self._watch(version)
        self.drift.observe(float(record.get("score", 0.0)), record.get("band") != "allow")
        source_ms = (record.get("source") or {}).get("timestamp_ms")
        scored_ms = record.get("scored_at_ms")
        if isinstance(source_ms, int) and isinstance(scored_ms, int):
            self.view.observe_latency(float(scored_ms - source_ms))
        batch = record.get("batch")
        if isinstance(batch, Mapping) and batch.get("size"):
            self.view.observe_batch(int(batch["size"]), float(batch.get("fill") or 0.0))

    def _watch(self, version: str) -> None:
        """Scores of another model version: its own drift window, against its own card."""
        self._watched_version = version
        card = self.card if self.card and self.card.get("version") == version else None
        ref = Reference.from_card(card)
        self.drift = drift_watch(ref, self.settings)
        self._drift_log = DriftLog()

    def on_alert(self, alert: Mapping[str, Any], partition: int, offset: int) -> None:
        self.view.observe_alert(alert)
        if offset >= self._alerts_from.get(partition, 0):
            self.counts["alerts"] += 1  # the backfilled latest few are shown, not counted

    def on_dead_letter(self) -> None:
        self.counts["dead_letters"] += 1

    def on_input_end(self, total_end: int) -> None:
        if self._input_start is None:
            self._input_start = total_end
        self.counts["records_in"] = total_end - self._input_start

    # -- once a second ----------------------------------------------------------------------

    def tick(self, now: float) -> None:
        self.view.sample(now, self.counts)
        recent = [v for v, t in self.versions.items() if now - t <= VERSION_SEEN_S]
        self.view.model_versions = sorted(recent)
        status = self.drift.status().as_dict()
        self.view.drift = status
        self._drift_log.update(status, self._watched_version or "?")

    def state(self) -> dict[str, Any]:
        return self.view.snapshot(time.monotonic())


async def run_page(settings: Settings, *, port: int, stop: asyncio.Event | None = None) -> None:
    """Serve the page until `stop` is set (or forever)."""
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    from fraudstream.stream.clients import admin_kwargs, check_connection, make_consumer

    await check_connection(settings.kafka)
    topics = settings.topics
    feed = TopicsFeed(settings, card=read_card(settings))
    consumer = make_consumer(settings.kafka, group_id=None, fetch_max_wait_ms=200)
    admin = AIOKafkaAdminClient(**admin_kwargs(settings.kafka))
    server = WebServer(
        state=feed.state, token=settings.web_token.reveal() if settings.web_token else None
    )
    stop = stop or asyncio.Event()
    await consumer.start()
    await admin.start()
    try:
        tails: list[TopicPartition] = []
        for topic in (topics.scores, topics.alerts, topics.dlq):
            for p in sorted(await _partitions(consumer, topic)):
                tails.append(TopicPartition(topic, p))
        inputs = [
            TopicPartition(topics.input, p)
            for p in sorted(await _partitions(consumer, topics.input))
        ]
        consumer.assign(tails)
        await consumer.seek_to_end(*tails)
        for tp in tails:
            if tp.topic == topics.alerts:
                end = await consumer.position(tp)
                feed._alerts_from[tp.partition] = end
                consumer.seek(tp, max(0, end - ALERTS_SHOWN))
        await server.start(settings.web_host, port)
        log.info("live page on http://%s:%d/ (topics %s)", settings.web_host, server.port, topics)
        click.echo(f"live page on http://127.0.0.1:{server.port}/", err=True)
        poller = asyncio.create_task(_poll_offsets(feed, consumer, admin, inputs, settings, stop))
        try:
            while not stop.is_set():
                data = await consumer.getmany(timeout_ms=200, max_records=2000)
                now = time.monotonic()
                for tp, messages in data.items():
                    for m in messages:
                        _dispatch(feed, tp.topic, tp.partition, m.offset, m.value, now)
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
    finally:
        await server.stop()
        with contextlib.suppress(Exception):
            await consumer.stop()
        with contextlib.suppress(Exception):
            await admin.close()


def _dispatch(
    feed: TopicsFeed, topic: str, partition: int, offset: int, value: bytes | None, now: float
) -> None:
    topics = feed.settings.topics
    if topic == topics.dlq:
        feed.on_dead_letter()
        return
    try:
        doc = orjson.loads(value or b"null")
    except orjson.JSONDecodeError:
        return  # not ours to judge: the page shows what it can read
    if not isinstance(doc, dict):
        return
    try:
        if topic == topics.scores:
            feed.on_score(doc, now)
        elif topic == topics.alerts:
            feed.on_alert(doc, partition, offset)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        # JSON of the wrong shape (anyone who can write the topic can write it): skipped and
        # counted; the page goes on with what it can read.
        feed.unreadable += 1
        if feed.unreadable in (1, 10, 100) or feed.unreadable % 1000 == 0:
            log.warning(
                "page: %d records of the wrong shape skipped so far (latest %s[%d]@%d: %s)",
                feed.unreadable,
                topic,
                partition,
                offset,
                type(exc).__name__,
            )


async def _partitions(consumer: Any, topic: str) -> set[int]:
    parts = consumer.partitions_for_topic(topic)
    if not parts:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic)
    return set(parts or ())


async def _poll_offsets(
    feed: TopicsFeed,
    consumer: Any,
    admin: Any,
    inputs: list[Any],
    settings: Settings,
    stop: asyncio.Event,
) -> None:
    """Once a second: input end offsets (arrival rate) and the group's committed offsets (lag)."""
    while not stop.is_set():
        try:
            if inputs:
                ends = await consumer.end_offsets(inputs)
                feed.on_input_end(sum(ends.values()))
                committed = await admin.list_consumer_group_offsets(
                    settings.group_id, partitions=inputs
                )
                lag = {}
                for tp in inputs:
                    meta = committed.get(tp)
                    done = meta.offset if meta is not None and meta.offset >= 0 else 0
                    lag[str(tp.partition)] = max(0, ends[tp] - done)
                feed.view.lag = lag
            feed.tick(time.monotonic())
        except Exception as exc:  # a broker hiccup must not take the page down
            log.warning("live page: could not read offsets (%s); retrying", exc)
        await asyncio.sleep(1.0)


@click.command("web")
@processor_options
@click.option(
    "--host",
    default=None,
    help="Address to listen on (default: web_host, 127.0.0.1; 0.0.0.0: every interface).",
)
@friendly_errors
def web(config_file: str | None, bootstrap: str | None, host: str | None, **flags: Any) -> None:
    """Serve the live analyst page (default port 8080), fed by the scores, alerts and
    dead-letter topics; the lag is the consumer group's (--group-id)."""
    settings = settings_from_flags(config_file, bootstrap, **flags)
    if host is not None:
        settings = settings.replace(web_host=host)
    setup_logging(settings)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run_page(settings, port=8080 if settings.web_port is None else settings.web_port)
        )
