"""The `fraudstream` command.

Each subcommand lives next to the code it drives and is imported only when it is invoked, so that
`fraudstream kafka status` does not pay for importing torch.
"""

from __future__ import annotations

import importlib

import click

# name -> "module:attribute" of a click command or group
COMMANDS: dict[str, str] = {
    "alerts": "fraudstream.alerts_cli:alerts",
    "bench-state": "fraudstream.features.state_bench:bench_state",
    "bench-model": "fraudstream.model.bench_cli:bench_model",
    "chaos": "loadtest.chaos:chaos",
    "compare-models": "fraudstream.compare_cli:compare_models",
    "config": "fraudstream.stream.run_cli:config",
    "demo": "fraudstream.demo:demo",
    "evaluate": "fraudstream.model.evaluate_cli:evaluate",
    "evaluate-text": "fraudstream.model.text_recipes_cli:evaluate_text",
    "generate": "fraudstream.synth_cli:generate",
    "kafka": "fraudstream.localkafka.cli:kafka",
    "label": "fraudstream.label_cli:label",
    "loadtest": "loadtest.cli:loadtest",
    "replay": "fraudstream.stream.replay_cli:replay",
    "run": "fraudstream.stream.run_cli:run",
    "train": "fraudstream.model.train_cli:train",
    "web": "fraudstream.web.standalone:web",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fraudstream")
def main() -> None:
    """Real-time transaction fraud scoring on Kafka."""
