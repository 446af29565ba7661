"""`fraudstream alerts` as an analyst runs it, against the real broker: the table tells alerts
apart, and --min-score, --account, --band, --json and --follow filter what the topic holds."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from fraudstream.config import Settings
from fraudstream.features import FeatureSpec
from fraudstream.localkafka import BrokerInfo
from fraudstream.stream.app import build_processor
from fraudstream.stream.produce import produce_records
from fraudstream.testing import FakeScoring, prefixed_settings, transaction

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "fraudstream", "alerts"]


def records(start: int, n: int) -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(start, start + n):
        tx = transaction(
            transaction_id=f"tx-4242-{i:08d}",
            account_id=f"acc-{i % 7:04d}",
            narrative="URGENT gift card for tax office" if i % 10 == 0 else f"TESCO STORES {i}",
            timestamp=f"2026-01-15T10:{(i // 60) % 60:02d}:{i % 60:02d}Z",
        )
        out.append((tx["account_id"].encode(), orjson.dumps(tx)))
    return out


async def score(settings: Settings, batch: list[tuple[bytes, bytes]]) -> None:
    # block_threshold above the fake's 0.97: its alerts are in the review band
    scoring = FakeScoring(block_threshold=0.99)
    processor = build_processor(settings, scoring=scoring, spec=FeatureSpec.native())
    run = asyncio.create_task(processor.run(exit_when_idle=2.0))
    await asyncio.wait_for(processor.ready.wait(), 60)
    await produce_records(settings.kafka, settings.topics.input, batch)
    await asyncio.wait_for(run, 120)


def alerts_cli(settings: Settings, *args: str, cwd: Path) -> list[str]:
    done = subprocess.run(
        [
            *CLI,
            "--bootstrap",
            settings.kafka.bootstrap,
            "--alerts-topic",
            settings.topics.alerts,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.splitlines()


async def test_the_alerts_command_filters_and_follows(
    kafka_broker: BrokerInfo, topic_prefix: str, tmp_path: Path
) -> None:
    settings = prefixed_settings(kafka_broker.bootstrap, topic_prefix)
    await score(settings, records(0, 300))
    alerting = {f"tx-4242-{i:08d}" for i in range(0, 300, 10)}

    table = alerts_cli(settings, cwd=tmp_path)
    assert table[0].split()[:3] == ["time", "transaction", "account"]
    rows = table[1:]
    assert len(rows) == len(alerting)
    # every row names its own payment: the distinguishing end of the id is on the table
    assert {tid for tid in alerting if any(tid[-8:] in r for r in rows)} == alerting
    assert all("review" in r and "****" in r for r in rows)

    as_json = [orjson.loads(line) for line in alerts_cli(settings, "--json", cwd=tmp_path)]
    assert {a["score_record"]["transaction_id"] for a in as_json} == alerting

    assert alerts_cli(settings, "--json", "--min-score", "0.99", cwd=tmp_path) == []
    assert len(alerts_cli(settings, "--json", "--min-score", "0.9", cwd=tmp_path)) == 30
    assert alerts_cli(settings, "--json", "--band", "block", cwd=tmp_path) == []
    assert len(alerts_cli(settings, "--json", "--band", "review", cwd=tmp_path)) == 30
    mine = [
        orjson.loads(x)
        for x in alerts_cli(settings, "--json", "--account", "acc-0003", cwd=tmp_path)
    ]
    expected = {f"tx-4242-{i:08d}" for i in range(0, 300, 10) if i % 7 == 3}
    assert {a["score_record"]["transaction_id"] for a in mine} == expected and expected

    # --follow: already running when new alerts come, it prints them as they arrive
    follow = subprocess.Popen(
        [
            *CLI,
            "--bootstrap",
            settings.kafka.bootstrap,
            "--alerts-topic",
            settings.topics.alerts,
            "--follow",
            "--json",
            "--limit",
            "35",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        await asyncio.sleep(3.0)
        await score(settings, records(300, 50))
        out, err = await asyncio.to_thread(follow.communicate, timeout=120)
    finally:
        if follow.poll() is None:
            follow.kill()
    assert follow.returncode == 0, err[-2000:]
    got = [orjson.loads(line)["score_record"]["transaction_id"] for line in out.splitlines()]
    assert len(got) == 35
    assert set(got[30:]) == {f"tx-4242-{i:08d}" for i in range(300, 350, 10)}
