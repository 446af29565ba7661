"""Evaluation on one split: which rows train and test, and every scorer run over them.

Cut from `evaluate.py` (its steps 2 to 4 for one split), so that the orchestration there reads
as the command it is:

- `choose_split`: the handbook split (`protocol.py::handbook_split`, the card role the mapping
  has for removing known-compromised cards) or the time split, as a `Split` that also holds the
  GBDT baseline's early-stopping rows (`from_handbook`: the training window's tail, never test
  rows);
- `evaluate_table`: the labelled test rows scored by the model, the GBDT baseline and, with
  `--cascade`, the cascade (`evaluate_scorers.py`), each measured by `metrics.py`; then the rules
  backtest (`--rules`, `fraudstream/rules.py`) and the narrative probe (`--probe`, `probe.py`).
  It returns the report's blocks without the data block, which `evaluate.py::evaluate_file`
  adds. The prequential protocol (`evaluate_prequential.py`) calls it once per fold, with the
  fold's `Split`.

`EvaluateOptions` and `EvaluationError` come from `evaluate.py`, which imports this module only
when it runs (`evaluate_file`), so that the two do not import each other at import time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from fraudstream.model.evaluate import EvaluationError, package_version
from fraudstream.model.evaluate_scorers import ModelScorer, evaluate_cascade
from fraudstream.model.gbdt import GBDTModel, GBDTParams, bench_predict
from fraudstream.model.metrics import classification_report
from fraudstream.model.protocol import (
    HandbookSplit,
    day_index,
    handbook_split,
    split_tail,
    time_split,
)

if TYPE_CHECKING:
    from fraudstream.features.dataset import FeatureTable
    from fraudstream.model.evaluate import EvaluateOptions

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
Log = Callable[[str], None]


CARD_ROLES = ("card", "customer", "account")
"""Entity roles whose key identifies a card for Card Precision@k, in order of preference."""


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


def card_role_for_test(table: FeatureTable) -> str:
    role = card_role(table)
    if role is None:
        raise EvaluationError(
            "the handbook protocol removes known-compromised cards from the test: the "
            f"mapping must map one of the entity roles {', '.join(CARD_ROLES)}"
        )
    return role


def from_handbook(hb: HandbookSplit, table: FeatureTable, options: EvaluateOptions) -> Split:
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
        role = card_role_for_test(table)
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
        return from_handbook(hb, table, options)
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
        gbdt = GBDTModel.fit_table(table, train, valid, params)
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
            "library": f"lightgbm {package_version('lightgbm')}",
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
