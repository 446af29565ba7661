"""Options shared by the commands, and the one way they turn into `Settings`."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import click

from fraudstream.config import ConfigError, Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])


def settings_options(func: F) -> F:
    """`--config FILE` and `--bootstrap HOST:PORT`, for every command that talks to Kafka."""
    func = click.option(
        "--bootstrap",
        metavar="HOST:PORT",
        default=None,
        help="Kafka bootstrap servers (default: the local broker when it runs).",
    )(func)
    func = click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        default=None,
        help="YAML settings file (default: $FRAUDSTREAM_CONFIG).",
    )(func)
    return func


def build_settings(config_file: str | None, overrides: dict[str, Any]) -> Settings:
    """Settings from file, environment and flags; a bad value ends the command with a message
    naming the field and the fix (no traceback)."""
    try:
        return load_settings(config_file=config_file, overrides=overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def friendly_errors(func: F) -> F:
    """Turn expected failures (bad config, missing broker) into one-line messages."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def setup_logging(settings: Settings) -> None:
    from fraudstream.logs import configure

    configure(level=settings.log_level, fmt=settings.log_format)


def quiet_third_party() -> None:
    # aiokafka logs every coordinator hiccup at WARNING/ERROR during normal rebalances.
    for name in ("aiokafka", "kafka"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
