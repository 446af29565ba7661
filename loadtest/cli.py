"""`fraudstream loadtest`: open-loop load, end-to-end latency, sweeps and side-by-side runs.

    fraudstream loadtest --rate 2000 --duration 15            one step against `fraudstream run`
    fraudstream loadtest --sweep                              highest rate with p99 <= budget
    fraudstream loadtest --compare --json                     (a) scheduler (b) Faust take()
                                                              (c) one at a time (d) passthrough

Every run writes `report.json` and `report.png` (and the processes' logs) under `--out`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import orjson

from fraudstream.cli_common import build_settings, quiet_third_party, settings_options
from loadtest.display import Display
from loadtest.sweep import SweepSearch
from loadtest.variants import VARIANTS, FakeCost, Launch

ALL_VARIANTS = ",".join(VARIANTS)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "fraudstream" / "loadtest"


@contextlib.contextmanager
def broker_for(start: bool, bootstrap: str | None) -> Iterator[str | None]:
    """A temporary local broker when asked for, else the given (or default) bootstrap."""
    if not start:
        yield bootstrap
        return
    from fraudstream.localkafka import LocalBroker, free_port

    with tempfile.TemporaryDirectory(prefix="fraudstream-loadtest-kafka-") as home:
        broker = LocalBroker(Path(home), port=free_port())
        info = broker.up()
        try:
            yield info.bootstrap
        finally:
            broker.down()


@click.command("loadtest")
@settings_options
@click.option("--start-broker", is_flag=True, help="Run against a temporary local broker.")
@click.option(
    "--variant",
    type=click.Choice(list(VARIANTS)),
    default="scheduler",
    show_default=True,
    help="What to load (single run and --sweep).",
)
@click.option("--rate", type=float, default=1000.0, show_default=True, help="Records/s (single).")
@click.option(
    "--duration",
    "step_s",
    type=float,
    default=None,
    help="Seconds per step [default: 15 single, 10 sweep/compare].",
)
@click.option("--sweep", is_flag=True, help="Find the highest rate with p99 within the budget.")
@click.option("--compare", is_flag=True, help="Sweep every variant side by side in one run.")
@click.option("--variants", default=ALL_VARIANTS, show_default=True, help="For --compare.")
@click.option("--common-rate", type=float, default=None, help="[default: half of (a)'s best]")
@click.option("--start-rate", type=float, default=500.0, show_default=True)
@click.option("--max-rate", type=float, default=50_000.0, show_default=True)
@click.option("--min-rate", type=float, default=None, help="Sweep floor [default: start rate / 8].")
@click.option("--factor", type=float, default=2.0, show_default=True, help="Sweep ramp factor.")
@click.option(
    "--precision", type=float, default=0.15, show_default=True, help="Sweep stops at hi/lo-1."
)
@click.option("--max-steps", type=int, default=10, show_default=True, help="Per sweep.")
@click.option(
    "--retries",
    type=int,
    default=0,
    show_default=True,
    help="Run a failed sweep step again up to N times (noisy machine); any pass counts.",
)
@click.option(
    "--budget-ms", type=float, default=50.0, show_default=True, help="End-to-end p99 budget."
)
@click.option(
    "--processor-budget-ms",
    type=float,
    default=None,
    help="--latency-budget-ms of the processes under test [default: --budget-ms].",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="`fraudstream run --workers N` for the variants that run the processor (a and c).",
)
@click.option("--warmup", "warmup_s", type=float, default=3.0, show_default=True)
@click.option("--warmup-rate", type=float, default=None, help="[default: min(500, first rate)]")
@click.option(
    "--drain", "drain_s", type=float, default=8.0, show_default=True, help="Wait for late scores."
)
@click.option(
    "--settle",
    "settle_s",
    type=float,
    default=60.0,
    show_default=True,
    help="After a failed step, wait this long for the processor to catch up before restarting it.",
)
@click.option(
    "--broker-warmup-rate",
    type=float,
    default=2000.0,
    show_default=True,
    help="--sweep, --compare: first run the passthrough one step at this rate, results "
    "discarded, so that the broker's JVM has compiled its hot paths before the measured runs "
    "(0: skip).",
)
@click.option("--startup-timeout", type=float, default=240.0, show_default=True)
@click.option("--partitions", type=int, default=3, show_default=True)
@click.option("--model", default=None, help="Model folder (default: the default model).")
@click.option("--max-batch-size", type=int, default=None, help="For (a) [default: settings].")
@click.option(
    "--cascade-band",
    default=None,
    metavar="LOW,HIGH",
    help="Stage-1 scores in [LOW, HIGH) go to the language model (0,1: all) [default: the model's].",
)
@click.option("--faust-take", type=int, default=256, show_default=True)
@click.option("--faust-within-ms", type=float, default=10.0, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True, help="Synthetic data seed.")
@click.option("--pool", "pool_size", type=int, default=50_000, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the report (no series) on stdout.")
@click.option("--quiet", is_flag=True, help="No live display.")
@click.option("--keep-topics", is_flag=True)
@click.option("--no-abort", is_flag=True, help="Run failing steps to their end.")
@click.option(
    "--profile", is_flag=True, help="Sample the processes under test with py-spy (if installed)."
)
@click.option(
    "--clients",
    "clients",
    type=click.IntRange(min=1000),
    default=None,
    help="Instead: measure the Kafka clients' own CPU per record, aiokafka against "
    "confluent-kafka, with this many records each (loadtest/client_bench.py).",
)
@click.option("--fake-model-cost-us", type=float, default=None, hidden=True)
@click.option("--fake-batch-cost-us", type=float, default=1000.0, hidden=True)
def loadtest(**kw: Any) -> None:
    """Load the processor open-loop and measure end-to-end latency and throughput."""
    if kw["sweep"] and kw["compare"]:
        raise click.UsageError("--sweep and --compare are exclusive")
    names = [n.strip() for n in kw["variants"].split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise click.UsageError(f"unknown variants {unknown}; known: {ALL_VARIANTS}")
    mode = "compare" if kw["compare"] else "sweep" if kw["sweep"] else "single"
    quiet_third_party()
    if kw["clients"] is not None:
        from loadtest.bench_pipeline import run as bench_pipeline
        from loadtest.client_bench import measure as measure_clients

        click.echo("the event loop's own cost per record (bench_pipeline)...", err=True)
        pipeline = bench_pipeline(kw["model"], 20_000, 200, [64])["event_loop_us_total"]
        with broker_for(kw["start_broker"], kw["bootstrap"]) as bootstrap:
            settings = build_settings(kw["config_file"], {"kafka.bootstrap": bootstrap})
            from fraudstream.stream.clients import resolve_bootstrap

            result = measure_clients(
                resolve_bootstrap(settings.kafka), kw["clients"], 3, pipeline_us=pipeline
            )
        click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out: Path = kw["out"] or Path("loadtest-results") / f"{stamp}-{mode}"
    out.mkdir(parents=True, exist_ok=True)
    display = Display(quiet=kw["quiet"])
    fake = kw["fake_model_cost_us"]
    if fake is None and (mode != "single" or kw["variant"] != "passthrough") and not kw["model"]:
        from fraudstream.runtime.loader import ensure_default_model

        ensure_default_model(echo=lambda m: click.echo(m, err=True))
    with broker_for(kw["start_broker"], kw["bootstrap"]) as bootstrap:
        settings = build_settings(kw["config_file"], {"kafka.bootstrap": bootstrap})
        from fraudstream.stream.clients import resolve_bootstrap

        launch = Launch(
            bootstrap=resolve_bootstrap(settings.kafka),
            config_file=kw["config_file"],
            partitions=kw["partitions"],
            budget_ms=kw["budget_ms"],
            processor_budget_ms=kw["processor_budget_ms"],
            model=kw["model"],
            max_batch_size=kw["max_batch_size"],
            fake=None if fake is None else FakeCost(fake, kw["fake_batch_cost_us"]),
            faust_take=kw["faust_take"],
            faust_within_ms=kw["faust_within_ms"],
            cascade_band=kw["cascade_band"],
            workers=kw["workers"],
        )
        report = asyncio.run(_run(mode, names, kw, settings, launch, out, display))
    from loadtest.report import compact, plot, write_json

    json_path = write_json(report, out / "report.json")
    png_path = plot(report, out / "report.png")
    display.done(f"report: {json_path}  {png_path}")
    if kw["as_json"]:
        click.echo(orjson.dumps(compact(report), option=orjson.OPT_INDENT_2).decode())
    if any(v.get("error") for v in report["variants"].values()):
        sys.exit(1)


def command_line() -> str:
    """The command as given (options left at their defaults omitted), to rerun it."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return "fraudstream loadtest"
    words = ["fraudstream", "loadtest"]
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name is None:
            continue
        value = ctx.params.get(param.name)
        if value == param.default or value is None:
            continue
        flag = max(param.opts, key=len)
        if param.is_flag:
            words.append(flag)
        else:
            words += [flag, shlex.quote(str(value))]
    return " ".join(words)


async def _run(
    mode: str,
    names: list[str],
    kw: dict[str, Any],
    settings: Any,
    launch: Launch,
    out: Path,
    display: Display,
) -> dict[str, Any]:
    from loadtest.data import write_pool
    from loadtest.harness import Harness, Options, VariantRun, common_rate_of
    from loadtest.report import goals, machine

    step_s = kw["step_s"] or (15.0 if mode == "single" else 10.0)
    first_rate = kw["rate"] if mode == "single" else kw["start_rate"]
    opts = Options(
        kafka=settings.kafka,
        launch=launch,
        out=out,
        step_s=step_s,
        warmup_s=kw["warmup_s"],
        warmup_rate=kw["warmup_rate"] or min(500.0, first_rate),
        drain_s=kw["drain_s"],
        settle_s=kw["settle_s"],
        retries=kw["retries"],
        startup_timeout_s=kw["startup_timeout"],
        seed=kw["seed"],
        pool_size=kw["pool_size"],
        abort_early=not kw["no_abort"],
        keep_topics=kw["keep_topics"],
        profile=kw["profile"],
    )
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    pool = write_pool(cache / f"pool-{opts.seed}-{opts.pool_size}.jsonl", opts.pool_size, opts.seed)

    def search() -> SweepSearch:
        return SweepSearch(
            start=kw["start_rate"],
            factor=kw["factor"],
            max_rate=kw["max_rate"],
            min_rate=kw["min_rate"] or kw["start_rate"] / 8,
            precision=kw["precision"],
            max_steps=kw["max_steps"],
        )

    started = datetime.now(UTC)
    load_start = os.getloadavg()
    t0 = time.monotonic()
    runs: list[VariantRun] = []
    common: float | None = kw["common_rate"]
    async with Harness(opts, pool, display) as h:
        if mode != "single" and kw["broker_warmup_rate"] > 0:
            # A fresh broker runs interpreted for its first minute or so: whoever ran first
            # (always (a)) met a slower broker than the others. Measured on a fresh broker,
            # (a) failed 500 tx/s twice where it passes 600 on a warm one.
            await h.run_variant(
                VARIANTS["passthrough"], rates=[(kw["broker_warmup_rate"], "broker-warm-up")]
            )
        if mode == "single":
            runs.append(await h.run_variant(VARIANTS[kw["variant"]], rates=[(kw["rate"], "fixed")]))
        elif mode == "sweep":
            runs.append(await h.run_variant(VARIANTS[kw["variant"]], sweep=search()))
        else:
            ordered = sorted(names, key=lambda n: n != "scheduler")  # (a) first: it sets the rate
            for name in ordered:
                if common is None and name == "scheduler":

                    def after(vr: VariantRun) -> list[tuple[float, str]]:
                        nonlocal common
                        assert vr.sweep is not None
                        common = common_rate_of(vr.sweep.best, kw["start_rate"])
                        return [(common, "common-rate")]

                    runs.append(await h.run_variant(VARIANTS[name], sweep=search(), after=after))
                    continue
                if common is None:
                    common = kw["start_rate"]
                runs.append(
                    await h.run_variant(
                        VARIANTS[name], rates=[(common, "common-rate")], sweep=search()
                    )
                )
    variants = {vr.variant.name: vr.as_dict(common) for vr in runs}
    report: dict[str, Any] = {
        "schema": "fraudstream-loadtest/1",
        "mode": mode,
        "command": command_line(),
        "started_at": started.isoformat(timespec="seconds"),
        "elapsed_s": round(time.monotonic() - t0, 1),
        "machine": machine(),
        "load_avg_start": [round(x, 2) for x in load_start],
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "config": {
            "bootstrap": launch.bootstrap,
            "budget_ms": launch.budget_ms,
            "processor_budget_ms": launch.processor_budget_ms or launch.budget_ms,
            "step_s": step_s,
            "warmup_s": opts.warmup_s,
            "warmup_rate": opts.warmup_rate,
            "broker_warmup_rate": kw["broker_warmup_rate"] if mode != "single" else None,
            "drain_s": opts.drain_s,
            "retries": opts.retries,
            "partitions": launch.partitions,
            "model": (
                f"fake (per item {launch.fake.item_us:g} us, per batch {launch.fake.batch_us:g} us)"
                if launch.fake
                else launch.model or "default model"
            ),
            "max_batch_size": launch.max_batch_size,
            "workers": launch.workers,
            "cascade_band": launch.cascade_band or "the model's",
            "faust": {"take": launch.faust_take, "within_ms": launch.faust_within_ms},
            "data": {"generator": "fraudstream.synth", "seed": opts.seed, "pool": opts.pool_size},
            "latency": "intended send time (open-loop schedule) -> score read by the collector",
            "percentiles": "nearest rank; unscored records count with their wait so far",
        },
        "common_rate": common,
        "variants": variants,
        "files": {"dir": str(out)},
    }
    if mode == "compare":
        report["goals"] = goals(variants, launch.budget_ms)
    return report
