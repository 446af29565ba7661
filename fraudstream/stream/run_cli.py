"""`fraudstream run` (the processor) and `fraudstream config show`."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import click
import orjson

from fraudstream.cli_common import (
    build_settings,
    friendly_errors,
    settings_options,
    setup_logging,
)
from fraudstream.config import Settings


def processor_options(func: Any) -> Any:
    options = [
        click.option("--input-topic", default=None, help="Topic of transactions."),
        click.option(
            "--scores-topic", default=None, help="Topic of risk scores (every transaction)."
        ),
        click.option("--alerts-topic", default=None, help="Topic of alerts (risky transactions)."),
        click.option("--dlq-topic", default=None, help="Dead-letter topic for bad input."),
        click.option("--labels-topic", default=None, help="Topic of analyst verdicts."),
        click.option("--group-id", default=None, help="Consumer group of the processors."),
        click.option(
            "--partitions", type=int, default=None, help="Partitions of topics it creates."
        ),
        click.option(
            "--model", "model_path", default=None, help="Model folder (default: the default model)."
        ),
        click.option("--mapping", default=None, help="Field mapping: native, handbook or a file."),
        click.option(
            "--rules",
            "rules_path",
            default=None,
            help="Rule file (YAML) beside the model; reloaded on SIGHUP.",
        ),
        click.option("--device", default=None, help="auto, cpu, cuda or cuda:N."),
        click.option(
            "--latency-budget-ms", type=float, default=None, help="Latency budget per transaction."
        ),
        click.option(
            "--alert-threshold",
            type=float,
            default=None,
            help="Override the model's alert threshold.",
        ),
        click.option(
            "--processing-guarantee",
            type=click.Choice(["at_least_once", "exactly_once"]),
            default=None,
        ),
        click.option("--max-batch-size", type=int, default=None),
        click.option(
            "--web-port", type=int, default=None, help="Serve the live page and /metrics."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return settings_options(func)


def settings_from_flags(config_file: str | None, bootstrap: str | None, **flags: Any) -> Settings:
    names = {
        "input_topic": "topics.input",
        "scores_topic": "topics.scores",
        "alerts_topic": "topics.alerts",
        "dlq_topic": "topics.dlq",
        "labels_topic": "topics.labels",
        "partitions": "topics.partitions",
    }
    overrides: dict[str, Any] = {"kafka.bootstrap": bootstrap}
    for flag, value in flags.items():
        overrides[names.get(flag, flag)] = value
    return build_settings(config_file, overrides)


@click.command("run")
@processor_options
@click.option(
    "--exit-when-idle",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Stop by itself once the input has been idle this long (for scripts and tests).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes of the consumer group on this machine, sharing one model server "
    "(one per core; see stream/workers.py).",
)
@friendly_errors
def run(
    config_file: str | None,
    bootstrap: str | None,
    exit_when_idle: float | None,
    workers: int,
    **flags: Any,
) -> None:
    """Run the processor: consume transactions, publish scores, alerts and dead letters."""
    settings = settings_from_flags(config_file, bootstrap, **flags)
    setup_logging(settings)
    if workers > 1:
        from fraudstream.stream.workers import run_workers

        # the workers get this command's own options (sys.argv after `run`)
        argv = sys.argv[sys.argv.index("run") + 1 :] if "run" in sys.argv else []
        sys.exit(run_workers(settings, workers, argv))
    from fraudstream.stream.app import run_processor
    from fraudstream.stream.worker import WorkerFailed

    try:
        counters = asyncio.run(run_processor(settings, exit_when_idle=exit_when_idle))
    except WorkerFailed as exc:
        # One line, the cause in it, exit status 1: the orchestrator restarts the worker, and
        # what it had not committed is read again.
        raise click.ClickException(str(exc)) from None
    click.echo(orjson.dumps(counters, option=orjson.OPT_SORT_KEYS).decode(), err=True)


@click.group("config")
def config() -> None:
    """Inspect the effective settings."""


@config.command("show")
@processor_options
@click.option("--json", "as_json", is_flag=True, help="JSON instead of YAML.")
def show(config_file: str | None, bootstrap: str | None, as_json: bool, **flags: Any) -> None:
    """Print the effective settings (defaults < file < FRAUDSTREAM_* < flags), secrets masked."""
    settings = settings_from_flags(config_file, bootstrap, **flags)
    data = settings.redacted()
    if as_json:
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    import yaml

    yaml.safe_dump(data, sys.stdout, sort_keys=False)
