"""`fraudstream generate`: synthetic labelled transactions to a file or a Kafka topic."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import click
import orjson

from fraudstream.cli_common import build_settings, friendly_errors, settings_options
from fraudstream.config import Settings
from fraudstream.synth import FRAUD_TYPOLOGIES, SynthConfig, to_json_line
from fraudstream.synth import generate as generate_records


class Tally:
    """Counts records by typology as they stream past (for the summary)."""

    def __init__(self) -> None:
        self.count = 0
        self.by_typology: Counter[str] = Counter()

    def watch(self, records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for record in records:
            self.count += 1
            self.by_typology[record["metadata"]["typology"]] += 1
            yield record

    @property
    def frauds(self) -> int:
        return sum(self.by_typology[t] for t in FRAUD_TYPOLOGIES)

    def summary(self) -> str:
        share = self.frauds / self.count if self.count else 0.0
        lines = [f"records: {self.count}", f"fraud: {self.frauds} ({share:.2%})"]
        lines += [f"  {t}: {self.by_typology[t]}" for t in FRAUD_TYPOLOGIES]
        benign = sorted(t for t in self.by_typology if t not in FRAUD_TYPOLOGIES)
        lines.append("legitimate: " + ", ".join(f"{t} {self.by_typology[t]}" for t in benign))
        return "\n".join(lines)


def write_json_lines(records: Iterable[dict[str, Any]], path: Path) -> None:
    """One JSON record per line; gzip-compressed when the name ends in .gz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    gz = path.suffix == ".gz"
    with gzip.open(tmp, "wb", compresslevel=6) if gz else open(tmp, "wb") as f:
        chunk: list[bytes] = []
        for record in records:
            chunk.append(to_json_line(record))
            if len(chunk) >= 4096:
                f.write(b"".join(chunk))
                chunk.clear()
        f.write(b"".join(chunk))
    tmp.replace(path)  # a half-written file never carries the final name


def publish_to_topic(
    records: Iterable[dict[str, Any]], topic: str, rate: float | None, settings: Settings
) -> None:
    """Send the records to `topic` (key = account_id), at `rate` records/s if given; the topic
    is created when missing. Imported lazily so that writing a file needs no Kafka client."""
    from fraudstream.localkafka.topics import TopicSpec, ensure_topics
    from fraudstream.stream.produce import produce_records
    from fraudstream.stream.topics import INPUT_MAX_MESSAGE_BYTES, split_kwargs

    async def main() -> None:
        bootstrap, kwargs = split_kwargs(settings)
        spec = TopicSpec(
            settings.topics.partitions,
            settings.topics.replication,
            {"max.message.bytes": str(INPUT_MAX_MESSAGE_BYTES)},
        )
        await ensure_topics(bootstrap, {topic: spec}, client_kwargs=kwargs)
        pairs = ((r["account_id"].encode(), orjson.dumps(r)) for r in records)
        await produce_records(settings.kafka, topic, pairs, rate=rate)

    asyncio.run(main())


@click.command()
@click.option(
    "--count", "-n", type=click.IntRange(min=0), required=True, help="Records to generate."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same records.")
@click.option("--topic", type=str, default=None, help="Kafka topic to produce to.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="JSON-lines file to write (gzip if it ends in .gz).",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Records per second when producing to --topic (default: as fast as possible).",
)
@click.option(
    "--fraud-rate",
    type=click.FloatRange(0.0, 0.5),
    default=0.02,
    show_default=True,
    help="Approximate share of fraudulent records.",
)
@click.option("--accounts", type=click.IntRange(min=20), default=2000, show_default=True)
@click.option(
    "--memo-split",
    type=click.Choice(["train", "heldout", "all"]),
    default="train",
    show_default=True,
    help="Memo families to write with: train (what models learn from), heldout (wording no "
    "training file holds, for evaluation) or all.",
)
@settings_options
@friendly_errors
def generate(
    config_file: str | None,
    bootstrap: str | None,
    count: int,
    seed: int,
    topic: str | None,
    out: Path | None,
    rate: float | None,
    fraud_rate: float,
    accounts: int,
    memo_split: str,
) -> None:
    """Generate synthetic labelled transactions (label in metadata.is_fraud / .typology)."""
    if (topic is None) == (out is None):
        raise click.UsageError("give exactly one of --topic and --out")
    if rate is not None and topic is None:
        raise click.UsageError("--rate applies to --topic only")
    config = SynthConfig(
        seed=seed,
        fraud_rate=fraud_rate,
        accounts=accounts,
        memo_split=memo_split,  # type: ignore[arg-type]  # click.Choice checked it
    )
    tally = Tally()
    records = tally.watch(generate_records(count, config))
    started = time.perf_counter()
    if out is not None:
        write_json_lines(records, out)
        where = str(out)
    else:
        assert topic is not None
        settings = build_settings(config_file, {"kafka.bootstrap": bootstrap})
        publish_to_topic(records, topic, rate, settings)
        where = f"topic {topic}"
    elapsed = time.perf_counter() - started
    click.echo(f"wrote {tally.count} records to {where} in {elapsed:.1f}s (seed {seed})")
    click.echo(tally.summary())
