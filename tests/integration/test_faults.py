"""Fault tests: the `fraudstream chaos` scenarios (loadtest/chaos.py) with small counts, each on
processor subprocesses against a real broker, counted by an independent read_committed reader.
The long runs with the full counts are `fraudstream chaos all --json` (docs/guarantees.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fraudstream.localkafka import BrokerInfo, LocalBroker, free_port
from loadtest import chaos

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
async def test_kill9_under_load_loses_nothing(
    kafka_broker: BrokerInfo, topic_prefix: str, guarantee: str, tmp_path: Path
) -> None:
    env = chaos.Env(
        kafka_broker.bootstrap, guarantee=guarantee, prefix=topic_prefix, log_dir=tmp_path
    )
    result = await chaos.kill9(env, kills=2, rate=300.0)
    assert result["sent"] > 0 and result["missing"] == 0, result
    assert result["missing_alerts"] == 0, result
    if guarantee == "exactly_once":
        assert result["duplicates"] == 0 and result["duplicate_alerts"] == 0, result


async def test_sigterm_under_load_drains_exits_0_and_a_restart_finds_nothing_missing(
    kafka_broker: BrokerInfo, topic_prefix: str, tmp_path: Path
) -> None:
    env = chaos.Env(kafka_broker.bootstrap, prefix=topic_prefix, log_dir=tmp_path)
    result = await chaos.sigterm(env, records=3000, rate=1000.0, shutdown_timeout_s=10.0)
    assert result["in_flight_at_sigterm"], result  # it was under load: work to drain
    assert result["exit_code"] == 0 and result["restart_exit_code"] == 0, result
    # bounded by shutdown_timeout_s; the margin covers closing the clients on a loaded machine
    assert result["exit_s"] < result["shutdown_timeout_s"] + 10, result
    assert result["missing"] == 0 and result["missing_alerts"] == 0, result


async def test_rebalance_churn_one_two_three_one_workers_loses_nothing(
    kafka_broker: BrokerInfo, topic_prefix: str, tmp_path: Path
) -> None:
    env = chaos.Env(
        kafka_broker.bootstrap, guarantee="exactly_once", prefix=topic_prefix, log_dir=tmp_path
    )
    result = await chaos.rebalance(env, rate=200.0, hold_s=2.0)
    assert result["missing"] == 0 and result["duplicates"] == 0, result
    assert set(result["longest_stall_s"]) == {"1->2", "2->3", "3->1"}


async def test_stuck_transaction_commit_is_aborted_and_never_visible(
    kafka_broker: BrokerInfo, topic_prefix: str, tmp_path: Path
) -> None:
    env = chaos.Env(kafka_broker.bootstrap, prefix=topic_prefix, log_dir=tmp_path)
    result = await chaos.stuck_commit(env, stuck=1, stuck_s=14.0, timeout_ms=3000, run_s=3.0)
    assert result["stuck_workers_stopped"] >= 1, result  # the fault really happened
    assert result["missing"] == 0 and result["duplicates"] == 0, result
    assert result["missing_alerts"] == 0 and result["duplicate_alerts"] == 0, result


async def test_zombie_worker_is_fenced_after_its_partitions_moved(
    kafka_broker: BrokerInfo, topic_prefix: str, tmp_path: Path
) -> None:
    """A worker frozen past its session timeout loses its partitions; when it wakes up its
    transactions are fenced by the new owner's producers, so nothing it does becomes visible."""
    env = chaos.Env(kafka_broker.bootstrap, prefix=topic_prefix, log_dir=tmp_path)
    result = await chaos.zombie(env, freeze_s=10.0, rate=200.0)
    assert result["zombie_fenced"] and result["zombie_exit_code"] == 1, result
    assert result["missing"] == 0 and result["duplicates"] == 0, result
    assert result["duplicate_alerts"] == 0, result


async def test_hostile_input_every_payment_gets_a_decision_malformed_ones_dead_lettered(
    kafka_broker: BrokerInfo, topic_prefix: str, tmp_path: Path
) -> None:
    env = chaos.Env(kafka_broker.bootstrap, prefix=topic_prefix, log_dir=tmp_path)
    result = await chaos.hostile(env, good=400, per_kind=4, huge=1)
    assert result["bad_input_kinds"] >= 20, result
    # malformed: dead-lettered with a reason, and a review score when it names its payment
    assert result["dead_letters"] == result["dead_letters_with_reason"]
    assert result["dead_letters"] == result["dead_letters_expected"], result
    assert result["unscorable_sent"] > 0
    assert result["unscorable_reviewed"] == result["unscorable_sent"], result
    # payments in disguise: scored once, with the flag that says what was hidden
    assert result["evasions_sent"] > 0
    assert result["evasions_scored_flagged"] == result["evasions_sent"], result
    assert result["changed_resends_flagged"] == result["changed_resends_sent"] > 0, result
    assert result["good_scored"] == result["good_sent"] and result["missing"] == 0, result
    assert result["duplicates"] == 0 and result["worker_exit_code"] == 0, result


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker of this test alone: the test stops and starts it."""
    broker = LocalBroker(tmp_path / "kafka", port=free_port())
    broker.up()
    try:
        yield broker
    finally:
        broker.down()


async def test_broker_bounce_under_load_loses_nothing(
    own_broker: LocalBroker, tmp_path: Path
) -> None:
    info = own_broker.status()
    assert info is not None
    env = chaos.Env(info.bootstrap, guarantee="exactly_once", log_dir=tmp_path)
    result = await chaos.bounce(env, broker=own_broker, bounces=1, down_s=3.0, rate=200.0)
    assert result["missing"] == 0 and result["duplicates"] == 0, result
    assert result["resume_after_broker_up_s"][0] is not None, result
