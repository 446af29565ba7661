"""A loop that dies while the process lives is the worst failure: the worker must stop instead.

Each of the processor's loops is broken in turn (an unexpected exception where that loop calls
into our own code) while the processor runs on the real broker; `run` must raise within 5 s,
naming the loop and the cause, so that `fraudstream run` exits non-zero and an orchestrator
restarts it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest

from fraudstream.features import FeatureSpec
from fraudstream.localkafka import BrokerInfo
from fraudstream.stream.app import build_processor
from fraudstream.stream.produce import produce_records
from fraudstream.stream.worker import Worker, WorkerFailed
from fraudstream.testing import FakeScoring, prefixed_settings, transaction

pytestmark = pytest.mark.integration


class Boom(Exception):
    pass


def _raise(*args: Any, **kwargs: Any) -> Any:
    raise Boom("injected fault")


async def _araise(*args: Any, **kwargs: Any) -> Any:
    raise Boom("injected fault")


def break_loop(worker: Worker, loop: str) -> None:
    if loop == "fetch":
        worker.intake.admit = _raise  # type: ignore[method-assign]
    elif loop == "dispatch":
        worker.engine.scheduler.poll = _raise  # type: ignore[method-assign]
    elif loop == "commit":
        assert worker.ctx.store is not None
        worker.ctx.store.flush = _araise  # type: ignore[method-assign]
    elif loop == "sender":
        assert worker.ctx.producer is not None
        worker.ctx.producer.send = _araise  # type: ignore[method-assign]
    else:
        raise AssertionError(loop)


@pytest.mark.parametrize("loop", ["fetch", "dispatch", "commit", "sender"])
async def test_a_loop_that_dies_stops_the_worker_within_5_s(
    kafka_broker: BrokerInfo, topic_prefix: str, loop: str
) -> None:
    settings = prefixed_settings(kafka_broker.bootstrap, topic_prefix)
    # Every record to the (fake) model, so that the dispatch loop has work.
    scoring = FakeScoring()
    processor = build_processor(settings, scoring=scoring, spec=FeatureSpec.native())
    run = asyncio.create_task(processor.run())
    await asyncio.wait_for(processor.ready.wait(), 60)
    ready, why = processor.readiness()
    assert ready, why
    break_loop(processor, loop)
    records = [
        (b"acc-1", orjson.dumps(transaction(transaction_id=f"tx-{i}", narrative="gift card")))
        for i in range(20)
    ]
    await produce_records(settings.kafka, settings.topics.input, records)
    sent = time.monotonic()
    with pytest.raises(WorkerFailed) as failed:
        await asyncio.wait_for(run, 30)
    waited = time.monotonic() - sent
    print(f"\n{loop} loop broken: the worker stopped {waited:.2f} s after the records were sent")
    assert waited < 5.0
    assert f"the {loop} loop stopped" in str(failed.value)
    assert "injected fault" in str(failed.value)
    ready, why = processor.readiness()
    assert not ready and f"the {loop} loop stopped" in why
