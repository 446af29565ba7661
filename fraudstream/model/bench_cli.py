"""The `fraudstream bench-model` command (see `fraudstream.model.bench`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from fraudstream.model.presets import PRESETS


def _ints(value: str) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: give comma-separated integers, e.g. 1,16,64"
        ) from None
    if not out or min(out) < 1:
        raise click.BadParameter(f"{value!r}: give positive integers, e.g. 1,16,64")
    return out


@click.command("bench-model")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default="tiny", show_default=True)
@click.option(
    "--model",
    "model_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Time this model folder instead of the preset with random weights.",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N")
@click.option(
    "--dtype",
    type=click.Choice(["auto", "fp32", "bf16"]),
    default="auto",
    show_default=True,
    help="Optimised path's dtype; auto: bf16 on CUDA and on CPUs with bf16 kernels.",
)
@click.option("--batch-sizes", default="1,16,64,256", show_default=True)
@click.option(
    "--lengths",
    default="8,16,32,synth",
    show_default=True,
    help="Narrative lengths in tokens; 'synth': the synthetic data's own length mix.",
)
@click.option(
    "--compile/--no-compile",
    "use_compile",
    default=None,
    help="torch.compile the optimised path [default: on for CUDA, off for CPU].",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Torch CPU threads (one is fastest on a small shared machine).",
)
@click.option("--seconds", type=click.FloatRange(min=0.01), default=0.5, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True)
@click.option(
    "--stream-cache",
    type=click.IntRange(min=100),
    default=None,
    help="Also score N generated transactions in arrival order through the model folder "
    "(--model, default: the default model), without and with the narrative cache.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout.")
def bench_model(
    preset: str,
    model_dir: Path | None,
    device: str,
    dtype: str,
    batch_sizes: str,
    lengths: str,
    use_compile: bool | None,
    threads: int,
    seconds: float,
    repeats: int,
    stream_cache: int | None,
    as_json: bool,
) -> None:
    """Transactions/s and ms/batch of the classifier: optimised path next to plain fp32 eager.

    Model only (token ids are made up front): the forward pass and the copy of the scores back.
    """
    from fraudstream.model.bench import BenchOptions, run_bench

    sizes = _ints(batch_sizes)
    settings = tuple(s.strip() for s in lengths.split(",") if s.strip())
    if not settings:
        raise click.BadParameter("give at least one length", param_hint="--lengths")
    options = BenchOptions(
        preset=preset,
        model_dir=model_dir,
        device=device,
        dtype=dtype,
        batch_sizes=sizes,
        lengths=settings,
        compile=use_compile,
        threads=threads,
        seconds=seconds,
        repeats=repeats,
    )

    def log(msg: str) -> None:
        click.echo(msg, err=as_json)

    try:
        result = run_bench(options, log=log)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if stream_cache is not None:
        from fraudstream.model.bench import bench_cache
        from fraudstream.runtime.loader import ensure_default_model

        folder = model_dir or ensure_default_model(echo=log)
        result.setup["stream_cache"] = bench_cache(
            Path(folder), count=stream_cache, threads=threads, log=log
        )
    setup = result.setup
    if not as_json:
        click.echo(
            f"{setup['preset']} ({setup['parameters']:,} parameters) on {setup['device']}, "
            f"{setup['threads']} threads, torch {setup['torch']}; optimised: "
            f"{setup['optimised']['dtype']}, inference_mode, length buckets, "
            f"compile {setup['optimised']['compile']}"
        )
        if setup["gpu"] is None:
            click.echo("no GPU on this machine: CPU figures only")
    else:
        json.dump({"setup": setup, "results": result.rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
