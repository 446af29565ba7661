"""The model's child process killed 10 times under load, with the real default model on the real
broker: every transaction still gets exactly one score, and the restarts and fallbacks are
counted (`runtime/model_process.py`)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import orjson
import pytest

from fraudstream.localkafka import BrokerInfo
from fraudstream.runtime import model_process
from fraudstream.stream.app import build_processor
from fraudstream.stream.audit import id_counts, read_topic
from fraudstream.stream.produce import produce_records
from fraudstream.synth import SynthConfig, generate
from fraudstream.testing import prefixed_settings

pytestmark = pytest.mark.integration

KILLS = 10


async def test_killing_the_model_process_10_times_loses_nothing(
    kafka_broker: BrokerInfo,
    default_model: Path,
    topic_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The backoff between restarts is the unit test's (test_model_folder.py); here every death
    # is followed by a restart at once, so that ten of them fit in a minute.
    monkeypatch.setattr(model_process, "RESTART_BACKOFF_S", (0.0,))
    settings = prefixed_settings(
        kafka_broker.bootstrap,
        topic_prefix,
        model_path=str(default_model),
        torch_threads=1,
        model_process=True,
        # every payment through the language model: the kills then always hit work
        cascade_band=(0.0, 1.0),
    )
    records = list(generate(2_200, SynthConfig(seed=21)))
    chunks = [records[i : i + 200] for i in range(0, len(records), 200)]
    processor = build_processor(settings)
    remote = processor.scoring.remote
    assert remote is not None
    run = asyncio.create_task(processor.run(exit_when_idle=5.0))
    await asyncio.wait_for(processor.ready.wait(), 300)
    killed = 0
    started = time.monotonic()
    for chunk in chunks:
        await produce_records(
            settings.kafka,
            settings.topics.input,
            [(r["account_id"].encode(), orjson.dumps(r)) for r in chunk],
        )
        if killed:
            # the kill before this chunk: a batch in flight at the kill, or one of this chunk,
            # has to start the model process again
            deadline = time.monotonic() + 120
            while remote.restarts < killed and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert remote.restarts == killed, "the model process was not started again"
        if killed < KILLS:
            await asyncio.sleep(0.3)  # batches in flight (or done: then the next chunk's)
            os.kill(remote._proc.pid, signal.SIGKILL)
            killed += 1
    counters = await asyncio.wait_for(run, 600)
    scores = await read_topic(settings.kafka, settings.topics.scores)
    ids = id_counts(scores)
    fallbacks = sum(1 for r in scores if any(f.startswith("fallback") for f in r.json()["flags"]))
    print(
        f"\n{len(records)} transactions, the model process killed {killed} times in "
        f"{time.monotonic() - started:.0f} s: {len(ids)} scored, restarts "
        f"{counters.model_restarts() if counters.model_restarts else 0}, retried batches "
        f"{counters.retried_batches}, fallbacks {counters.fallbacks} ({fallbacks} flagged)"
    )
    assert set(ids) == {r["transaction_id"] for r in records}
    assert set(ids.values()) == {1}
    assert counters.as_dict()["model_restarts"] == KILLS
    assert counters.fallbacks == fallbacks
