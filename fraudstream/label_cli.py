"""`fraudstream label`: send an analyst's verdict to the labels topic; `--export` dumps the topic.

The processor folds verdicts into the delayed-label risk state (see `fraudstream/labels.py`), and
`fraudstream train --labels FILE` reads an export to override the labels of a training file.
"""

from __future__ import annotations

import asyncio
import sys
import time

import click
import orjson

from fraudstream.cli_common import build_settings, friendly_errors, settings_options
from fraudstream.labels import make_label, validate_label
from fraudstream.records import parse_rfc3339

_VERDICT_FLAGS = {
    "fraud": "confirmed_fraud",
    "legit": "legitimate",
    "false_positive": "false_positive",
}


@click.command("label")
@settings_options
@click.argument("transaction_id", required=False)
@click.option("--fraud", "verdict", flag_value="fraud", help="Confirmed fraud.")
@click.option("--legit", "verdict", flag_value="legit", help="Legitimate transaction.")
@click.option(
    "--false-positive", "verdict", flag_value="false_positive", help="An alert that was wrong."
)
@click.option("--analyst", "analyst_id", default=None, help="Analyst id (default: $USER).")
@click.option(
    "--transaction-time",
    default=None,
    metavar="RFC3339",
    help="When the transaction happened (optional: the processor remembers recent ones).",
)
@click.option(
    "--entity",
    "entities",
    multiple=True,
    metavar="ROLE=KEY",
    help="An entity of the transaction, e.g. terminal=T42 (repeatable; optional).",
)
@click.option("--note", default=None, help="Free text for the record (at most 2000 characters).")
@click.option("--labels-topic", default=None, help="Topic of verdicts (default: topics.labels).")
@click.option(
    "--export",
    "export",
    type=click.Path(dir_okay=False, allow_dash=True),
    default=None,
    help="Instead of sending: write every label on the topic to this JSON-lines file (- = stdout).",
)
@friendly_errors
def label(
    config_file: str | None,
    bootstrap: str | None,
    transaction_id: str | None,
    verdict: str | None,
    analyst_id: str | None,
    transaction_time: str | None,
    entities: tuple[str, ...],
    note: str | None,
    labels_topic: str | None,
    export: str | None,
) -> None:
    """Send one verdict on TRANSACTION_ID to the labels topic (or --export the topic)."""
    settings = build_settings(
        config_file, {"kafka.bootstrap": bootstrap, "topics.labels": labels_topic}
    )
    topic = settings.topics.labels
    if export is not None:
        count = asyncio.run(_export(settings, topic, export))
        click.echo(f"exported {count:,} labels from {topic}", err=True)
        return
    if transaction_id is None or verdict is None:
        raise click.UsageError("give TRANSACTION_ID and one of --fraud, --legit, --false-positive")
    import getpass

    tx_time = None
    if transaction_time is not None:
        tx_time = parse_rfc3339(transaction_time)
        if tx_time is None:
            raise click.BadParameter(
                "an RFC 3339 time, e.g. 2026-01-15T10:30:00Z", param_hint="--transaction-time"
            )
    ents: dict[str, str] = {}
    for item in entities:
        role, sep, key = item.partition("=")
        if not sep or not role or not key:
            raise click.BadParameter(f"{item!r} is not ROLE=KEY", param_hint="--entity")
        ents[role] = key
    record = make_label(
        transaction_id,
        _VERDICT_FLAGS[verdict],
        analyst_id=analyst_id or getpass.getuser() or "analyst",
        labelled_at=time.time(),
        transaction_timestamp=tx_time,
        entities=ents or None,
        note=note,
    )
    error = validate_label(record)
    if error is not None:
        raise click.ClickException(f"label not sent: {error.field}: {error.message}")
    value = orjson.dumps(record)
    asyncio.run(_send(settings, topic, transaction_id.encode(), value))
    click.echo(value.decode())


async def _send(settings: object, topic: str, key: bytes, value: bytes) -> None:
    from fraudstream.config import Settings
    from fraudstream.localkafka.topics import TopicSpec, ensure_topics
    from fraudstream.stream.clients import check_connection, make_producer
    from fraudstream.stream.topics import split_kwargs

    assert isinstance(settings, Settings)
    await check_connection(settings.kafka)
    # the broker never creates topics by itself: the first verdict may come before a processor
    bootstrap, kwargs = split_kwargs(settings)
    spec = TopicSpec(settings.topics.partitions, settings.topics.replication)
    await ensure_topics(bootstrap, {topic: spec}, client_kwargs=kwargs)
    producer = make_producer(settings.kafka)
    await producer.start()
    try:
        await (await producer.send(topic, value, key=key))
    finally:
        await producer.stop()


async def _export(settings: object, topic: str, path: str) -> int:
    from fraudstream.config import Settings
    from fraudstream.stream.audit import read_topic

    assert isinstance(settings, Settings)
    records = await read_topic(settings.kafka, topic)
    out = sys.stdout.buffer if path == "-" else open(path, "wb")  # noqa: SIM115
    try:
        for r in records:
            if r.value is not None:
                out.write(r.value + b"\n")
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    return len(records)
