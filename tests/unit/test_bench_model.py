"""`fraudstream bench-model`: shape of its report, on a tiny run (figures come from the command)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from fraudstream.model.bench_cli import bench_model


def test_bench_model_reports_both_paths_side_by_side() -> None:
    args = ["--batch-sizes", "2,8", "--lengths", "8,synth", "--seconds", "0.02", "--repeats", "1"]
    result = CliRunner().invoke(bench_model, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    setup, rows = report["setup"], report["results"]
    assert setup["preset"] == "tiny" and setup["threads"] == 1
    assert setup["synth_lengths"]["max"] >= setup["synth_lengths"]["p50"] >= 2
    assert [(r["lengths"], r["batch_size"]) for r in rows] == [
        ("8", 2),
        ("8", 8),
        ("synth", 2),
        ("synth", 8),
    ]
    for r in rows:
        assert r["eager_tx_s"] > 0 and r["optimised_tx_s"] > 0 and r["speedup"] > 0
        assert r["max_logit_diff"] < 0.1  # bf16 drifts a little from fp32, never far


def test_bench_model_refuses_a_bad_length() -> None:
    result = CliRunner().invoke(bench_model, ["--lengths", "abc", "--seconds", "0.05"])
    assert result.exit_code != 0
    assert "--lengths" in result.output
