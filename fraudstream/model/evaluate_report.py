"""Evaluation's output: the published figures, the JSON report and the terminal tables.

Cut from `evaluate.py` (the writing half of its step 4): functions of a finished report (and,
for `is_published_setting`, of the options), none of which scores or reads data.

- `HANDBOOK_PUBLISHED`, `PREQUENTIAL_PUBLISHED`, `is_published_setting`: the handbook's own
  figures, added to the report only for the handbook's own windows;
- `report_json`, `write_report`: the report as JSON (numpy scalars as numbers, NaN as null);
- `summary_table`, `prequential_table`, `rules_table`: the text `fraudstream evaluate` prints;
- `plot_subtitle`: the figures' subtitle (the figures themselves: `plots.py`).

It imports nothing from the other `evaluate*` modules at run time, so each of them can import it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudstream.model.protocol import parse_start

if TYPE_CHECKING:
    from fraudstream.model.evaluate import EvaluateOptions


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


SUMMARY_METRICS = ("roc_auc", "average_precision", "card_precision_at_100")
"""Metrics summarised over the prequential folds (`evaluate_prequential.py::summarise_folds`)
and shown by `prequential_table`."""


def is_published_setting(options: EvaluateOptions) -> bool:
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


def plot_subtitle(report: dict[str, Any]) -> str:
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
