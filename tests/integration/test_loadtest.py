"""`fraudstream loadtest` end to end on the real broker with the fake model (no torch): the report
is complete and sane (every record sent is joined to exactly one score, latencies are positive
and ordered, the series add up) and the page is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from fraudstream.localkafka import BrokerInfo
from loadtest.cli import loadtest

pytestmark = pytest.mark.integration


def run_loadtest(broker: BrokerInfo, out: Path, *args: str) -> dict[str, Any]:
    argv = [
        "--bootstrap",
        broker.bootstrap,
        "--fake-model-cost-us",
        "50",
        "--fake-batch-cost-us",
        "500",
        "--warmup",
        "2",
        "--drain",
        "10",
        "--partitions",
        "2",
        "--pool",
        "3000",
        "--out",
        str(out),
        "--json",
        "--quiet",
        "--no-abort",  # run every step to its end whatever the machine's load does to latency
        *args,
    ]
    result = CliRunner().invoke(loadtest, argv, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    printed = orjson.loads(result.stdout)
    report = orjson.loads((out / "report.json").read_bytes())
    assert printed["variants"].keys() == report["variants"].keys()
    assert (out / "report.png").stat().st_size > 20_000
    return report


def check_step(step: dict[str, Any], rate: float, seconds: float) -> None:
    planned = round(rate * seconds)
    assert step["planned"] == planned and step["sent"] == planned and step["acked"] == planned
    assert step["scored"] == planned and step["missing"] == 0 and step["duplicates"] == 0
    assert step["timestamp_mismatch"] == 0 and step["send_errors"] == 0 and not step["aborted"]
    lat = step["latency_ms"]
    assert lat["count"] == planned and lat["min"] > 0
    chain = [lat["min"], lat["p50"], lat["p90"], lat["p99"], lat["p99.9"], lat["max"]]
    assert chain == sorted(chain)
    # The processor produced each score before the collector could read it.
    produced = step["until_produced_ms"]
    assert produced["count"] == planned and produced["max"] <= lat["max"] + 1.0
    assert step["generator_send_lag_ms"]["count"] == planned
    series = step["series"]
    assert sum(series["offered_per_s"]) == planned and sum(series["scored_per_s"]) == planned
    assert step["throughput_per_s"] >= 0.7 * rate
    assert step["passed"] == (lat["p99"] <= 50.0)


def test_single_run_report_is_complete_and_sane(kafka_broker: BrokerInfo, tmp_path: Path) -> None:
    report = run_loadtest(kafka_broker, tmp_path, "--rate", "200", "--duration", "8")
    assert report["mode"] == "single" and report["config"]["budget_ms"] == 50.0
    assert report["command"].startswith("fraudstream loadtest --bootstrap ")
    assert "--rate 200.0" in report["command"] and "--fake-model-cost-us 50.0" in report["command"]
    assert len(report["load_avg_start"]) == 3 and report["machine"]["cpus"]
    v = report["variants"]["scheduler"]
    assert v["error"] is None and v["model_version"] == "fake-0001"
    warmup, step = v["steps"]
    assert warmup["purpose"] == "warm-up" and not warmup["judged"]
    assert step["purpose"] == "fixed" and step["judged"]
    check_step(step, 200, 8)
    assert step["stages"] == {"language_model": 1600}
    assert step["batch_size"]["min"] >= 1
    assert v["instances"][0]["exit_code"] == 0  # stopped cleanly on SIGTERM
    assert (tmp_path / "logs" / "generator.log").exists()


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["faust", "passthrough"])
def test_other_variants_report(kafka_broker: BrokerInfo, tmp_path: Path, variant: str) -> None:
    report = run_loadtest(
        kafka_broker, tmp_path, "--variant", variant, "--rate", "150", "--duration", "5"
    )
    v = report["variants"][variant]
    assert v["error"] is None
    check_step(v["steps"][-1], 150, 5)


def test_the_client_benchmark_measures_both_clients(kafka_broker: BrokerInfo) -> None:
    """`loadtest --clients`: every record produced and consumed by each client (the benchmark
    asserts the delivery count itself), CPU figures for both, and the decision of the rule on
    the worker's whole cost per record. Uses the default model (built once per machine)."""
    result = CliRunner().invoke(
        loadtest,
        ["--bootstrap", kafka_broker.bootstrap, "--clients", "2000"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["records"] == 2000
    for name in ("aiokafka", "confluent-kafka"):
        figures = report["clients"][name]
        assert figures["produce_cpu_us"] > 0 and figures["consume_cpu_us"] > 0
        assert figures["cpu_us_per_record"] == pytest.approx(
            figures["produce_cpu_us"] + figures["consume_cpu_us"], abs=0.02
        )
    a, c = (report["clients"][n]["cpu_us_per_record"] for n in ("aiokafka", "confluent-kafka"))
    pipeline = report["pipeline_us_per_record"]
    assert pipeline > 0  # the event loop's own work on a record, measured in the same command
    assert report["cut"] == pytest.approx((a - c) / (pipeline + a), abs=0.002)
    want = "move the hot path to confluent-kafka" if report["cut"] > 0.30 else "keep aiokafka"
    assert report["decision"] == want
