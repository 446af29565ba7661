"""The `fraudstream` command.

Each subcommand lives next to the code it drives and is imported only when it is invoked, so that
`fraudstream kafka status` does not pay for importing torch.

The product's own commands are listed in `COMMANDS`. Commands that live outside the product
package (the load test's `loadtest` and `chaos`) are found through the `fraudstream.commands`
entry-point group, declared in pyproject.toml: the product never imports them by name, and an
installation without them simply does not list them.
"""

from __future__ import annotations

import importlib
from importlib.metadata import EntryPoint, entry_points

import click

ENTRY_POINT_GROUP = "fraudstream.commands"

# name -> "module:attribute" of a click command or group
COMMANDS: dict[str, str] = {
    "alerts": "fraudstream.alerts_cli:alerts",
    "bench-state": "fraudstream.features.state_bench:bench_state",
    "bench-model": "fraudstream.model.bench_cli:bench_model",
    "compare-models": "fraudstream.compare_cli:compare_models",
    "config": "fraudstream.stream.run_cli:config",
    "demo": "fraudstream.demo:demo",
    "evaluate": "fraudstream.model.evaluate_cli:evaluate",
    "evaluate-text": "fraudstream.model.text_recipes_cli:evaluate_text",
    "generate": "fraudstream.synth_cli:generate",
    "kafka": "fraudstream.localkafka.cli:kafka",
    "label": "fraudstream.label_cli:label",
    "replay": "fraudstream.stream.replay_cli:replay",
    "run": "fraudstream.stream.run_cli:run",
    "train": "fraudstream.model.train_cli:train",
    "web": "fraudstream.web.standalone:web",
}


def plugin_commands() -> dict[str, EntryPoint]:
    """The commands other installed packages add through the entry-point group (name -> entry
    point); a built-in command's name is never taken over."""
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in COMMANDS:
            found.setdefault(ep.name, ep)
    return found


def _unavailable(name: str, target: str, exc: Exception) -> click.Command:
    """A stand-in for an entry-point command that cannot be imported: listed with the reason,
    and failing with it when invoked, instead of breaking every other command's `--help`."""
    reason = f"{target} cannot be imported: {type(exc).__name__}: {exc}"

    def fail() -> None:
        raise click.ClickException(reason)

    return click.Command(
        name,
        callback=fail,
        help=f"(unavailable: {reason})",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


def _as_command(command: object, target: str) -> click.Command:
    if not isinstance(command, click.Command):
        raise TypeError(f"{target} is not a click command")
    return command


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *plugin_commands()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is not None:
            module_name, _, attr = target.partition(":")
            return _as_command(getattr(importlib.import_module(module_name), attr), target)
        ep = plugin_commands().get(cmd_name)
        if ep is None:
            return None
        try:
            command = ep.load()
        except ImportError as exc:
            return _unavailable(cmd_name, ep.value, exc)
        return _as_command(command, ep.value)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fraudstream")
def main() -> None:
    """Real-time transaction fraud scoring on Kafka."""
