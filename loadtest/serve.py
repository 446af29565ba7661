"""Entry points of the processes under test, with the fake model (for CI and for developing):

    python -m loadtest.serve processor --fake-item-us 300 --fake-batch-us 2000 <run flags>
    python -m loadtest.serve faust --fake-item-us 300 ... --take 256 --within-ms 10

`processor` is `fraudstream run` with `testing.FakeScoring` (a simulated model cost, no torch)
instead of the model folder; `faust` is `loadtest.faust_variant` likewise. With the real
model the load test starts `fraudstream run` and `python -m loadtest.faust_variant`
themselves.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click
import orjson

from fraudstream.cli_common import setup_logging
from fraudstream.config import Settings


def fake_scoring(item_us: float, batch_us: float) -> Any:
    from fraudstream.testing import FakeScoring

    return FakeScoring(per_item_delay_s=item_us / 1e6, batch_delay_s=batch_us / 1e6)


def _fake_options(func: Any) -> Any:
    func = click.option("--fake-batch-us", type=float, default=0.0)(func)
    func = click.option("--fake-item-us", type=float, default=0.0)(func)
    return func


def _settings(config_file: str | None, bootstrap: str | None, flags: dict[str, Any]) -> Settings:
    from fraudstream.stream.run_cli import settings_from_flags

    return settings_from_flags(config_file, bootstrap, **flags)


@click.group()
def main() -> None:
    """Processes under test for `fraudstream loadtest`, with a fake model."""


def _processor_command() -> click.Command:
    from fraudstream.stream.run_cli import processor_options

    @click.command("processor")
    @processor_options
    @_fake_options
    def processor(
        config_file: str | None,
        bootstrap: str | None,
        fake_item_us: float,
        fake_batch_us: float,
        **flags: Any,
    ) -> None:
        from fraudstream.features import FeatureSpec
        from fraudstream.stream.app import run_processor

        settings = _settings(config_file, bootstrap, flags)
        setup_logging(settings)
        counters = asyncio.run(
            run_processor(
                settings,
                scoring=fake_scoring(fake_item_us, fake_batch_us),
                spec=FeatureSpec.native(),
            )
        )
        click.echo(orjson.dumps(counters, option=orjson.OPT_SORT_KEYS).decode(), err=True)

    return processor


def _faust_command() -> click.Command:
    from fraudstream.stream.run_cli import processor_options

    @click.command("faust")
    @processor_options
    @_fake_options
    @click.option("--take", type=int, default=256)
    @click.option("--within-ms", type=float, default=10.0)
    @click.option("--datadir", type=click.Path(file_okay=False, path_type=Path), default=None)
    def faust(
        config_file: str | None,
        bootstrap: str | None,
        fake_item_us: float,
        fake_batch_us: float,
        take: int,
        within_ms: float,
        datadir: Path | None,
        **flags: Any,
    ) -> None:
        from fraudstream.features import FeatureSpec
        from loadtest.faust_variant import serve

        settings = _settings(config_file, bootstrap, flags)
        setup_logging(settings)
        serve(
            settings,
            fake_scoring(fake_item_us, fake_batch_us),
            FeatureSpec.native(),
            take=take,
            within_s=within_ms / 1000.0,
            datadir=datadir,
        )

    return faust


main.add_command(_processor_command())
main.add_command(_faust_command())


if __name__ == "__main__":
    main()
