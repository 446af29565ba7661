"""`fraudstream demo`: the whole pipeline on the embedded defaults, in one command.

1. start the local Kafka broker (or use the one already running),
2. build the default model on first use,
3. create the topics, start the processor in this process,
4. send synthetic traffic (with a few malformed records) at a steady rate,
5. show scores and alerts flowing with live counts,
6. print a summary and stop everything cleanly, also on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import click
import numpy as np
import orjson

from fraudstream.config import KafkaSettings, Settings, TopicSettings

BAD_RECORDS: list[bytes] = [
    b'{"transaction_id": "broken", "amount": ',
    b'{"transaction_id": "nan-1", "account_id": "acc-x", "amount": NaN}',
    b"\xff\xfe not utf-8",
]


@dataclass
class Live:
    """What the demo shows while it runs."""

    labels: dict[str, int] = field(default_factory=dict)
    scored: int = 0
    alerts: int = 0
    dead_letters: int = 0
    stages: dict[str, int] = field(default_factory=dict)
    caught: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    recent_alerts: list[dict[str, Any]] = field(default_factory=list)

    def on_output(self, kind: str, record: dict[str, Any]) -> None:
        if kind == "dead_letter":
            self.dead_letters += 1
            return
        self.scored += 1
        self.stages[record["stage"]] = self.stages.get(record["stage"], 0) + 1
        src_ms = record["source"]["timestamp_ms"]
        if src_ms:
            self.latencies_ms.append(record["scored_at_ms"] - src_ms)
        if record["band"] != "allow":
            self.alerts += 1
            if self.labels.get(record["transaction_id"]) == 1:
                self.caught += 1
            self.recent_alerts.append(record)


def traffic(count: int, seed: int, live: Live) -> Iterator[tuple[bytes | None, bytes]]:
    from fraudstream.synth import SynthConfig, generate

    bad_every = max(1, count // (len(BAD_RECORDS) + 1))
    bad = iter(BAD_RECORDS)
    for i, record in enumerate(generate(count, SynthConfig(seed=seed))):
        label = int(record.get("metadata", {}).get("is_fraud", 0))
        live.labels[record["transaction_id"]] = label
        yield record["account_id"].encode(), orjson.dumps(record)
        if i and i % bad_every == 0:
            value = next(bad, None)
            if value is not None:
                yield b"acc-demo", value


def _bar(done: int, total: int, width: int = 24) -> str:
    filled = int(width * done / max(total, 1))
    return "#" * filled + "." * (width - filled)


async def run_demo(count: int, rate: float, seed: int, keep_broker: bool) -> int:
    from fraudstream.localkafka import LocalBroker
    from fraudstream.runtime.loader import load_scoring
    from fraudstream.stream.app import build_processor
    from fraudstream.stream.produce import produce_records

    click.echo("fraudstream demo: local Kafka broker, default model, synthetic traffic")
    broker = LocalBroker()
    already = broker.status()
    info = already if already is not None else await asyncio.to_thread(broker.up)
    click.echo(
        f"  Kafka {info.version} {'already running' if already else 'started'} at {info.bootstrap}"
    )
    run_id = uuid.uuid4().hex[:6]
    settings = Settings(
        kafka=KafkaSettings(bootstrap=info.bootstrap),
        topics=TopicSettings(
            input=f"demo-{run_id}-transactions",
            scores=f"demo-{run_id}-risk-scores",
            alerts=f"demo-{run_id}-fraud-alerts",
            dlq=f"demo-{run_id}-dead-letters",
            labels=f"demo-{run_id}-labels",
            shadow=f"demo-{run_id}-shadow",
            partitions=3,
        ),
        group_id=f"demo-{run_id}",
        max_future_skew_s=10 * 365 * 86400.0,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    live = Live()
    processor = None
    run: asyncio.Task[Any] | None = None
    try:
        scoring, spec = await asyncio.to_thread(load_scoring, settings, echo=click.echo)
        click.echo(f"  model {scoring.version}, {scoring.threshold_meaning()}")
        processor = build_processor(settings, scoring=scoring, spec=spec, listener=live.on_output)
        run = asyncio.create_task(processor.run())
        await asyncio.wait_for(processor.ready.wait(), 120)
        click.echo(
            f"  topics: {settings.topics.input} -> {settings.topics.scores}, {settings.topics.alerts}"
        )
        click.echo(f"  sending {count:,} transactions at {rate:,.0f}/s (Ctrl-C stops cleanly)\n")
        sent_box = [0]
        send = asyncio.create_task(
            produce_records(
                settings.kafka,
                settings.topics.input,
                traffic(count, seed, live),
                rate=rate,
                stop=stop,
                progress=lambda n: sent_box.__setitem__(0, n),
            )
        )
        started = time.monotonic()
        shown = 0
        # On a terminal the counts line is rewritten in place; in a log (CI, a pipe) it is
        # printed every few seconds instead of filling the file with carriage returns.
        tty = sys.stdout.isatty()
        last_line = 0.0
        while not stop.is_set():
            await asyncio.sleep(0.5)
            for record in live.recent_alerts[shown:][:3]:
                reasons = "; ".join(r["text"] for r in record["reasons"][:2]) or "-"
                line = (
                    f"  ALERT {record['transaction_id']:<14} score {record['score']:.2f} "
                    f"{record['band']:<6} {reasons}"
                )
                click.echo(("\r" if tty else "") + line[:150])
            shown = len(live.recent_alerts)
            total = count + len(BAD_RECORDS)
            done = live.scored + live.dead_letters
            elapsed = time.monotonic() - started
            status = (
                f"  [{_bar(done, total)}] sent {sent_box[0]:>7,}  scored {live.scored:>7,}  "
                f"alerts {live.alerts:>5,}  dead letters {live.dead_letters}  "
                f"{live.scored / max(elapsed, 1e-9):>6,.0f} tx/s"
            )
            finished = send.done() and done >= sent_box[0]
            if tty:
                click.echo("\r" + status, nl=False)
            elif finished or time.monotonic() - last_line >= 3.0:
                last_line = time.monotonic()
                click.echo(status)
            if finished:
                break
        click.echo("")
        elapsed = time.monotonic() - started
        if not send.done():
            send.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await send
        processor.stop()
        counters = await run
        frauds = sum(live.labels.values())
        lat = np.array(live.latencies_ms or [0.0])
        recall = live.caught / frauds if frauds else 0.0
        precision = live.caught / live.alerts if live.alerts else 0.0
        click.echo(
            f"\nsummary: {live.scored:,} transactions scored, {live.alerts:,} alerts "
            f"({live.caught}/{frauds} injected frauds caught, recall {recall:.2f}, precision "
            f"{precision:.2f}), "
            f"{live.dead_letters} dead letters, {live.scored / max(elapsed, 1e-9):,.0f} tx/s, "
            f"latency p50 {np.percentile(lat, 50):.0f} ms p99 {np.percentile(lat, 99):.0f} ms, "
            f"language model on {counters.language_model:,} ({counters.language_model / max(live.scored, 1):.0%})"
        )
        cached = counters.as_dict().get("narrative", {})
        if cached:
            click.echo(
                "narratives: "
                + ", ".join(
                    f"{name} hit rate {kept['hit_rate']:.0%} ({kept['entries']:,} held)"
                    for name, kept in cached.items()
                )
            )
        click.echo(
            f"see the alerts: fraudstream alerts --bootstrap {info.bootstrap} --alerts-topic {settings.topics.alerts}"
        )
        return 0
    finally:
        if processor is not None and run is not None and not run.done():
            # An error or Ctrl-C before the summary: drain and commit before the broker goes.
            processor.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(run, settings.shutdown_timeout_s + 5)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if not already and not keep_broker:
            await asyncio.to_thread(broker.down)
            click.echo("  local Kafka broker stopped")


@click.command("demo")
@click.option("--count", type=int, default=20_000, show_default=True, help="Transactions to send.")
@click.option(
    "--rate", type=float, default=1_000.0, show_default=True, help="Transactions per second."
)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--keep-broker", is_flag=True, help="Leave the local broker running afterwards.")
def demo(count: int, rate: float, seed: int, keep_broker: bool) -> None:
    """Run the whole pipeline on the embedded defaults and print a summary."""
    from fraudstream.logs import configure

    configure(level="WARNING")
    sys.exit(asyncio.run(run_demo(count, rate, seed, keep_broker)))
