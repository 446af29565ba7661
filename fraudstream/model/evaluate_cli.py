"""`fraudstream evaluate`: a model, a GBDT baseline and the cascade, side by side."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click


@click.command("evaluate")
@click.option(
    "--model",
    "model_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Model folder to evaluate (optional with --baseline gbdt).",
)
@click.option(
    "--data",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Records file (.csv/.jsonl, optionally .gz), in time order.",
)
@click.option(
    "--mapping",
    required=True,
    help="Field mapping: a built-in name (native, handbook) or a YAML file.",
)
@click.option(
    "--protocol",
    type=click.Choice(["handbook", "prequential", "time"]),
    default=None,
    help="handbook: train/delay/test windows from --train-start, known-compromised cards "
    "removed; prequential: --folds such splits a week apart (--model: the folder of "
    "`fraudstream train --folds`), per fold and mean ± std; time: the time split of "
    "`fraudstream train` (last 15% is the test). "
    "Default: handbook when --train-start is given, else time.",
)
@click.option(
    "--train-start",
    help="First training day (YYYY-MM-DD, UTC) of the handbook protocol (prequential: of the "
    "first fold).",
)
@click.option(
    "--folds",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Prequential: folds, each --fold-step-days after the one before.",
)
@click.option("--fold-step-days", type=click.IntRange(min=1), default=7, show_default=True)
@click.option("--train-days", type=click.IntRange(min=1), default=7, show_default=True)
@click.option(
    "--delay-days",
    type=click.FloatRange(min=0),
    default=7.0,
    show_default=True,
    help="Label delay: for the per-entity risk features and the gap before the test.",
)
@click.option("--test-days", type=click.IntRange(min=1), default=7, show_default=True)
@click.option(
    "--baseline",
    type=click.Choice(["gbdt"]),
    default=None,
    help="Also train and score a LightGBM baseline on the same features, in the same run.",
)
@click.option(
    "--cascade",
    is_flag=True,
    help="Also report the cascade: GBDT stage 1 on everything, the model on the uncertain band "
    "(the model folder's own stage 1 and band when it has them, else --baseline gbdt with "
    "--cascade-band).",
)
@click.option(
    "--cascade-band",
    type=(float, float),
    default=None,
    metavar="LOW HIGH",
    help="Stage-1 scores in [LOW, HIGH) go to the model.",
)
@click.option(
    "--probe",
    is_flag=True,
    help="Narrative probe (needs --model): paired twins, the same held-out payments with only "
    "the memo swapped between benign and scam memos of held-out families, scored by the language "
    "model alone and by the served cascade.",
)
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Backtest a rule file (needs --model): alerts, precision and recall with and without "
    "it, and what each rule added or removed.",
)
@click.option(
    "--probe-pairs",
    type=click.IntRange(min=10),
    default=1000,
    show_default=True,
    help="Payments (twin pairs) in the narrative probe.",
)
@click.option(
    "--features",
    help="Feature spec without --model: native, handbook or a JSON file (default: the mapping).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--threads", type=click.IntRange(min=1), default=1, show_default=True, help="CPU threads."
)
@click.option("--device", default="auto", show_default=True, help="Model device: auto, cpu, cuda.")
@click.option(
    "--max-rows", type=click.IntRange(min=1), default=None, help="Read at most N records."
)
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report on stdout.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write report.json, the PNG figures and the baseline model (gbdt/) here.",
)
def evaluate(
    model_dir: Path | None,
    data: Path,
    mapping: str,
    protocol: str | None,
    train_start: str | None,
    folds: int,
    fold_step_days: int,
    train_days: int,
    delay_days: float,
    test_days: int,
    baseline: str | None,
    cascade: bool,
    cascade_band: tuple[float, float] | None,
    probe: bool,
    probe_pairs: int,
    rules_file: str | None,
    features: str | None,
    seed: int,
    threads: int,
    device: str,
    max_rows: int | None,
    as_json: bool,
    out_dir: Path | None,
) -> None:
    """Measure ROC AUC, AP, recall at 1% FPR, Card Precision@100 and calibration on a test set."""
    from fraudstream.model.evaluate import EvaluateOptions, EvaluationError, evaluate_file
    from fraudstream.model.evaluate_report import report_json, summary_table

    chosen = protocol or ("handbook" if train_start else "time")
    if chosen == "time" and train_start:
        raise click.UsageError("--train-start belongs to --protocol handbook")
    if model_dir is None and baseline is None:
        raise click.UsageError("nothing to evaluate: give --model DIR and/or --baseline gbdt")
    if rules_file is not None and model_dir is None:
        raise click.UsageError("--rules backtests beside a model: give --model DIR")
    if probe and model_dir is None:
        raise click.UsageError("--probe needs --model DIR (it measures a model)")
    if cascade_band is not None and not 0.0 <= cascade_band[0] < cascade_band[1] <= 1.0:
        raise click.UsageError("--cascade-band needs 0 <= LOW < HIGH <= 1")
    if chosen == "prequential" and probe:
        raise click.UsageError("--probe measures one model folder: not with --protocol prequential")
    options = EvaluateOptions(
        protocol="handbook"
        if chosen == "handbook"
        else "prequential"
        if chosen == "prequential"
        else "time",
        train_start=train_start,
        folds=folds,
        fold_step_days=fold_step_days,
        train_days=train_days,
        delay_days=delay_days,
        test_days=test_days,
        baseline="gbdt" if baseline == "gbdt" else None,
        cascade=cascade,
        cascade_band=cascade_band,
        probe=probe,
        probe_pairs=probe_pairs,
        rules=rules_file,
        features=features,
        seed=seed,
        threads=threads,
        device=device,
        max_rows=max_rows,
    )
    try:
        report = evaluate_file(
            data,
            mapping,
            options,
            model_dir=model_dir,
            out_dir=out_dir,
            command=shlex.join(["fraudstream", *sys.argv[1:]]),
            log=lambda msg: click.echo(msg, err=True),
        )
    except EvaluationError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(report_json(report))
    else:
        click.echo(summary_table(report))
        if out_dir is not None:
            click.echo(f"report and figures: {out_dir}")
