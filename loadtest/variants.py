"""The four ways to turn transactions into scores that `--compare` puts side by side, and the
command that starts each as a process of its own (like production).

* `scheduler`     (a) fraudstream as is: `fraudstream run` (deadline-aware micro-batching)
* `faust`         (b) the same core in a Faust agent batching with `take(max, within)`
* `one-at-a-time` (c) `fraudstream run --max-batch-size 1`
* `passthrough`   (d) consume, produce, commit; no model: the ceiling

With `fake` set, (a), (b) and (c) run `testing.FakeScoring` with that simulated cost instead of
the model folder (`python -m loadtest.serve ...`): for CI and development only.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    letter: str
    label: str
    uses_model: bool


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("scheduler", "a", "fraudstream scheduler", True),
        Variant("faust", "b", "Faust take(max, within)", True),
        Variant("one-at-a-time", "c", "one at a time (batch 1)", True),
        Variant("passthrough", "d", "raw passthrough (no model)", False),
    )
}


@dataclass(frozen=True, slots=True)
class FakeCost:
    item_us: float
    batch_us: float


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str

    @property
    def input(self) -> str:
        return f"{self.prefix}-tx"

    @property
    def scores(self) -> str:
        return f"{self.prefix}-scores"

    @property
    def alerts(self) -> str:
        return f"{self.prefix}-alerts"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}-dlq"

    @property
    def labels(self) -> str:
        return f"{self.prefix}-labels"

    @property
    def group(self) -> str:
        return f"{self.prefix}-g"

    def all(self) -> list[str]:
        return [
            self.input,
            self.scores,
            self.alerts,
            self.dlq,
            self.labels,
            f"{self.group}-features-changelog",
        ]


@dataclass(frozen=True, slots=True)
class Launch:
    """How the processes under test are configured (same for every variant but its own knobs)."""

    bootstrap: str
    config_file: str | None = None
    partitions: int = 3
    budget_ms: float = 50.0
    processor_budget_ms: float | None = None
    """The `--latency-budget-ms` given to the processes under test (default: `budget_ms`); the
    processor counts it from the record's Kafka timestamp (`deadline_from: produced`), so the
    time in the input topic is in it and the hop to the collector is not."""
    model: str | None = None
    max_batch_size: int | None = None
    fake: FakeCost | None = None
    faust_take: int = 256
    faust_within_ms: float = 10.0
    cascade_band: str | None = None
    """`low,high`: stage-1 scores in [low, high) go to the language model (`0,1`: all of them);
    None: the model's own band."""
    workers: int = 1
    """`fraudstream run --workers N` (variants a and c): N members of the group, one model
    server."""

    def env(self) -> dict[str, str]:
        """Settings the processes under test take from the environment."""
        return {} if self.cascade_band is None else {"FRAUDSTREAM_CASCADE_BAND": self.cascade_band}


def fraudstream_command() -> list[str]:
    """The installed `fraudstream` command next to this interpreter, or the module."""
    exe = Path(sys.executable).parent / "fraudstream"
    if exe.is_file():
        return [str(exe)]
    return [sys.executable, "-c", "from fraudstream.cli import main; main()"]


def command(variant: Variant, topics: Topics, launch: Launch, datadir: Path) -> list[str]:
    """The argv that starts `variant` on `topics`."""
    common = ["--bootstrap", launch.bootstrap]
    if launch.config_file:
        common += ["--config", launch.config_file]
    common += [
        "--input-topic",
        topics.input,
        "--scores-topic",
        topics.scores,
        "--group-id",
        topics.group,
        "--partitions",
        str(launch.partitions),
    ]
    if variant.name == "passthrough":
        return [sys.executable, "-m", "loadtest.passthrough_variant", *common]
    common += [
        "--alerts-topic",
        topics.alerts,
        "--dlq-topic",
        topics.dlq,
        "--labels-topic",
        topics.labels,
        "--latency-budget-ms",
        f"{launch.processor_budget_ms or launch.budget_ms:g}",
    ]
    if launch.model and launch.fake is None:
        common += ["--model", launch.model]
    fake: list[str] = []
    if launch.fake is not None:
        fake = [
            "--fake-item-us",
            f"{launch.fake.item_us:g}",
            "--fake-batch-us",
            f"{launch.fake.batch_us:g}",
        ]
    if variant.name == "faust":
        knobs = [
            "--take",
            str(launch.faust_take),
            "--within-ms",
            f"{launch.faust_within_ms:g}",
            "--datadir",
            str(datadir),
        ]
        if launch.fake is not None:
            return [sys.executable, "-m", "loadtest.serve", "faust", *common, *fake, *knobs]
        return [sys.executable, "-m", "loadtest.faust_variant", *common, *knobs]
    batch = 1 if variant.name == "one-at-a-time" else launch.max_batch_size
    if batch is not None:
        common += ["--max-batch-size", str(batch)]
    if launch.fake is not None:
        return [sys.executable, "-m", "loadtest.serve", "processor", *common, *fake]
    if launch.workers > 1:
        common += ["--workers", str(launch.workers)]
    return [*fraudstream_command(), "run", *common]
