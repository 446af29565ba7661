"""`fraudstream alerts`: tail the alert topic as a readable table or as JSON lines."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterable
from typing import Any

import click
import orjson

from fraudstream.cli_common import build_settings, friendly_errors, settings_options
from fraudstream.config import Settings
from fraudstream.pipeline import account_ref


def matches(
    alert: dict[str, Any],
    min_score: float | None,
    account: str | None,
    bands: frozenset[str] | None = None,
) -> bool:
    record = alert.get("score_record")
    record = record if isinstance(record, dict) else {}
    score = record.get("score", 0.0)
    if min_score is not None and (not isinstance(score, int | float) or score < min_score):
        return False
    if bands is not None and record.get("band") not in bands:
        return False
    tx = alert.get("transaction")
    tx = tx if isinstance(tx, dict) else {}
    return account is None or tx.get("account_ref") == account_ref(account)


COLUMNS = (
    ("time", 19),
    ("transaction", 24),
    ("account", 12),
    ("amount", 14),
    ("merchant", 18),
    ("score", 6),
    ("band", 6),
)
# Ids and masked accounts differ at their end ("tx-4242-00000017", "********1234"): cut at the
# front, so that two alerts on the table can be told apart and matched to a payment.
KEEP_END = frozenset({"transaction", "account"})


def header() -> str:
    return "  ".join(name.ljust(width) for name, width in COLUMNS) + "  reasons"


def fit(text: str, width: int, *, keep_end: bool = False) -> str:
    if len(text) <= width:
        return text.ljust(width)
    return "\u2026" + text[-(width - 1) :] if keep_end else text[: width - 1] + "\u2026"


def row(alert: dict[str, Any]) -> str:
    tx = alert.get("transaction", {})
    score = alert.get("score_record", {})
    reasons = "; ".join(r.get("text", "") for r in score.get("reasons", [])[:3]) or "-"
    cells = (
        str(tx.get("timestamp", ""))[:19],
        str(tx.get("transaction_id", "")),
        str(tx.get("account", "")),
        f"{tx.get('amount', 0):,.2f} {tx.get('currency', '')}",
        str(tx.get("merchant") or ""),
        f"{score.get('score', 0):.3f}",
        str(score.get("band", "")),
    )
    return (
        "  ".join(
            fit(c, w, keep_end=name in KEEP_END)
            for c, (name, w) in zip(cells, COLUMNS, strict=True)
        )
        + "  "
        + reasons
    )


def render(alerts: Iterable[dict[str, Any]], as_json: bool) -> Iterable[str]:
    for alert in alerts:
        yield orjson.dumps(alert).decode() if as_json else row(alert)


async def tail(
    settings: Settings,
    *,
    follow: bool,
    min_score: float | None,
    account: str | None,
    as_json: bool,
    limit: int | None = None,
    idle_exit_s: float = 2.0,
    bands: frozenset[str] | None = None,
) -> int:
    """Print alerts from the beginning of the topic; with `follow`, keep printing new ones."""
    from aiokafka import TopicPartition

    from fraudstream.stream.clients import check_connection, make_consumer

    await check_connection(settings.kafka)
    topic = settings.topics.alerts
    consumer = make_consumer(
        settings.kafka, group_id=None, isolation_level="read_committed", fetch_max_wait_ms=200
    )
    await consumer.start()
    shown = 0
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            raise click.ClickException(
                f"topic {topic!r} does not exist yet; fix: start `fraudstream run` first"
            )
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        if not as_json:
            click.echo(header())
        last = time.monotonic()
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=1000)
            for messages in batch.values():
                for m in messages:
                    try:
                        alert = orjson.loads(m.value or b"null")
                    except orjson.JSONDecodeError:
                        continue
                    if isinstance(alert, dict) and matches(alert, min_score, account, bands):
                        for line in render([alert], as_json):
                            click.echo(line)
                        shown += 1
                        if limit is not None and shown >= limit:
                            return shown
            if batch:
                last = time.monotonic()
            if not follow:
                positions = [await consumer.position(tp) for tp in tps]
                if all(p >= end[tp] for p, tp in zip(positions, tps, strict=True)):
                    return shown
                if time.monotonic() - last > idle_exit_s * 10:
                    return shown
    finally:
        await consumer.stop()


@click.command("alerts")
@settings_options
@click.option("--alerts-topic", default=None, help="Alert topic (default from settings).")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new alerts (Ctrl-C to stop).")
@click.option("--min-score", type=float, default=None, help="Only alerts with at least this score.")
@click.option("--account", default=None, help="Only alerts of this account id.")
@click.option(
    "--band",
    "bands",
    type=click.Choice(["review", "block"]),
    multiple=True,
    help="Only alerts in this band (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@click.option("--limit", type=int, default=None, help="Stop after this many alerts.")
@friendly_errors
def alerts(
    config_file: str | None,
    bootstrap: str | None,
    alerts_topic: str | None,
    follow: bool,
    min_score: float | None,
    account: str | None,
    bands: tuple[str, ...],
    as_json: bool,
    limit: int | None,
) -> None:
    """Tail the fraud-alerts topic as a readable table (or JSON lines)."""
    settings = build_settings(
        config_file, {"kafka.bootstrap": bootstrap, "topics.alerts": alerts_topic}
    )
    try:
        asyncio.run(
            tail(
                settings,
                follow=follow,
                min_score=min_score,
                account=account,
                as_json=as_json,
                limit=limit,
                bands=frozenset(bands) or None,
            )
        )
    except KeyboardInterrupt:
        sys.exit(0)
