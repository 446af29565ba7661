"""The worker's parts (`stream/intake.py`, `engine.py`, `verdicts.py`, `outbox.py`,
`checkpoint.py`, `rebalance.py`, `shadow.py`) one at a time, with the fakes of
`fraudstream/testing.py` in place of the broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from fraudstream.batching import Ticket
from fraudstream.features import FeatureSpec
from fraudstream.mapping import Mapping
from fraudstream.pipeline import Work
from fraudstream.stream.shadow import ShadowSlots
from fraudstream.stream.worker import Worker
from fraudstream.testing import (
    FakeConsumer,
    FakeProducer,
    FakeScoring,
    FakeStateStore,
    prefixed_settings,
    transaction,
)

TOPIC = "t-tx"


def make_worker(
    scoring: FakeScoring | None = None, **changes: object
) -> tuple[Worker, FakeConsumer, FakeProducer, FakeStateStore]:
    settings = prefixed_settings("127.0.0.1:1", "t", partitions=2, **changes)
    worker = Worker(
        settings,
        scoring or FakeScoring(),
        mapping=Mapping.load("native"),
        spec=FeatureSpec.native(),
        worker_id="w1",
    )
    consumer, producer, store = FakeConsumer(TOPIC, (0, 1)), FakeProducer(), FakeStateStore()
    ctx = worker.ctx
    ctx.consumer, ctx.producer, ctx.store = consumer, producer, store  # type: ignore[assignment]
    return worker, consumer, producer, store


async def assign(worker: Worker, *partitions: int) -> None:
    await worker.rebalance.assigned(set(partitions))


def read(worker: Worker, consumer: FakeConsumer, *values: bytes, partition: int = 0) -> list[Work]:
    for v in values:
        consumer.add(partition, v, key=b"acc-0001")
    data = {tp: consumer.records[tp.partition] for tp in consumer.assignment()}
    data = {tp: msgs for tp, msgs in data.items() if tp.partition == partition}
    return worker.intake.admit(data)


async def settle(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


def tx(i: int, **overrides: object) -> bytes:
    return orjson.dumps(transaction(transaction_id=f"tx-{i:08d}", **overrides))


# ------------------------------------------------------------------------------ intake


async def test_intake_tickets_every_record_and_dead_letters_what_it_cannot_admit() -> None:
    worker, consumer, _, _ = make_worker()
    await assign(worker, 0, 1)
    works = read(worker, consumer, tx(1), b"{not json", tx(2))
    assert [w.source.offset for w in works] == [0, 2]
    assert [w.tracked_ticket.offset for w in works] == [0, 2]
    assert worker.counters.records_in == 3 and worker.counters.dead_letters == 1
    assert worker.ctx.tracker.in_flight() == 3


async def test_intake_reads_a_partition_again_once_its_state_is_restored() -> None:
    worker, consumer, _, _ = make_worker()
    await assign(worker, 1)  # partition 0 assigned to the consumer but not restored
    assert read(worker, consumer, tx(1), tx(2), partition=0) == []
    assert consumer.seeks == [(0, 0)]
    assert worker.ctx.tracker.in_flight() == 0


async def test_intake_pauses_above_max_in_flight_and_resumes_below_half() -> None:
    worker, consumer, producer, _ = make_worker(max_in_flight=4)
    producer.auto_ack = False
    await assign(worker, 0, 1)
    for i in range(5):
        consumer.add(0, tx(i), key=b"acc-0001")
    loops = [asyncio.create_task(worker.engine.run()), asyncio.create_task(worker.outbox.run())]
    loops.append(asyncio.create_task(worker.intake.run()))
    await settle(lambda: worker.intake.paused)  # one chunk read: 5 in flight >= 4
    assert consumer.paused == {0, 1}
    consumer.add(0, tx(5), key=b"acc-0001")
    await settle(lambda: len(producer.pending) == 5)
    assert consumer.position[0] == 5  # paused: the sixth waits on the broker
    producer.ack(2)
    await asyncio.sleep(0.1)
    assert worker.intake.paused  # 3 in flight: not below half of 4 yet
    producer.ack(2)
    await settle(lambda: consumer.position[0] == 6)  # resumed below half
    await settle(lambda: len(producer.pending) == 2)
    producer.ack()
    await settle(lambda: worker.ctx.tracker.in_flight() == 0)
    for t in loops:
        t.cancel()


# ------------------------------------------------------------------------------ verdicts


async def test_a_second_alert_for_one_transaction_id_is_a_flagged_score() -> None:
    worker, consumer, _, _ = make_worker()
    await assign(worker, 0)
    memo = "urgent gift card for the safe account"
    # the same id sent again with other content is scored again (flagged), not alerted twice
    first, second = read(worker, consumer, tx(1, narrative=memo), tx(1, narrative=memo + "!"))
    worker.verdicts.score(first, 0.97, "language_model", [])
    worker.verdicts.score(second, 0.97, "language_model", [])
    assert worker.counters.alerts == 1 and worker.counters.alerts_suppressed == 1
    assert "alert_suppressed_duplicate" in second.flags
    topics = [o.topic for o in worker.outbox._queue]
    assert topics == ["t-scores", "t-alerts", "t-scores"]


async def test_a_dead_letter_with_readable_ids_also_gets_a_review_score() -> None:
    worker, consumer, _, _ = make_worker()
    await assign(worker, 0)
    bad = orjson.dumps(transaction(transaction_id="tx-9", amount="lots"))
    assert read(worker, consumer, bad) == []
    queued = list(worker.outbox._queue)
    assert [o.topic for o in queued] == ["t-dlq", "t-scores"]
    score = orjson.loads(queued[1].value)
    assert score["transaction_id"] == "tx-9" and score["band"] == "review"
    assert worker.counters.unscorable == 1


# ------------------------------------------------------------------------------ outbox


async def test_outbox_sends_in_order_and_acknowledges_to_the_tracker() -> None:
    worker, consumer, producer, _ = make_worker()
    await assign(worker, 0)
    works = read(worker, consumer, tx(1), tx(2), tx(3))
    for w in works:
        worker.verdicts.score(w, 0.01, "stage1", [])
    sender = asyncio.create_task(worker.outbox.run())
    await settle(lambda: worker.ctx.tracker.in_flight() == 0)
    ids = [orjson.loads(s.value)["transaction_id"] for s in producer.sent]
    assert ids == ["tx-00000001", "tx-00000002", "tx-00000003"]
    assert worker.ctx.tracker.committable() == {(TOPIC, 0): 3}
    sender.cancel()


async def test_a_failed_send_is_retried_and_a_too_large_one_becomes_a_dead_letter() -> None:
    worker, consumer, producer, _ = make_worker()
    await assign(worker, 0)
    a, b = read(worker, consumer, tx(1), tx(2))
    producer.fail(KafkaTimeoutError(), times=1)
    worker.verdicts.score(a, 0.01, "stage1", [])
    producer.fail(MessageSizeTooLargeError(), times=1)
    worker.verdicts.score(b, 0.01, "stage1", [])
    sender = asyncio.create_task(worker.outbox.run())
    await settle(lambda: worker.ctx.tracker.in_flight() == 0)
    assert worker.ctx.fatal is None
    assert sorted(producer.topics()) == ["t-dlq", "t-scores"]
    stub = orjson.loads(next(s.value for s in producer.sent if s.topic == "t-dlq"))
    assert stub["error"]["kind"] == "output_too_large"
    assert worker.counters.outputs_too_large == 1
    sender.cancel()


async def test_a_send_that_keeps_failing_stops_the_worker_without_acknowledging() -> None:
    worker, consumer, producer, _ = make_worker()
    await assign(worker, 0)
    (work,) = read(worker, consumer, tx(1))
    producer.fail(KafkaTimeoutError(), times=10)
    worker.verdicts.score(work, 0.01, "stage1", [])
    sender = asyncio.create_task(worker.outbox.run())
    await settle(lambda: worker.ctx.fatal is not None, timeout=10)
    assert worker.ctx.stopping.is_set()
    assert worker.ctx.tracker.committable() == {}
    sender.cancel()


# ------------------------------------------------------------------------------ shadow slots


def test_shadow_slots_meet_in_either_order() -> None:
    slots = ShadowSlots()
    a, b, c = (Ticket((TOPIC, 0), i, 0) for i in range(3))
    slots.expect([a, b, c])
    # champion first: one more output declared; the challenger's score is sent when it comes
    assert slots.champion(a, [("s", b"1")], "shadow") == ([("s", b"1")], 1)
    assert slots.challenger(a, b"x") is True
    # challenger first: its score rides with the champion's outputs
    assert slots.challenger(b, b"y") is False
    assert slots.champion(b, [("s", b"2")], "shadow") == ([("s", b"2"), ("shadow", b"y")], 1)
    # a failed challenger: nothing to declare
    assert slots.challenger(c, None) is False
    assert slots.champion(c, [("s", b"3")], "shadow") == ([("s", b"3")], 0)
    assert len(slots) == 0


def test_shadow_slots_forget_a_revoked_partition() -> None:
    slots = ShadowSlots()
    keep, gone = Ticket((TOPIC, 0), 1, 0), Ticket((TOPIC, 1), 1, 0)
    slots.expect([keep, gone])
    slots.revoke((TOPIC, 1))
    assert len(slots) == 1 and slots.challenger(gone, b"x") is False


# ------------------------------------------------------------------------------ checkpoint


async def test_checkpoint_writes_state_before_committing_what_is_acknowledged() -> None:
    worker, consumer, producer, store = make_worker()
    producer.auto_ack = False
    await assign(worker, 0)
    for w in read(worker, consumer, tx(1), tx(2)):
        worker.verdicts.score(w, 0.01, "stage1", [])
    sender = asyncio.create_task(worker.outbox.run())
    await settle(lambda: len(producer.pending) == 2)
    await worker.checkpoint.commit()
    assert consumer.commits == []  # nothing acknowledged yet (the state may be written)
    flushed = len(store.flushes)
    producer.ack(1)
    await settle(lambda: worker.ctx.tracker.committable() != {})
    await worker.checkpoint.commit()
    assert store.flushes[flushed:] == [[0]]  # the state first, then the offset
    assert [{tp.partition: o for tp, o in c.items()} for c in consumer.commits] == [{0: 1}]
    sender.cancel()


async def test_checkpoint_commits_nothing_when_the_state_cannot_be_written() -> None:
    worker, consumer, _, store = make_worker()
    await assign(worker, 0)
    (work,) = read(worker, consumer, tx(1))
    worker.verdicts.score(work, 0.01, "stage1", [])
    sender = asyncio.create_task(worker.outbox.run())
    await settle(lambda: worker.ctx.tracker.in_flight() == 0)
    store.error = KafkaTimeoutError()
    with pytest.raises(KafkaTimeoutError):
        await worker.checkpoint.commit()
    assert consumer.commits == []
    sender.cancel()


# ------------------------------------------------------------------------------ engine


async def test_engine_finalises_stage_one_scores_and_batches_the_rest() -> None:
    scoring = FakeScoring(stage1_enabled=True, band=(0.5, 0.7))
    worker, consumer, producer, _ = make_worker(scoring=scoring)
    await assign(worker, 0)
    small, large = tx(1, amount=20.0), tx(2, amount=900.0, narrative="urgent transfer")
    works = read(worker, consumer, small, large)
    loops = [asyncio.create_task(worker.engine.run()), asyncio.create_task(worker.outbox.run())]
    await worker.engine.route(works)
    await settle(lambda: worker.ctx.tracker.in_flight() == 0)
    scores = {
        r["transaction_id"]: r
        for r in (orjson.loads(s.value) for s in producer.sent if s.topic == "t-scores")
    }
    assert scores["tx-00000001"]["stage"] == "stage1"
    assert scores["tx-00000002"]["stage"] == "language_model"
    assert worker.counters.language_model == 1 and worker.counters.batches == 1
    for t in loops:
        t.cancel()


async def test_a_record_that_waited_in_the_topic_past_its_budget_is_scored_late() -> None:
    """The budget runs from the record's Kafka timestamp (`deadline_from: produced`): one that
    waited a second in the topic is late on arrival, even where stage 1 scores it at once."""
    scoring = FakeScoring(stage1_enabled=True, band=(0.5, 0.7))
    worker, consumer, producer, _ = make_worker(scoring=scoring)
    await assign(worker, 0)
    consumer.add(0, tx(1), key=b"acc-0001", timestamp_ms=int(time.time() * 1000) - 1_000)
    consumer.add(0, tx(2), key=b"acc-0001")
    works = worker.intake.admit({tp: consumer.records[0] for tp in consumer.assignment()})
    loops = [asyncio.create_task(worker.outbox.run())]
    await worker.engine.route(works)
    await settle(lambda: worker.ctx.tracker.in_flight() == 0)
    scores = {
        r["transaction_id"]: r
        for r in (orjson.loads(s.value) for s in producer.sent if s.topic == "t-scores")
    }
    stale, fresh = scores["tx-00000001"], scores["tx-00000002"]
    assert stale["stage"] == fresh["stage"] == "stage1"
    assert "late" in stale["flags"] and stale["timings_ms"]["topic"] >= 1_000
    assert "late" not in fresh["flags"] and fresh["timings_ms"]["topic"] < 1_000
    assert worker.counters.late == 1
    for t in loops:
        t.cancel()


async def test_a_poisonous_record_costs_only_itself_a_fallback_score() -> None:
    scoring = FakeScoring(fail_on="poison")
    worker, consumer, producer, _ = make_worker(scoring=scoring, max_batch_size=8)
    await assign(worker, 0)
    values = [tx(i, narrative="poison" if i == 3 else "groceries") for i in range(6)]
    works = read(worker, consumer, *values)
    loops = [asyncio.create_task(worker.engine.run()), asyncio.create_task(worker.outbox.run())]
    await worker.engine.route(works)
    await settle(lambda: worker.ctx.tracker.in_flight() == 0)
    stages = {
        r["transaction_id"]: (r["stage"], r["flags"])
        for r in (orjson.loads(s.value) for s in producer.sent if s.topic == "t-scores")
    }
    assert len(stages) == 6
    assert stages["tx-00000003"][0] == "fallback"
    assert "fallback_after_model_error" in stages["tx-00000003"][1]
    assert all(stage == "language_model" for k, (stage, _) in stages.items() if k != "tx-00000003")
    assert worker.counters.fallbacks == 1 and worker.counters.retried_batches >= 1
    for t in loops:
        t.cancel()


# ------------------------------------------------------------------------------ rebalance


async def test_a_revoked_partition_finishes_its_work_commits_and_is_forgotten() -> None:
    worker, consumer, _, store = make_worker()
    await assign(worker, 0, 1)
    for w in read(worker, consumer, tx(1), tx(2)):
        worker.verdicts.score(w, 0.01, "stage1", [])
    sender = asyncio.create_task(worker.outbox.run())
    await worker.rebalance.revoked({0})
    assert [{tp.partition: o for tp, o in c.items()} for c in consumer.commits] == [{0: 2}]
    assert worker.assigned_partitions == {1} and 0 not in worker.ctx.states
    assert store.released == {0}  # its packed tier on disk, if any, goes too
    sender.cancel()


def test_workers_get_the_supervisors_options_without_workers_and_a_port_each() -> None:
    from fraudstream.stream.workers import worker_argv

    argv = ["--workers", "3", "--bootstrap", "b:9092", "--web-port=8080", "--exit-when-idle", "5"]
    assert worker_argv(argv, 0, None)[-5:] == [
        "run",
        "--bootstrap",
        "b:9092",
        "--exit-when-idle",
        "5",
    ]
    second = worker_argv(["--workers=2", "--web-port", "8080"], 1, 8080)
    assert second[-3:] == ["run", "--web-port", "8081"]
