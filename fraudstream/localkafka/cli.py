"""`fraudstream kafka up|down|status`: the local broker from the shell.

Expected failures (no java, a busy port, a broker that would not start) are LocalKafkaError and
become one click error message each, without a traceback. Importing this module does not import
aiokafka, so `status` and `down` stay quick.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from fraudstream.localkafka.broker import BrokerInfo, LocalBroker
from fraudstream.localkafka.errors import LocalKafkaError
from fraudstream.localkafka.jars import is_resolved

home_option = click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Broker home (data, logs, config). Default: $FRAUDSTREAM_HOME/kafka or "
    "~/.local/share/fraudstream/kafka.",
)


def _describe(info: BrokerInfo) -> str:
    return f"Kafka {info.version} is up at {info.bootstrap} (pid {info.pid}, data: {info.home})"


@click.group(name="kafka")
def kafka() -> None:
    """A local Apache Kafka broker (KRaft, single node, 127.0.0.1 only) for development and
    tests."""


@kafka.command()
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Client port.")
@home_option
@click.option(
    "--timeout", type=float, default=120.0, show_default=True, help="Seconds to wait for it."
)
def up(port: int | None, home: Path | None, timeout: float) -> None:
    """Start the broker (or find it running) and print its bootstrap address."""
    broker = LocalBroker(home, port=port)
    running = broker.status()
    if running is None and not is_resolved(broker.version):
        click.echo(
            f"Fetching the Kafka {broker.version} jars from Maven Central (once)...", err=True
        )
    try:
        info = broker.up(timeout=timeout)
    except LocalKafkaError as exc:
        raise click.ClickException(str(exc)) from exc
    if running is not None and port is not None and port != running.port:
        click.echo(f"(already running on port {running.port}; --port {port} ignored)", err=True)
    click.echo(_describe(info))


@kafka.command()
@home_option
@click.option("--timeout", type=float, default=30.0, show_default=True, help="SIGKILL after.")
def down(home: Path | None, timeout: float) -> None:
    """Stop the broker; its data stays for the next `up`. Not running is no error."""
    broker = LocalBroker(home)
    try:
        stopped = broker.down(timeout=timeout)
    except LocalKafkaError as exc:
        raise click.ClickException(str(exc)) from exc
    if stopped:
        click.echo(f"Kafka stopped (data kept in {broker.home})")
    else:
        click.echo(f"Kafka was not running (home: {broker.home})")


@kafka.command()
@home_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead.")
@click.pass_context
def status(ctx: click.Context, home: Path | None, as_json: bool) -> None:
    """Say whether the broker runs, and where. Exit status 0 if it runs, 1 if not."""
    broker = LocalBroker(home)
    info = broker.status()
    if as_json:
        body = {"running": True, **info.to_json()} if info else {"running": False}
        click.echo(json.dumps({"home": str(broker.home), **body}))
    elif info is not None:
        click.echo(_describe(info))
    else:
        click.echo(f"Kafka is not running (home: {broker.home})")
    ctx.exit(0 if info is not None else 1)
