"""Evaluation: a model, a GBDT baseline and the cascade, side by side on one protocol.

Theory of operation
-------------------
1. **Features once.** The records file is read through the mapping and replayed, in time order,
   through the stream's own per-entity state (`build_features`), fraud labels fed back
   `delay_days` after each transaction. One pass serves every row: a test transaction's windows
   see the history before the training window, as in the stream. With a model, its folder's
   feature spec is used (the features it was trained on); otherwise `--features` (default: the
   mapping's name, e.g. `handbook`).
2. **Split** (`protocol.py`): the handbook protocol for `--train-start` (train, delay, test;
   known-compromised cards removed from the test), or the time split `fraudstream train` uses by
   default (its last 15% is the held-out test). Test rows with an unknown label are dropped.
   `--protocol prequential` runs steps 2-4 once per fold (`prequential_splits`: `--folds`
   handbook splits a week apart, one model folder per fold under `--model`, written by
   `fraudstream train --folds`) and adds the mean and standard deviation over the folds.
3. **Score** the test rows with each scorer: the model (`load_model(dir).prepare/predict`, behind
   the small `ModelScorer` adapter), the GBDT baseline (trained here on the training rows, early
   stopping on the last 20% of them by time, then refit on all of them) and, with `--cascade`, the
   cascade (GBDT stage 1, model on the uncertain band).
4. **Measure** each with the same code (`metrics.py`): ROC AUC, AP, recall at 1% FPR, Card
   Precision@100 (when the mapping has a card, customer or account entity), ECE, Brier; write
   `report.json` and the PNG figures (`plots.py`).

Where the code is
-----------------
Cut by role, each module's docstring says what it holds:

- `evaluate.py` (here): `EvaluateOptions`, `EvaluationError` and `evaluate_file`, the command
  as a function: step 1, the choice between one split and the prequential folds, the report's
  header (data, environment, published figures) and what goes under `--out`;
- `evaluate_split.py`: one split, steps 2 to 4: `choose_split` and `evaluate_table` (every
  scorer over the split, then the rules backtest and the narrative probe);
- `evaluate_scorers.py`: the scorers of step 3: `ModelScorer`, the GBDT baseline
  (`GBDTModel.fit_table`) and the cascade block (`evaluate_cascade`);
- `evaluate_prequential.py`: `--protocol prequential`: the folds, their model folders and the
  mean and standard deviation over them;
- `evaluate_report.py`: the published figures, the JSON report and the terminal tables;
- `evaluate_cli.py`: the `fraudstream evaluate` command line.

`evaluate_split.py` and `evaluate_prequential.py` import `EvaluateOptions` and `EvaluationError`
from here, so `evaluate_file` imports them when it runs rather than at the top of the module.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from fraudstream.model.evaluate_report import (
    HANDBOOK_PUBLISHED,
    PREQUENTIAL_PUBLISHED,
    is_published_setting,
    plot_subtitle,
    write_report,
)
from fraudstream.model.evaluate_scorers import ModelScorer
from fraudstream.model.protocol import DAY_S, parse_start
from fraudstream.model.train_data import _until, file_sha256, resolve_spec

if TYPE_CHECKING:
    from fraudstream.events import Event
    from fraudstream.model.gbdt import GBDTModel

FloatArray = NDArray[np.float64]
Log = Callable[[str], None]


@dataclass(frozen=True)
class EvaluateOptions:
    protocol: Literal["handbook", "time", "prequential"] = "time"
    train_start: str | None = None
    """The handbook protocol's training start; prequential: the first fold's."""
    folds: int = 4
    """Prequential: folds, each `fold_step_days` after the one before."""
    fold_step_days: int = 7
    train_days: int = 7
    delay_days: float = 7.0
    """Label delay for the features and, in the handbook protocol, the gap before the test."""
    test_days: int = 7
    baseline: Literal["gbdt"] | None = None
    cascade: bool = False
    cascade_band: tuple[float, float] | None = None
    """Stage-1 scores in [low, high) go to the model (the cascade's band rule)."""
    probe: bool = False
    """The narrative probe (`model/probe.py`): paired twins on held-out wording."""
    probe_pairs: int = 1000
    rules: str | None = None
    """A rule file to backtest on the test set next to the model alone (`fraudstream/rules.py`)."""
    features: str | None = None
    """Feature spec without a model: 'handbook', 'native' or a JSON file; default: the mapping."""
    k: int = 100
    valid_fraction: float = 0.2
    seed: int = 0
    threads: int = 1
    device: str = "auto"
    max_rows: int | None = None
    plots: bool = True


class EvaluationError(ValueError):
    """The evaluation cannot run as asked (the message says why and what to change)."""


def evaluate_file(
    data: str | Path,
    mapping: str,
    options: EvaluateOptions,
    *,
    model_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    command: str | None = None,
    log: Log | None = None,
) -> dict[str, Any]:
    """The `fraudstream evaluate` command as a function: returns the JSON-ready report and, with
    `out_dir`, writes `report.json`, the figures and the baseline model (`gbdt/`, text)."""
    from itertools import islice

    from fraudstream.features.dataset import EventErrors, build_features, iter_events
    from fraudstream.mapping import Mapping, MappingConfigError

    # These two import `EvaluateOptions` and `EvaluationError` from this module.
    from fraudstream.model.evaluate_prequential import evaluate_prequential, fold_model
    from fraudstream.model.evaluate_split import evaluate_table

    say = log or (lambda msg: print(msg, file=sys.stderr))
    started = time.perf_counter()
    prequential = options.protocol == "prequential"
    if options.protocol in ("handbook", "prequential") and options.train_start is None:
        raise EvaluationError(f"--protocol {options.protocol} needs --train-start DATE")
    try:
        field_mapping = Mapping.load(mapping)
    except MappingConfigError as exc:
        raise EvaluationError(str(exc)) from None
    model: ModelScorer | None = None
    try:
        spec = resolve_spec(options.features or mapping, options.delay_days)
    except ValueError as exc:
        raise EvaluationError(str(exc)) from None
    if model_dir is not None and prequential:
        # Every fold's folder was trained on the same feature spec: the first one's is read.
        assert options.train_start is not None
        spec = fold_model(Path(model_dir), options.train_start, options).spec
    elif model_dir is not None:
        model = ModelScorer(model_dir, device=options.device, threads=options.threads)
        spec = model.spec
    try:
        field_mapping.check_spec(spec)
    except MappingConfigError as exc:
        raise EvaluationError(str(exc)) from None

    skipped = EventErrors()
    events: Iterator[Event] = iter_events(data, field_mapping, errors="skip", skipped=skipped)
    if options.max_rows is not None:
        events = islice(events, options.max_rows)
    if options.protocol in ("handbook", "prequential") and options.train_start is not None:
        # The file is in time order: nothing after the last test day matters.
        first_day = int(parse_start(options.train_start) // DAY_S)
        if prequential:
            first_day += (options.folds - 1) * options.fold_step_days
        last = first_day + options.train_days + round(options.delay_days) + options.test_days
        events = _until(events, (last + 1) * DAY_S)
    t0 = time.perf_counter()
    table = build_features(events, spec, label_delay_s=options.delay_days * DAY_S)
    feature_seconds = time.perf_counter() - t0
    say(
        f"features: {len(table):,} transactions in {feature_seconds:.1f}s"
        + (f" ({skipped.count:,} records skipped)" if skipped.count else "")
    )
    if len(table) == 0:
        raise EvaluationError(f"{data}: no transaction could be read through mapping {mapping!r}")

    scores: dict[str, tuple[NDArray[np.int8], FloatArray]] = {}
    if prequential:
        body = evaluate_prequential(
            table, options, model_dir=Path(model_dir) if model_dir else None, log=say
        )
    else:
        body, scores = evaluate_table(table, options, model=model, log=say)
    gbdt: GBDTModel | None = body.pop("_gbdt", None)
    report: dict[str, Any] = {
        "fraudstream_version": package_version("fraudstream"),
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command,
        "environment": report_environment(),
        "data": {
            "path": str(data),
            "sha256": file_sha256(data),
            "mapping": mapping,
            "rows_read": len(table),
            "records_skipped": skipped.count,
            "label_delay_days": options.delay_days,
            "feature_spec": {
                "numeric": list(table.numeric_names),
                "categorical": list(table.categorical_names),
            },
            "feature_seconds": round(feature_seconds, 1),
        },
        **body,
    }
    if is_published_setting(options):
        report["published"] = PREQUENTIAL_PUBLISHED if prequential else HANDBOOK_PUBLISHED
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if gbdt is not None:
            gbdt.save(out / "gbdt")
        if options.plots and scores:
            from fraudstream.model.plots import Scored, write_plots

            subtitle = plot_subtitle(report)
            report["plots"] = write_plots(
                {name: Scored(yy, ss) for name, (yy, ss) in scores.items()}, out, subtitle=subtitle
            )
        report["total_seconds"] = round(time.perf_counter() - started, 1)
        write_report(report, out / "report.json")
    else:
        report["total_seconds"] = round(time.perf_counter() - started, 1)
    return report


def package_version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def report_environment() -> dict[str, Any]:
    """Where the figures were taken (DESIGN: every figure says on what hardware)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "lightgbm": package_version("lightgbm"),
    }
