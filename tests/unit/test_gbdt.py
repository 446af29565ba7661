"""The LightGBM baseline / stage-1 scorer, and `fraudstream evaluate` driven by it alone."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fraudstream.model.gbdt import (
    META_FILE,
    MODEL_FILE,
    CategoryCodes,
    GBDTModel,
    GBDTParams,
    bench_predict,
)
from fraudstream.model.metrics import roc_auc

FAST = GBDTParams(max_rounds=60, early_stopping_rounds=10, min_child_samples=5, learning_rate=0.2)


def toy(n: int = 3000, seed: int = 0):
    """Fraud depends on a numeric feature and on one risky category value."""
    rng = np.random.default_rng(seed)
    num = rng.normal(size=(n, 3)).astype(np.float32)
    cat = np.stack(
        [rng.choice(["a", "b", "c", "risky"], n), rng.choice(["x", "y"], n)], axis=1
    ).astype(str)
    logit = 2.5 * num[:, 0] + 2.0 * (cat[:, 0] == "risky") - 4.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    return num, cat, y


def test_category_codes_have_an_unknown_bucket_and_a_cap():
    cat = np.array([["a"], ["a"], ["a"], ["b"], ["b"], ["c"], [""]], dtype=str)
    codes = CategoryCodes.fit(cat, max_categories=1, min_count=2)
    assert codes.vocabularies == [["a"]]
    out = codes.transform(np.array([["a"], ["b"], ["never seen"], [""]], dtype=str))
    assert out[:, 0].tolist() == [1.0, 0.0, 0.0, 0.0]
    codes = CategoryCodes.fit(cat, max_categories=10, min_count=2)
    assert codes.vocabularies == [
        ["a", "b"]
    ]  # most frequent first; "c" is too rare, "" is never a value


def test_fit_learns_and_is_deterministic():
    num, cat, y = toy()
    tr, va, te = slice(0, 2000), slice(2000, 2500), slice(2500, None)
    names = ["f0", "f1", "f2"]

    def fit() -> GBDTModel:
        return GBDTModel.fit(
            num[tr],
            cat[tr],
            y[tr],
            valid=(num[va], cat[va], y[va]),
            numeric_names=names,
            categorical_names=["kind", "side"],
            params=FAST,
        )

    a, b = fit(), fit()
    assert a.booster.model_to_string() == b.booster.model_to_string()
    p = a.predict_proba(num[te], cat[te])
    assert p.shape == (500,) and ((p >= 0) & (p <= 1)).all()
    assert roc_auc(y[te], p) > 0.85
    assert 1 <= a.info["best_iteration"] <= FAST.max_rounds
    assert a.info["rounds"] == a.info["best_iteration"]  # refit keeps the chosen round count
    assert set(a.feature_importance()) == {"f0", "f1", "f2", "kind", "side"}
    assert next(iter(a.feature_importance())) == "f0"


def test_unknown_labels_are_not_trained_on():
    num, cat, y = toy(800)
    y = y.copy()
    y[::2] = -1
    m = GBDTModel.fit(num, cat, y, params=GBDTParams(max_rounds=5))
    assert m.info["train_rows"] == 400


def test_save_load_is_text_and_exact(tmp_path: Path):
    num, cat, y = toy(1500)
    m = GBDTModel.fit(num[:1000], cat[:1000], y[:1000], params=GBDTParams(max_rounds=20, seed=3))
    m.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([MODEL_FILE, META_FILE])
    assert (tmp_path / MODEL_FILE).read_text().startswith("tree")
    meta = json.loads((tmp_path / META_FILE).read_text())
    assert meta["format"] == "fraudstream-gbdt" and meta["params"]["seed"] == 3
    loaded = GBDTModel.load(tmp_path)
    np.testing.assert_array_equal(
        loaded.predict_proba(num[1000:], cat[1000:]), m.predict_proba(num[1000:], cat[1000:])
    )
    assert loaded.categorical_names == m.categorical_names


def test_load_refuses_foreign_folders(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="missing"):
        GBDTModel.load(tmp_path)
    (tmp_path / MODEL_FILE).write_text("tree\n")
    (tmp_path / META_FILE).write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="not fraudstream-gbdt"):
        GBDTModel.load(tmp_path)


def test_shapes_are_checked_and_numeric_only_works():
    num, _, y = toy(600)
    m = GBDTModel.fit(num, None, y, params=GBDTParams(max_rounds=5))
    assert m.predict_proba(num[:7]).shape == (7,)
    assert m.predict_proba(num[:0]).shape == (0,)
    with pytest.raises(ValueError, match="numeric"):
        m.predict_proba(num[:, :2])


def test_bench_predict_reports_per_row_cost():
    num, cat, y = toy(600)
    m = GBDTModel.fit(num, cat, y, params=GBDTParams(max_rounds=5))
    out = bench_predict(m, num, cat, batch_size=256, min_seconds=0.01)
    assert out["batch_size"] == 256 and out["us_per_row"] > 0


# ---- fraudstream evaluate with the GBDT alone ------------------------------------------------


def write_handbook_like(path: Path, days: int = 40, per_day: int = 150, seed: int = 1) -> None:
    """A small file in the handbook's CSV layout: big amounts and one bad terminal are fraud."""
    rng = np.random.default_rng(seed)
    t0 = datetime(2018, 4, 1, tzinfo=UTC)
    rows = []
    for day in range(days):
        secs = np.sort(rng.integers(0, 86_400, per_day))
        for s in secs:
            customer = int(rng.integers(0, 120))
            terminal = int(rng.integers(0, 40))
            amount = round(float(rng.gamma(2.0, 30.0)), 2)
            fraud = amount > 150 or (terminal == 7 and rng.random() < 0.7)
            t = day * 86_400 + int(s)
            stamp = (t0 + timedelta(seconds=t)).strftime("%Y-%m-%d %H:%M:%S")
            rows.append([stamp, customer, terminal, amount, t, day, int(fraud), int(fraud)])
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "TRANSACTION_ID",
                "TX_DATETIME",
                "CUSTOMER_ID",
                "TERMINAL_ID",
                "TX_AMOUNT",
                "TX_TIME_SECONDS",
                "TX_TIME_DAYS",
                "TX_FRAUD",
                "TX_FRAUD_SCENARIO",
            ]
        )
        for i, r in enumerate(rows):
            w.writerow([i, *r])


def test_evaluate_cli_with_the_gbdt_baseline(tmp_path: Path):
    from fraudstream.model.evaluate_cli import evaluate

    data = tmp_path / "tx.csv"
    write_handbook_like(data)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        evaluate,
        [
            "--data",
            str(data),
            "--mapping",
            "handbook",
            "--train-start",
            "2018-04-20",
            "--baseline",
            "gbdt",
            "--cascade",
            "--json",
            "--out",
            str(out),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report == json.loads((out / "report.json").read_text())
    assert report["protocol"]["name"] == "handbook"
    assert report["protocol"]["test_first_day"] == "2018-05-04"
    assert report["test"]["card_role"] == "card"
    metrics = report["baseline"]["metrics"]
    for key in (
        "roc_auc",
        "average_precision",
        "recall_at_1pct_fpr",
        "card_precision_at_100",
        "ece",
    ):
        assert metrics[key] is not None
    assert metrics["roc_auc"] > 0.8
    assert report["model"] is None
    assert "published" not in report  # the handbook's table is for its own start date only
    assert report["cascade"]["ap"] is None and "needs" in report["cascade"]["status"]
    assert report["baseline"]["latency_batch_256"]["us_per_row"] > 0
    assert report["environment"]["cpu_count"] >= 1
    for name in ("precision_recall.png", "score_histogram.png", "calibration.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert GBDTModel.load(out / "gbdt").numeric_names == report["data"]["feature_spec"]["numeric"]


def test_evaluate_cli_refuses_nothing_to_evaluate(tmp_path: Path):
    from fraudstream.model.evaluate_cli import evaluate

    data = tmp_path / "tx.csv"
    write_handbook_like(data, days=2, per_day=5)
    result = CliRunner().invoke(evaluate, ["--data", str(data), "--mapping", "handbook"])
    assert result.exit_code != 0
    assert "nothing to evaluate" in result.output


def test_cascade_block_mixes_scores_by_band():
    from fraudstream.model.evaluate_scorers import evaluate_cascade

    y = np.array([0, 0, 1, 1, 0, 1], dtype=np.int8)
    stage1 = np.array([0.01, 0.5, 0.5, 0.95, 0.02, 0.4])
    model = np.array([0.9, 0.1, 0.8, 0.2, 0.9, 0.7])
    block = evaluate_cascade(stage1, model, y, (0.1, 0.9))
    assert block["share_to_language_model"] == pytest.approx(0.5)
    # Final scores: 0.01, 0.1, 0.8, 0.95, 0.02, 0.7 -> a perfect ranking.
    assert block["ap"] == pytest.approx(1.0)
    assert block["ap_gap"] == pytest.approx(block["ap_model_alone"] - 1.0)
    assert evaluate_cascade(stage1, None, y, (0.1, 0.9))["ap"] is None


def test_evaluate_table_time_split_without_card_entity():
    from fraudstream.features.dataset import FeatureTable
    from fraudstream.model.evaluate import EvaluateOptions
    from fraudstream.model.evaluate_report import summary_table
    from fraudstream.model.evaluate_split import evaluate_table

    num, cat, y = toy(4000, seed=5)
    table = FeatureTable(
        numeric=num,
        categorical=cat,
        narratives=[""] * len(y),
        labels=y,
        timestamps=1.7e9 + np.arange(len(y), dtype=np.float64) * 60.0,
        transaction_ids=np.arange(len(y)).astype(str),
        entities={"terminal": np.array(["t"] * len(y))},
        numeric_names=["f0", "f1", "f2"],
        categorical_names=["kind", "side"],
    )
    report, scores = evaluate_table(table, EvaluateOptions(baseline="gbdt"))
    assert report["protocol"]["name"] == "time"
    assert report["test"]["transactions"] == 600
    assert report["test"]["card_role"] is None
    assert "card_precision_at_100" not in report["baseline"]["metrics"]
    assert report["baseline"]["metrics"]["roc_auc"] > 0.8
    assert set(scores) == {"gbdt baseline"}
    assert "gbdt baseline" in summary_table(report)
