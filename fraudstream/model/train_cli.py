"""`fraudstream train`: a records file in, a model folder out."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from fraudstream.model.presets import PRESETS


@click.command("train")
@click.option(
    "--data",
    "data",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Records file (.csv/.jsonl, optionally .gz), in time order.",
)
@click.option(
    "--mapping",
    "mapping",
    required=True,
    help="Field mapping: 'native', 'handbook' or a YAML file.",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False),
    help="Model folder to write (replaced if it is a model folder).",
)
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default="tiny", show_default=True)
@click.option(
    "--features",
    default=None,
    help="Feature spec: 'native', 'handbook' or a JSON file. Default: the mapping's name.",
)
@click.option(
    "--init-from",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Fine-tune from this model folder (its preset, tokenizer, features and scaling).",
)
@click.option(
    "--train-start",
    default=None,
    help="Handbook style: first day of the training window (YYYY-MM-DD, UTC).",
)
@click.option(
    "--folds",
    type=click.IntRange(min=1),
    default=None,
    help="Prequential protocol (with --train-start): this many models, fold f trained on the "
    "window from train-start + f * --fold-step-days, each in OUT/<its train start>/ "
    "(`fraudstream evaluate --protocol prequential --model OUT`).",
)
@click.option("--fold-step-days", type=click.IntRange(min=1), default=7, show_default=True)
@click.option(
    "--train-days",
    type=click.IntRange(min=1),
    default=None,
    help="Handbook style: days in the training window [default: 7].",
)
@click.option(
    "--delay-days",
    type=click.FloatRange(min=0),
    default=None,
    help="Days after a transaction until its fraud label is known [default: 7].",
)
@click.option(
    "--valid-days",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Validation = the last N days of the training rows [default: see below].",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Torch CPU threads [default: torch's].",
)
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="[default: the preset's]")
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option(
    "--max-rows",
    type=click.IntRange(min=1),
    default=None,
    help="Read only the first N records (quick runs).",
)
@click.option(
    "--calibration", type=click.Choice(["platt", "isotonic"]), default="platt", show_default=True
)
@click.option(
    "--target-precision",
    type=click.FloatRange(0, 1, min_open=True),
    default=None,
    help="Alert threshold: most alerts with at least this validation precision [default: 0.5].",
)
@click.option(
    "--alert-budget",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Alert threshold: at most this many alerts per 1,000 transactions.",
)
@click.option(
    "--stage1/--no-stage1",
    default=True,
    show_default=True,
    help="Also train the cascade's stage 1 (LightGBM) and choose its uncertain band.",
)
@click.option(
    "--lm-share",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.2,
    show_default=True,
    help="Most validation traffic the cascade band may send to the language model.",
)
@click.option(
    "--distill",
    type=click.FloatRange(0, 1, max_open=True),
    default=None,
    help="Weight of the stage-1 GBDT's out-of-fold scores as soft targets [default: 0.5 with "
    "narratives, 0 without].",
)
@click.option(
    "--labels",
    "labels_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Analyst verdicts (`fraudstream label --export FILE`): override or add labels by "
    "transaction id.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the model card's summary as JSON.")
def train(
    data: str,
    mapping: str,
    out: str,
    preset: str,
    features: str | None,
    init_from: str | None,
    train_start: str | None,
    folds: int | None,
    fold_step_days: int,
    train_days: int | None,
    delay_days: float | None,
    valid_days: float | None,
    seed: int,
    device: str,
    threads: int | None,
    epochs: int | None,
    batch_size: int | None,
    max_rows: int | None,
    calibration: str,
    target_precision: float | None,
    alert_budget: float | None,
    stage1: bool,
    lm_share: float,
    distill: float | None,
    labels_file: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Train a model on a records file and write it as a model folder.

    Features are computed by the stream's own per-entity state, with fraud labels known
    --delay-days after each transaction. Split by time: by default the last 15% of the file is
    held out for `fraudstream evaluate`, the 15% before it is validation (early stopping on
    average precision, calibration, the alert threshold). With --train-start, training uses the
    window [train-start, +train-days) and validates on its last 20% (or --valid-days).
    """
    if target_precision is not None and alert_budget is not None:
        raise click.UsageError("give --target-precision or --alert-budget, not both")
    if train_days is not None and train_start is None:
        raise click.UsageError("--train-days needs --train-start")
    if folds is not None and train_start is None:
        raise click.UsageError("--folds needs --train-start (the first fold's)")
    if folds is not None and (init_from is not None or labels_file is not None):
        raise click.UsageError(
            "--folds trains from scratch on the file's labels: no --init-from or --labels"
        )
    from fraudstream.model.train import TrainOptions
    from fraudstream.model.train_folder import train_file, train_prequential

    options = TrainOptions(
        preset=preset,
        seed=seed,
        device=device,
        threads=threads,
        epochs=epochs,
        batch_size=batch_size,
        calibration="isotonic" if calibration == "isotonic" else "platt",
        target_precision=target_precision,
        alert_budget=alert_budget,
        stage1=stage1,
        lm_share=lm_share,
        distill=distill,
        progress=not quiet,
    )
    command = (
        shlex.join(["fraudstream", "train", *sys.argv[2:]])
        if len(sys.argv) > 1 and sys.argv[1] == "train"
        else None
    )
    if folds is not None:
        assert train_start is not None
        try:
            trained = train_prequential(
                data,
                mapping,
                out,
                options,
                train_start=train_start,
                folds=folds,
                step_days=fold_step_days,
                features=features,
                train_days=train_days,
                delay_days=delay_days,
                valid_days=valid_days,
                max_rows=max_rows,
                command=command,
            )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        for version, result in trained:
            v = result.metrics["validation"]
            click.echo(
                f"{version}: validation AP {v['average_precision']:.4f}, served "
                f"{v['served_average_precision']:.4f}"
            )
        click.echo(f"{len(trained)} fold folders -> {out}")
        return
    try:
        version, result = train_file(
            data,
            mapping,
            out,
            options,
            features=features,
            train_start=train_start,
            train_days=train_days,
            delay_days=delay_days,
            valid_days=valid_days,
            max_rows=max_rows,
            init_from=init_from,
            labels=labels_file,
            command=command,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    summary = {
        "version": version,
        "out": str(Path(out)),
        "validation": result.metrics["validation"],
        "threshold": result.thresholds.alert,
        "block": None if result.thresholds.block == float("inf") else result.thresholds.block,
        "best_epoch": result.metrics["best_epoch"],
        "parameters": result.metrics["parameters"]["total"],
        "cascade": result.metrics.get("cascade"),
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        v = result.metrics["validation"]
        click.echo(
            f"{version}: validation AP {v['average_precision']:.4f}, ROC AUC {v['roc_auc']:.4f}, "
            f"alert threshold {result.thresholds.alert:.4f} "
            f"(precision {result.thresholds.precision:.3f}, recall {result.thresholds.recall:.3f}) "
            f"-> {out}"
        )
