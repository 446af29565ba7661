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
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from fraudstream.cascade import CascadePolicy, route
from fraudstream.model.gbdt import GBDTModel, GBDTParams, bench_predict
from fraudstream.model.metrics import classification_report
from fraudstream.model.protocol import (
    DAY_S,
    HandbookSplit,
    day_index,
    handbook_split,
    parse_start,
    prequential_splits,
    split_tail,
    time_split,
)
from fraudstream.model.served import FolderScorer
from fraudstream.model.train_data import _until, file_sha256, resolve_spec

if TYPE_CHECKING:
    from fraudstream.events import Event
    from fraudstream.features.dataset import FeatureTable
    from fraudstream.features.spec import FeatureSpec

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
Log = Callable[[str], None]

CARD_ROLES = ("card", "customer", "account")
"""Entity roles whose key identifies a card for Card Precision@k, in order of preference."""

HANDBOOK_PUBLISHED = {
    "source": "Le Borgne et al., Fraud Detection Handbook, chapter 3.4 (train start 2018-07-25)",
    "logistic regression": {
        "roc_auc": 0.871,
        "average_precision": 0.606,
        "card_precision_at_100": 0.291,
    },
    "decision tree, depth 2": {
        "roc_auc": 0.763,
        "average_precision": 0.496,
        "card_precision_at_100": 0.241,
    },
    "random forest": {"roc_auc": 0.867, "average_precision": 0.658, "card_precision_at_100": 0.287},
    "XGBoost": {"roc_auc": 0.862, "average_precision": 0.639, "card_precision_at_100": 0.273},
}

PREQUENTIAL_PUBLISHED = {
    "source": "Le Borgne et al., Fraud Detection Handbook, chapters 5-7 (prequential: test weeks "
    "from 2018-08-08 to 2018-09-04, mean of four folds), its best models",
    "XGBoost": {
        "average_precision": 0.687,
        "average_precision_std": 0.01,
        "card_precision_at_100": 0.303,
    },
    "balanced bagging": {"card_precision_at_100": 0.305},
}

PREQUENTIAL_SCORERS = ("served", "model", "stage1", "gbdt baseline")
"""Scorers summarised over the folds: the served cascade of each fold's folder, its language
model alone, its stage 1 alone, and the GBDT baseline trained in the run."""
SUMMARY_METRICS = ("roc_auc", "average_precision", "card_precision_at_100")


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


# ---- scorers ---------------------------------------------------------------------------------


class ModelScorer(FolderScorer):
    """A model folder for evaluation: its language model and its served cascade
    (`model/served.py`)."""

    name = "model"

    @property
    def spec(self) -> FeatureSpec:
        spec: FeatureSpec = self.model.spec
        return spec


def train_gbdt(
    table: FeatureTable,
    train: IntArray,
    valid: IntArray,
    params: GBDTParams,
) -> GBDTModel:
    """The GBDT baseline on the table's own features: fit on `train`, early-stop on `valid`."""
    return GBDTModel.fit(
        table.numeric[train],
        table.categorical[train],
        table.labels[train],
        valid=(table.numeric[valid], table.categorical[valid], table.labels[valid]),
        numeric_names=table.numeric_names,
        categorical_names=table.categorical_names,
        params=params,
    )


def evaluate_cascade(
    stage1: FloatArray | None,
    model: FloatArray | None,
    labels: NDArray[np.int8],
    band: tuple[float, float] | None,
    *,
    cards: NDArray[Any] | None = None,
    days: IntArray | None = None,
    k: int = 100,
    routed: NDArray[np.bool_] | None = None,
    served: FloatArray | None = None,
) -> dict[str, Any]:
    """The `cascade` block of the report: the final score is the model's where the cascade
    routes a transaction to it, stage 1's elsewhere. `routed`: the routing the served cascade
    chose (`model/served.py`, the folder's own policy); without it, stage-1 scores in `band`
    (`fraudstream/cascade.py::route`). `served`: the scores the served cascade gave (with the
    policy's blend where it routed); without it, the model's where routed. Both scores are
    calibrated probabilities, so the mixture ranks consistently.

    Fields: `ap`, `roc_auc`, `recall_at_1pct_fpr`, `ece`, `card_precision_at_k` of the cascade,
    `share_to_language_model`, `band`, and each brick alone's AP for comparison
    (`ap_model_alone`, `ap_stage1_alone`; `ap_gap` = model alone - cascade). When a brick is missing the fields are null and `status` says
    why. The band is chosen by the caller (`--cascade-band`): choosing it on the test set would
    flatter the cascade.
    """
    block: dict[str, Any] = {
        "status": "ok",
        "band": list(band) if band is not None else None,
        "ap": None,
        "roc_auc": None,
        "recall_at_1pct_fpr": None,
        "ece": None,
        f"card_precision_at_{k}": None,
        "share_to_language_model": None,
        "ap_model_alone": None,
        "ap_stage1_alone": None,
        "ap_gap": None,
    }
    if stage1 is None or model is None:
        block["status"] = (
            "needs both a model (--model) and a stage-1 scorer (the model folder's own, "
            "or --baseline gbdt)"
        )
        return block
    if band is None and routed is None:
        block["status"] = "no uncertain band: give --cascade-band LOW HIGH"
        return block
    to_model = (
        routed if routed is not None else route(stage1, None, CascadePolicy(band), stage1.size)
    )
    final = served if served is not None else np.where(to_model, model, stage1)
    figures = classification_report(labels, final, cards=cards, days=days, k=k)
    alone = classification_report(labels, model)
    stage1_alone = classification_report(labels, stage1, cards=cards, days=days, k=k)
    block.update(
        {
            "ap": figures["average_precision"],
            "roc_auc": figures["roc_auc"],
            "recall_at_1pct_fpr": figures["recall_at_1pct_fpr"],
            "ece": figures["ece"],
            f"card_precision_at_{k}": figures.get(f"card_precision_at_{k}"),
            "share_to_language_model": float(to_model.mean()) if to_model.size else 0.0,
            "ap_model_alone": alone["average_precision"],
            "ap_stage1_alone": stage1_alone["average_precision"],
            "stage1_metrics": stage1_alone,
            "ap_gap": alone["average_precision"] - figures["average_precision"],
            "_scores": final,
        }
    )
    return block


# ---- the run ---------------------------------------------------------------------------------


@dataclass
class Split:
    train: IntArray
    valid: IntArray
    """Early-stopping rows for the GBDT baseline (never test rows)."""
    test: IntArray
    test_day: IntArray
    info: dict[str, Any]


def card_role(table: FeatureTable) -> str | None:
    for role in CARD_ROLES:
        keys = table.entities.get(role)
        if keys is not None and keys.size and (keys != "").any():
            return role
    return None


def _card_role_for_test(table: FeatureTable) -> str:
    role = card_role(table)
    if role is None:
        raise EvaluationError(
            "the handbook protocol removes known-compromised cards from the test: the "
            f"mapping must map one of the entity roles {', '.join(CARD_ROLES)}"
        )
    return role


def _from_handbook(hb: HandbookSplit, table: FeatureTable, options: EvaluateOptions) -> Split:
    """A handbook split with the GBDT baseline's early-stopping rows: the training window's last
    `valid_fraction` by time (the test must not choose the model)."""
    head, tail = split_tail(hb.train, table.timestamps, options.valid_fraction)
    info = dict(hb.info)
    info["card_role"] = card_role(table)
    return Split(head, tail, hb.test, hb.test_day, info)


def choose_split(table: FeatureTable, options: EvaluateOptions) -> Split:
    ts = table.timestamps
    if options.protocol == "handbook":
        if options.train_start is None:
            raise EvaluationError("the handbook protocol needs --train-start DATE")
        role = _card_role_for_test(table)
        try:
            hb = handbook_split(
                ts,
                table.labels,
                table.entities[role],
                train_start=options.train_start,
                train_days=options.train_days,
                delay_days=round(options.delay_days),
                test_days=options.test_days,
            )
        except ValueError as exc:
            raise EvaluationError(str(exc)) from None
        return _from_handbook(hb, table, options)
    if options.protocol == "prequential":
        raise EvaluationError("the prequential protocol has one split per fold: prequential_folds")
    sp = time_split(ts)
    return Split(sp.train, sp.validation, sp.test, day_index(ts[sp.test]), dict(sp.info))


def _labelled(rows: IntArray, labels: NDArray[np.int8]) -> IntArray:
    return rows[labels[rows] >= 0]


def evaluate_table(
    table: FeatureTable,
    options: EvaluateOptions,
    *,
    model: ModelScorer | None = None,
    log: Log | None = None,
    split: Split | None = None,
) -> tuple[dict[str, Any], dict[str, tuple[NDArray[np.int8], FloatArray]]]:
    """Split (unless `split` is given), score and measure; returns (report without the data
    block, test scores by name)."""
    say = log or (lambda msg: None)
    if model is None and options.baseline is None:
        raise EvaluationError("nothing to evaluate: give --model DIR and/or --baseline gbdt")
    split = split or choose_split(table, options)
    labels = table.labels
    test_all = split.test
    test = _labelled(test_all, labels)
    if test.size == 0:
        raise EvaluationError("no labelled transaction in the test set")
    y = labels[test]
    if not (y == 1).any():
        raise EvaluationError("no fraud in the test set: AP and recall are undefined")
    role = card_role(table)
    cards = table.entities[role][test] if role is not None else None
    days = day_index(table.timestamps[test]) if cards is not None else None
    k = options.k

    report: dict[str, Any] = {
        "protocol": split.info,
        "test": {
            "transactions": int(test.size),
            "frauds": int((y == 1).sum()),
            "unknown_labels_dropped": int(test_all.size - test.size),
            "card_role": role,
            "card_precision": f"@{k}, the handbook's definition"
            if role is not None
            else "not computed: the mapping has no card, customer or account entity",
        },
        "model": None,
        "baseline": None,
    }
    scores: dict[str, tuple[NDArray[np.int8], FloatArray]] = {}

    model_scores: FloatArray | None = None
    if model is not None:
        t0 = time.perf_counter()
        model_scores = model.score(table, test)
        seconds = time.perf_counter() - t0
        say(f"model {model.version}: scored {test.size:,} transactions in {seconds:.1f}s")
        report["model"] = {
            "path": str(model.path),
            "version": model.version,
            "metrics": classification_report(y, model_scores, cards=cards, days=days, k=k),
            "scoring_seconds": round(seconds, 3),
        }
        scores[f"model {model.version}"] = (y, model_scores)

    gbdt_scores: FloatArray | None = None
    gbdt: GBDTModel | None = None
    if options.baseline == "gbdt":
        params = GBDTParams(seed=options.seed, num_threads=options.threads)
        train, valid = _labelled(split.train, labels), _labelled(split.valid, labels)
        if not (labels[train] == 1).any() or not (labels[valid] == 1).any():
            raise EvaluationError(
                "the GBDT baseline needs frauds in its training and validation rows"
            )
        gbdt = train_gbdt(table, train, valid, params)
        say(
            f"gbdt: {gbdt.info['rounds']} trees on {gbdt.info.get('refit_rows', train.size):,} "
            f"rows in {gbdt.info['train_seconds']:.1f}s"
        )
        gbdt_scores = gbdt.predict_proba(table.numeric[test], table.categorical[test])
        latency = bench_predict(
            gbdt, table.numeric[test], table.categorical[test], batch_size=256, min_seconds=0.5
        )
        importance = gbdt.feature_importance()
        report["baseline"] = {
            "name": "gbdt",
            "library": f"lightgbm {_version('lightgbm')}",
            "metrics": classification_report(y, gbdt_scores, cards=cards, days=days, k=k),
            "training": gbdt.info,
            "params": asdict(params),
            "latency_batch_256": {
                "us_per_row": round(latency["us_per_row"], 2),
                "us_per_call": round(latency["us_per_call"], 1),
                "threads": options.threads,
            },
            "feature_importance_gain": {n: round(v, 1) for n, v in list(importance.items())[:15]},
        }
        scores["gbdt baseline"] = (y, gbdt_scores)

    if options.cascade:
        stage1_scores, band, source = gbdt_scores, options.cascade_band, "gbdt baseline"
        routed: NDArray[np.bool_] | None = None
        served_scores: FloatArray | None = None
        if model is not None and model.stage1 is not None:
            # The folder's stage 1 and its policy, served as the processor serves them: the
            # whole file in order, so that the narratives read before the test are remembered
            # as a running processor remembers them. A band chosen here on the test set would
            # flatter the cascade.
            policy = model.stage1.policy
            if options.cascade_band is not None:
                policy = replace(policy, band=options.cascade_band)
            # Rows before the training window are left out: a processor with this folder runs
            # after its training data, and narratives read there are remembered from it on.
            span = np.arange(int(split.train.min()), int(test.max()) + 1)
            t0 = time.perf_counter()
            served = model.serve(table, span, policy=policy)
            say(f"served cascade over {span.size:,} rows in {time.perf_counter() - t0:.1f}s")
            assert served.stage1 is not None
            at = test - span[0]
            stage1_scores = served.stage1[at]
            routed = served.routed[at]
            served_scores = served.scores[at]
            band = policy.band
            source = "model folder"
        block = evaluate_cascade(
            stage1_scores,
            model_scores,
            y,
            band,
            cards=cards,
            days=days,
            k=k,
            routed=routed,
            served=served_scores,
        )
        if source == "model folder":
            block["blend"] = policy.blend
        block["stage1"] = source
        final = block.pop("_scores", None)
        if final is not None:
            scores["cascade"] = (y, final)
        report["cascade"] = block

    if options.rules is not None:
        if model is None:
            raise EvaluationError("--rules backtests beside a model: give --model DIR")
        from fraudstream.rules import RuleError, backtest, load_rules, table_facts

        try:
            ruleset = load_rules(options.rules)
        except RuleError as exc:
            raise EvaluationError(str(exc)) from None
        served_or_model = scores["cascade"][1] if "cascade" in scores else model_scores
        assert served_or_model is not None  # a model was given
        facts = [
            table_facts(
                table.numeric[i],
                table.numeric_names,
                table.categorical[i],
                table.categorical_names,
                {role: str(keys[i]) for role, keys in table.entities.items()},
            )
            for i in test
        ]
        report["rules_backtest"] = backtest(
            ruleset, facts, served_or_model.tolist(), y.tolist(), float(model.model.threshold)
        )

    if options.probe and model is not None:
        from fraudstream.model.probe import run_probe

        t0 = time.perf_counter()
        report["narrative_probe"] = run_probe(
            model, table, pairs=options.probe_pairs, seed=options.seed
        )
        say(
            f"narrative probe: {options.probe_pairs:,} twin pairs in {time.perf_counter() - t0:.1f}s"
        )

    report["_gbdt"] = gbdt
    return report, scores


def prequential_folds(table: FeatureTable, options: EvaluateOptions) -> list[Split]:
    """The prequential protocol's splits (`protocol.py::prequential_splits`), oldest first."""
    if options.train_start is None:
        raise EvaluationError("the prequential protocol needs --train-start DATE (first fold)")
    role = _card_role_for_test(table)
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
    return [_from_handbook(hb, table, options) for hb in folds]


def fold_folder(model_dir: Path, train_start: str) -> Path:
    """Where `fraudstream train --folds` writes the fold that trains from `train_start`."""
    return model_dir / train_start[:10]


def _fold_model(model_dir: Path, train_start: str, options: EvaluateOptions) -> ModelScorer:
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
        model = _fold_model(model_dir, start, options) if model_dir is not None else None
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
        spec = _fold_model(Path(model_dir), options.train_start, options).spec
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
        "fraudstream_version": _version("fraudstream"),
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
    if _is_published_setting(options):
        report["published"] = PREQUENTIAL_PUBLISHED if prequential else HANDBOOK_PUBLISHED
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if gbdt is not None:
            gbdt.save(out / "gbdt")
        if options.plots and scores:
            from fraudstream.model.plots import Scored, write_plots

            subtitle = _subtitle(report)
            report["plots"] = write_plots(
                {name: Scored(yy, ss) for name, (yy, ss) in scores.items()}, out, subtitle=subtitle
            )
        report["total_seconds"] = round(time.perf_counter() - started, 1)
        write_report(report, out / "report.json")
    else:
        report["total_seconds"] = round(time.perf_counter() - started, 1)
    return report


def _is_published_setting(options: EvaluateOptions) -> bool:
    """The handbook's tables hold for its own windows only: 2018-07-25, 7 + 7 + 7 days (and,
    prequential, four folds a week apart)."""
    folds_as_published = options.protocol == "handbook" or (
        options.protocol == "prequential" and (options.folds, options.fold_step_days) == (4, 7)
    )
    return (
        folds_as_published
        and options.train_start is not None
        and parse_start(options.train_start) == parse_start("2018-07-25")
        and (options.train_days, options.delay_days, options.test_days) == (7, 7.0, 7)
    )


def _subtitle(report: dict[str, Any]) -> str:
    proto = report["protocol"]
    test = report["test"]
    where = Path(str(report["data"]["path"])).name
    if proto.get("name") == "handbook":
        span = f"handbook protocol, train from {proto['train_start'][:10]}"
    else:
        span = f"time split, test from {str(proto.get('test_start', '?'))[:10]}"
    return (
        f"{where}, {span}\ntest: {test['transactions']:,} transactions, {test['frauds']:,} frauds"
    )


# ---- output ----------------------------------------------------------------------------------


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not np.isfinite(obj):
        return None  # JSON has no NaN
    return obj


def report_json(report: dict[str, Any]) -> str:
    import json

    return json.dumps(_jsonable(report), indent=2)


def write_report(report: dict[str, Any], path: Path) -> None:
    path.write_text(report_json(report) + "\n", encoding="utf-8")


def prequential_table(report: dict[str, Any]) -> str:
    """Per fold and mean ± std of ROC AUC, AP and CP@100, one block per scorer."""
    folds = report["folds"]
    summary = report["summary"]
    names = {
        "served": "served cascade",
        "model": "language model alone",
        "stage1": "stage 1 alone",
        "gbdt baseline": "gbdt baseline",
    }
    head = f"{'scorer':<22} {'fold (train from)':<18} {'ROC AUC':>8} {'AP':>8} {'CP@100':>8}"
    lines = [head, "-" * len(head)]
    for scorer, metrics in summary.items():
        for i, fold in enumerate(folds):
            cells = [f"{metrics[m]['per_fold'][i]:.4f}" for m in SUMMARY_METRICS if m in metrics]
            start = fold["protocol"]["train_start"][:10]
            lines.append(f"{names[scorer]:<22} {start:<18} " + " ".join(f"{c:>8}" for c in cells))
        cells = [
            f"{metrics[m]['mean']:.3f}±{metrics[m]['std']:.3f}"
            for m in SUMMARY_METRICS
            if m in metrics
        ]
        lines.append(f"{names[scorer]:<22} {'mean ± std':<18} " + " ".join(cells))
    for fold in folds:
        test, cascade = fold["test"], fold.get("cascade") or {}
        share = cascade.get("share_to_language_model")
        lines.append(
            f"test from {fold['protocol']['test_first_day']}: {test['transactions']:,} "
            f"transactions, {test['frauds']:,} frauds"
            + (
                f"; {share:.1%} to the language model, blend {cascade.get('blend', 0.0)}"
                if share is not None
                else ""
            )
        )
    published = report.get("published")
    if published:
        lines.append(f"published ({published['source']}):")
        for name, figures in published.items():
            if isinstance(figures, dict):
                lines.append(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    return "\n".join(lines)


def summary_table(report: dict[str, Any]) -> str:
    """The headline figures, one line per scorer, for a terminal."""
    if report.get("protocol", {}).get("name") == "prequential":
        return prequential_table(report)
    rows: list[tuple[str, dict[str, Any]]] = []
    if report.get("model"):
        rows.append((f"model {report['model']['version']}", report["model"]["metrics"]))
    if report.get("baseline"):
        rows.append(("gbdt baseline", report["baseline"]["metrics"]))
    cascade = report.get("cascade")
    if cascade and cascade.get("ap") is not None:
        rows.append(
            (
                "cascade",
                {
                    "roc_auc": cascade["roc_auc"],
                    "average_precision": cascade["ap"],
                    "recall_at_1pct_fpr": cascade.get("recall_at_1pct_fpr"),
                    "ece": cascade.get("ece"),
                    "card_precision_at_100": cascade.get("card_precision_at_100"),
                },
            )
        )
    if report.get("published"):
        for name, figures in report["published"].items():
            if isinstance(figures, dict):
                rows.append((f"handbook: {name}", figures))

    def fmt(v: Any) -> str:
        return "—" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.4f}"

    head = f"{'scorer':<34} {'ROC AUC':>8} {'AP':>8} {'R@1%FPR':>8} {'CP@100':>8} {'ECE':>8}"
    lines = [head, "-" * len(head)]
    for name, m in rows:
        lines.append(
            f"{name[:34]:<34} {fmt(m.get('roc_auc')):>8} {fmt(m.get('average_precision')):>8} "
            f"{fmt(m.get('recall_at_1pct_fpr')):>8} {fmt(m.get('card_precision_at_100')):>8} "
            f"{fmt(m.get('ece')):>8}"
        )
    test = report["test"]
    lines.append(f"test: {test['transactions']:,} transactions, {test['frauds']:,} frauds")
    if cascade:
        lines.append(
            f"cascade: {cascade['status']}"
            + (
                f"; {cascade['share_to_language_model']:.1%} of traffic to the language model"
                f" (stage 1: {cascade.get('stage1', 'gbdt baseline')}, AP alone "
                f"{cascade['ap_stage1_alone']:.4f})"
                if cascade.get("share_to_language_model") is not None
                else ""
            )
        )
    probe = report.get("narrative_probe")
    if probe:
        lines.append(
            f"narrative probe: {probe['pairs']:,} payments, scam vs benign twin memos of "
            f"{probe['memo_families']} families (alert threshold {probe['alert_threshold']:.4f})"
        )
        for name in ("language_model", "served"):
            f = probe[name]
            lines.append(
                f"  {name.replace('_', ' '):<15} paired AUC {f['paired_auc']:.4f}, ROC AUC "
                f"{f['roc_auc']:.4f}, scam twins alerting {f['scam_alert_rate']:.1%}, benign "
                f"twins alerting {f['benign_alert_rate']:.1%}"
            )
    backtest = report.get("rules_backtest")
    if backtest:
        lines.append(rules_table(backtest))
    return "\n".join(lines)


def rules_table(backtest: dict[str, Any]) -> str:
    """`evaluate --rules`: the rule file next to the model alone, and what each rule changed."""

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{v:.3f}"

    lines = [f"rules backtest: {backtest['source']} at alert threshold {backtest['threshold']:.4g}"]
    for name in ("model_alone", "with_rules"):
        f = backtest[name]
        lines.append(
            f"  {name.replace('_', ' '):<12} {f['alerts']:>7,} alerts, precision {pct(f['precision'])}, "
            f"recall {pct(f['recall'])}"
        )
    lines.append(
        f"  {'rule':<28} {'fired':>7} {'+alerts':>8} {'+frauds':>8} {'-alerts':>8} {'-frauds':>8}"
    )
    for rule_id, r in backtest["rules"].items():
        lines.append(
            f"  {rule_id[:28]:<28} {r['fired']:>7,} {r['alerts_added']:>8,} {r['frauds_added']:>8,} "
            f"{r['alerts_removed']:>8,} {r['frauds_removed']:>8,}"
        )
    return "\n".join(lines)


def _version(dist: str) -> str:
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
        "lightgbm": _version("lightgbm"),
    }
