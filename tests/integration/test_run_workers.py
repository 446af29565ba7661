"""`fraudstream run --workers 2` on the real broker: two members of one consumer group on one
machine, sharing one model server (`stream/workers.py`, `runtime/model_server.py`), score every
transaction between them (at least once: the rebalance as the second one joins may read again
what the first had not committed) and stop by themselves with `--exit-when-idle`."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from fraudstream.localkafka import BrokerInfo
from fraudstream.stream.audit import id_counts, read_topic
from fraudstream.stream.produce import produce_records
from fraudstream.stream.topics import prepare_topics
from fraudstream.testing import prefixed_settings, transaction

pytestmark = pytest.mark.integration


def split_between_two(log: str) -> bool:
    """The last two assignments logged are disjoint and cover the 4 partitions."""
    found = [set(orjson.loads(m)) for m in re.findall(r"assigned partitions (\[[0-9, ]*\])", log)]
    return len(found) >= 2 and found[-1] | found[-2] == {0, 1, 2, 3} and not found[-1] & found[-2]


def test_two_workers_share_one_model_server_and_score_everything(
    kafka_broker: BrokerInfo, default_model: Path, topic_prefix: str, tmp_path: Path
) -> None:
    settings = prefixed_settings(kafka_broker.bootstrap, topic_prefix, partitions=4)
    records = [
        transaction(
            transaction_id=f"tx-{i:05d}",
            account_id=f"acc-{i % 41:03d}",
            timestamp=f"2026-01-15T10:{(i // 60) % 60:02d}:{i % 60:02d}Z",
            narrative=["TESCO STORES 3417", "rent for march", "urgent: safe account"][i % 3],
        )
        for i in range(600)
    ]

    topics = settings.topics
    asyncio.run(prepare_topics(settings))
    argv = [
        sys.executable,
        "-m",
        "fraudstream",
        "run",
        "--workers",
        "2",
        "--bootstrap",
        kafka_broker.bootstrap,
        "--input-topic",
        topics.input,
        "--scores-topic",
        topics.scores,
        "--alerts-topic",
        topics.alerts,
        "--dlq-topic",
        topics.dlq,
        "--labels-topic",
        topics.labels,
        "--group-id",
        settings.group_id,
        "--model",
        str(default_model),
        "--exit-when-idle",
        "10",
    ]
    log = tmp_path / "run.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "FRAUDSTREAM_TORCH_THREADS": "1"},
        )
        try:
            # once the group has split the 4 partitions between the two, send the payments
            deadline = time.monotonic() + 300
            while not split_between_two(log.read_text()):
                assert proc.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
            asyncio.run(
                produce_records(
                    settings.kafka,
                    topics.input,
                    [(r["account_id"].encode(), orjson.dumps(r)) for r in records],
                )
            )
            proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
    stderr = log.read_text()
    done = subprocess.CompletedProcess(argv, proc.returncode, "", stderr)
    assert done.returncode == 0, done.stderr[-3000:]
    # one model server for both: the supervisor says so, and no worker started a child of its own
    assert "model server for 2 workers" in done.stderr, done.stderr[-3000:]
    summaries = [
        orjson.loads(line) for line in done.stderr.splitlines() if line.startswith('{"alerts"')
    ]
    assert len(summaries) == 2, done.stderr[-3000:]
    assert all(s["scored"] > 0 for s in summaries)  # both took part
    assert sum(s["scored"] for s in summaries) >= len(records)  # a rebalance may re-read some
    assert all(s["model_restarts"] == 0 and s["fallbacks"] == 0 for s in summaries)
    assert sum(s["language_model"] for s in summaries) > 0  # the shared model did score
    scores = asyncio.run(read_topic(settings.kafka, topics.scores))
    counts = id_counts(scores)
    assert set(counts) == {r["transaction_id"] for r in records}
    print(
        f"\n--workers 2: scored {[s['scored'] for s in summaries]} by worker, "
        f"{sum(s['language_model'] for s in summaries)} by the shared language model; "
        f"{sum(counts.values())} scores for {len(counts)} transactions"
    )
