"""Evaluation under the prequential protocol: the folds, their model folders, the summary.

Cut from `evaluate.py` (`--protocol prequential`: its steps 2 to 4 once per fold):

- `prequential_folds`: `--folds` handbook splits `--fold-step-days` apart
  (`protocol.py::prequential_splits`), each with the GBDT baseline's early-stopping rows;
- `fold_folder`, `fold_model`: the model folder `fraudstream train --folds` wrote for a fold,
  refused when it was trained on another window;
- `evaluate_prequential`: every fold through `evaluate_split.py::evaluate_table` (the fold's
  served cascade, its parts, the GBDT baseline), then `summarise_folds`: per scorer of
  `PREQUENTIAL_SCORERS` and metric, the per-fold values, their mean and standard deviation.

The terminal table of the result is `evaluate_report.py::prequential_table`. `EvaluateOptions`
and `EvaluationError` come from `evaluate.py`, which imports this module only when it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudstream.model.evaluate import EvaluationError
from fraudstream.model.evaluate_report import SUMMARY_METRICS
from fraudstream.model.evaluate_scorers import ModelScorer
from fraudstream.model.evaluate_split import (
    Split,
    card_role_for_test,
    evaluate_table,
    from_handbook,
)
from fraudstream.model.protocol import parse_start, prequential_splits

if TYPE_CHECKING:
    from fraudstream.features.dataset import FeatureTable
    from fraudstream.model.evaluate import EvaluateOptions

Log = Callable[[str], None]


PREQUENTIAL_SCORERS = ("served", "model", "stage1", "gbdt baseline")
"""Scorers summarised over the folds: the served cascade of each fold's folder, its language
model alone, its stage 1 alone, and the GBDT baseline trained in the run."""


def prequential_folds(table: FeatureTable, options: EvaluateOptions) -> list[Split]:
    """The prequential protocol's splits (`protocol.py::prequential_splits`), oldest first."""
    if options.train_start is None:
        raise EvaluationError("the prequential protocol needs --train-start DATE (first fold)")
    role = card_role_for_test(table)
    try:
        folds = prequential_splits(
            table.timestamps,
            table.labels,
            table.entities[role],
            first_train_start=options.train_start,
            folds=options.folds,
            step_days=options.fold_step_days,
            train_days=options.train_days,
            delay_days=round(options.delay_days),
            test_days=options.test_days,
        )
    except ValueError as exc:
        raise EvaluationError(str(exc)) from None
    return [from_handbook(hb, table, options) for hb in folds]


def fold_folder(model_dir: Path, train_start: str) -> Path:
    """Where `fraudstream train --folds` writes the fold that trains from `train_start`."""
    return model_dir / train_start[:10]


def fold_model(model_dir: Path, train_start: str, options: EvaluateOptions) -> ModelScorer:
    """The fold's model folder, refused when it was trained on another window."""
    path = fold_folder(model_dir, train_start)
    if not (path / "manifest.json").is_file():
        raise EvaluationError(
            f"{path}: no model folder for the fold that trains from {train_start[:10]}; write "
            f"them with `fraudstream train --train-start {options.train_start} --folds "
            f"{options.folds} --out {model_dir}`"
        )
    scorer = ModelScorer(path, device=options.device, threads=options.threads)
    trained = scorer.model.card.get("split", {})
    start = trained.get("train_start")
    days = trained.get("train_days")
    if (
        start is None
        or parse_start(start) != parse_start(train_start)
        or days != options.train_days
    ):
        raise EvaluationError(
            f"{path} was trained on {days} days from {start}, not on the fold's {options.train_days} "
            f"days from {train_start[:10]}"
        )
    return scorer


def fold_figures(fold: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One fold's report -> {scorer: metrics} for the scorers of `PREQUENTIAL_SCORERS` it has."""
    out: dict[str, dict[str, Any]] = {}
    cascade = fold.get("cascade")
    if cascade and cascade.get("ap") is not None:
        out["served"] = {
            "roc_auc": cascade["roc_auc"],
            "average_precision": cascade["ap"],
            "card_precision_at_100": cascade.get("card_precision_at_100"),
        }
        if cascade.get("stage1_metrics"):
            out["stage1"] = cascade["stage1_metrics"]
    if fold.get("model"):
        out["model"] = fold["model"]["metrics"]
    if fold.get("baseline"):
        out["gbdt baseline"] = fold["baseline"]["metrics"]
    return out


def summarise_folds(folds: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per scorer and metric: the per-fold values, their mean and standard deviation (ddof=1, as
    the handbook's pandas `std()`)."""
    figures = [fold_figures(f) for f in folds]
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for scorer in PREQUENTIAL_SCORERS:
        if not all(scorer in f for f in figures):
            continue
        summary[scorer] = {}
        for metric in SUMMARY_METRICS:
            values = [f[scorer].get(metric) for f in figures]
            if any(v is None for v in values):
                continue
            arr = np.array(values, dtype=np.float64)
            summary[scorer][metric] = {
                "per_fold": [float(v) for v in arr],
                "mean": float(arr.mean()),
                "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
            }
    return summary


def evaluate_prequential(
    table: FeatureTable,
    options: EvaluateOptions,
    *,
    model_dir: Path | None = None,
    log: Log | None = None,
) -> dict[str, Any]:
    """Every fold of the prequential protocol through `evaluate_table` (the served cascade of
    the fold's folder, its parts, the GBDT baseline), then the summary over the folds."""
    say = log or (lambda msg: None)
    folds: list[dict[str, Any]] = []
    for split in prequential_folds(table, options):
        start = str(split.info["train_start"])
        fold_options = replace(
            options, protocol="handbook", train_start=start[:10], cascade=model_dir is not None
        )
        model = fold_model(model_dir, start, options) if model_dir is not None else None
        say(f"fold {len(folds) + 1}/{options.folds}: train from {start[:10]}")
        body, _ = evaluate_table(table, fold_options, model=model, log=say, split=split)
        body.pop("_gbdt", None)
        folds.append(body)
    return {
        "protocol": {
            "name": "prequential",
            "first_train_start": options.train_start,
            "folds": options.folds,
            "fold_step_days": options.fold_step_days,
            "train_days": options.train_days,
            "delay_days": options.delay_days,
            "test_days": options.test_days,
            "test_weeks": [f["protocol"]["test_first_day"] for f in folds],
        },
        "folds": folds,
        "summary": summarise_folds(folds),
    }
