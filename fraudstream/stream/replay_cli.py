"""`fraudstream replay`: send a CSV or JSON-lines file to a topic in file order.

Each record is keyed by its mapping's key entity (the account, by default), so per-account order
holds in Kafka. The label column and the mapping's forbidden fields are left out of what is sent
(a scorer must never see them); with `--labels-topic`, each labelled record's verdict is published
there once the replay's data time has passed its timestamp plus `--label-delay-days`, the way a
bank's confirmed-fraud feed arrives.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import click
import orjson

from fraudstream.cli_common import build_settings, friendly_errors, settings_options
from fraudstream.events import Event
from fraudstream.mapping import FieldError, Mapping, MappingConfigError
from fraudstream.readers import iter_records


def label_record(event: Event, analyst: str = "replay") -> dict[str, Any]:
    def iso(ts: float) -> str:
        return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")

    return {
        "transaction_id": event.transaction_id,
        "verdict": "confirmed_fraud" if event.label else "legitimate",
        "analyst_id": analyst,
        "labelled_at": iso(event.timestamp),
        "transaction_timestamp": iso(event.timestamp),
        "entities": dict(event.entities),
    }


def replay_stream(
    path: str,
    mapping: Mapping,
    *,
    label_delay_s: float | None,
    limit: int | None = None,
) -> Iterator[tuple[str, bytes | None, bytes]]:
    """(kind, key, value) in send order; kind is "tx" or "label"."""
    hidden = {*(mapping.forbidden or ()), *((mapping.label,) if mapping.label else ())}
    pending: deque[tuple[float, Event]] = deque()
    for n, record in enumerate(iter_records(path)):
        if limit is not None and n >= limit:
            break
        event = mapping.to_event(record)
        key = None
        if not isinstance(event, FieldError):
            key = event.entities.get(mapping.key)
            while pending and pending[0][0] <= event.timestamp:
                _, due = pending.popleft()
                yield "label", due.transaction_id.encode(), orjson.dumps(label_record(due))
            if label_delay_s is not None and event.label is not None:
                pending.append((event.timestamp + label_delay_s, event))
        sent = {k: v for k, v in record.items() if k not in hidden} if hidden else record
        yield "tx", None if key is None else key.encode(), orjson.dumps(sent)


@click.command("replay")
@settings_options
@click.option("--file", "path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--mapping", "mapping_name", default="native", help="native, handbook or a mapping file."
)
@click.option("--topic", default=None, help="Target topic (default: the input topic).")
@click.option(
    "--rate", type=float, default=None, help="Records per second (default: as fast as possible)."
)
@click.option("--limit", type=int, default=None, help="Send at most this many records.")
@click.option("--labels-topic", default=None, help="Also publish delayed verdicts here.")
@click.option("--label-delay-days", type=float, default=7.0, show_default=True)
@friendly_errors
def replay(
    config_file: str | None,
    bootstrap: str | None,
    path: str,
    mapping_name: str,
    topic: str | None,
    rate: float | None,
    limit: int | None,
    labels_topic: str | None,
    label_delay_days: float,
) -> None:
    """Send a CSV or JSON-lines file to a topic in file order, at a rate or as fast as possible."""
    settings = build_settings(config_file, {"kafka.bootstrap": bootstrap, "topics.input": topic})
    try:
        mapping = Mapping.load(mapping_name)
    except MappingConfigError as exc:
        raise click.ClickException(str(exc)) from None
    target = settings.topics.input
    delay = label_delay_days * 86400.0 if labels_topic else None
    counts = {"tx": 0, "label": 0}

    def items() -> Iterator[tuple[str, bytes | None, bytes]]:
        for kind, key, value in replay_stream(path, mapping, label_delay_s=delay, limit=limit):
            counts[kind] += 1
            yield (target if kind == "tx" else str(labels_topic)), key, value

    def progress(sent: int) -> None:
        if sent % 50_000 == 0:
            click.echo(f"  {sent:,} sent", err=True)

    async def main() -> None:
        from fraudstream.localkafka.topics import TopicSpec, ensure_topics
        from fraudstream.stream.clients import check_connection
        from fraudstream.stream.produce import produce_routed
        from fraudstream.stream.topics import INPUT_MAX_MESSAGE_BYTES, split_kwargs

        await check_connection(settings.kafka)
        bootstrap, kwargs = split_kwargs(settings)
        partitions, replication = settings.topics.partitions, settings.topics.replication
        big = {"max.message.bytes": str(INPUT_MAX_MESSAGE_BYTES)}
        topics = {target: TopicSpec(partitions, replication, big)}
        if labels_topic:
            topics[labels_topic] = TopicSpec(partitions, replication)
        await ensure_topics(bootstrap, topics, client_kwargs=kwargs)
        await produce_routed(
            settings.kafka, items(), rate=rate, paced=lambda t: t == target, progress=progress
        )

    asyncio.run(main())
    summary = f"replayed {counts['tx']:,} records to {target}"
    if labels_topic:
        summary += f" and {counts['label']:,} labels to {labels_topic}"
    click.echo(summary)
