"""Analyst labels into the delayed-risk state, hot model swap under load, and shadow mode, each
on the real broker with fake models (no torch), checked by the independent reader."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import pytest
from click.testing import CliRunner

from fraudstream.compare_cli import compare, compare_models
from fraudstream.events import Event
from fraudstream.features import DelayedRiskBlock, FeatureRow, FeatureSpec
from fraudstream.features.dataset import build_features
from fraudstream.labels import make_label
from fraudstream.localkafka import BrokerInfo
from fraudstream.mapping import Mapping
from fraudstream.records import parse_rfc3339
from fraudstream.stream.app import build_processor
from fraudstream.stream.audit import id_counts, read_topic
from fraudstream.stream.produce import produce_records
from fraudstream.testing import FakeScoring, prefixed_settings, transaction

pytestmark = pytest.mark.integration


async def until(check: Any, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------------------------------- labels


class RecordingScoring(FakeScoring):
    """FakeScoring that keeps every row's features, by narrative (unique per transaction)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.rows: dict[str, dict[str, float]] = {}

    def prepare(self, rows: Sequence[FeatureRow], token_ids: Sequence[list[int]]) -> Any:
        for r in rows:
            self.rows[r.narrative] = r.named()
        return super().prepare(rows, token_ids)


SPEC = FeatureSpec(
    key_role="account",
    time=(),
    delayed=(DelayedRiskBlock("merchant", delay_s=60, windows=(3600,), streak=True),),
)


def shop_tx(i: int, second: int, account: str | None = None) -> dict[str, Any]:
    return transaction(
        transaction_id=f"tx-{i:03d}",
        account_id=account or f"acc-{i % 5}",
        narrative=f"SHOP PURCHASE {i}",
        timestamp=f"2026-01-15T10:{second // 60:02d}:{second % 60:02d}Z",
        merchant={"name": "Shop", "mcc": "5411", "country": "GB"},
    )


async def test_labels_change_later_features_as_in_training(
    kafka_broker: BrokerInfo, topic_prefix: str
) -> None:
    settings = prefixed_settings(kafka_broker.bootstrap, topic_prefix)
    scoring = RecordingScoring()
    processor = build_processor(settings, scoring=scoring, spec=SPEC)
    run = asyncio.create_task(processor.run(exit_when_idle=4.0))
    await asyncio.wait_for(processor.ready.wait(), 60)
    topics = settings.topics

    def records(txs: list[dict[str, Any]]) -> list[tuple[bytes | None, bytes]]:
        return [(t["account_id"].encode(), orjson.dumps(t)) for t in txs]

    first = [shop_tx(i, 10 * i) for i in range(4)]  # 10:00:00 .. 10:00:30
    await produce_records(settings.kafka, topics.input, records(first))
    await until(lambda: len(scoring.rows) == 4)
    # tx-000: a bare analyst verdict (completed from the worker's memory); tx-001: a bank feed
    # record with time and entities; tx-002: fraud, bare.
    t0 = parse_rfc3339(first[1]["timestamp"])
    labels = [
        make_label("tx-000", "confirmed_fraud", analyst_id="ana", labelled_at=t0),
        make_label(
            "tx-001",
            "false_positive",
            analyst_id="bank",
            labelled_at=t0,
            transaction_timestamp=t0,
            entities={"merchant": "Shop"},
        ),
        make_label("tx-002", "confirmed_fraud", analyst_id="ana", labelled_at=t0),
    ]
    await produce_records(
        settings.kafka,
        topics.labels,
        [(r["transaction_id"].encode(), orjson.dumps(r)) for r in labels],
    )
    feed = processor.labels
    assert feed is not None
    # 3 verdicts + 2 completed copies published back by this worker (then dropped as repeats)
    await until(lambda: feed.counts["read"] == 5)
    # 10:00:50 is before tx-000's due time (10:01:00): the verdicts must not show yet;
    # 10:01:15 sees tx-000 and tx-001 (due 10:01:00, 10:01:10), 10:01:45 all three.
    # One account, so one partition, read in time order as training reads the file (across
    # partitions a fraud streak depends on which partition is read first: see the docs).
    later = [shop_tx(4, 50, "acc-9"), shop_tx(5, 75, "acc-9"), shop_tx(6, 105, "acc-9")]
    await produce_records(settings.kafka, topics.input, records(later))
    counters = await asyncio.wait_for(run, 120)
    assert counters.scored == 7

    mapping = Mapping.load("native")
    verdicts = {"tx-000": 1, "tx-001": 0, "tx-002": 1}
    events: list[Event] = []
    for tx in [*first, *later]:
        ev = mapping.to_event(tx)
        assert isinstance(ev, Event)
        ev.label = verdicts.get(ev.transaction_id)
        events.append(ev)
    table = build_features(events, SPEC, label_delay_s=60)
    names = table.numeric_names
    for i, ev in enumerate(events):
        stream = scoring.rows[ev.narrative]
        training = dict(zip(names, (float(x) for x in table.numeric[i]), strict=True))
        assert stream == pytest.approx(training), ev.transaction_id
    seen = [scoring.rows[ev.narrative]["merchant_delayed_count_1h"] for ev in events[4:]]
    assert seen == [0.0, 2.0, 3.0]
    assert scoring.rows[events[6].narrative]["merchant_delayed_risk_1h"] == pytest.approx(2 / 3)
    assert feed.as_dict()["completed"] == 2 and feed.as_dict()["repeated"] == 2


# -------------------------------------------------------------------------------------- hot swap


class Versioned(FakeScoring):
    """FakeScoring whose scores and token ids carry its version, so that a score made by one
    model from the other's tokens fails loudly (a fallback), and each score names its maker."""

    def __init__(self, version: str, offset: float, sign: int, **kw: Any) -> None:
        super().__init__(version=version, **kw)
        self.offset = offset
        self.sign = sign

    def tokenize(self, narratives: Sequence[str]) -> list[list[int]]:
        return [[self.sign * (1 + abs(x)) for x in ids] for ids in super().tokenize(narratives)]

    def prepare(self, rows: Sequence[FeatureRow], token_ids: Sequence[list[int]]) -> Any:
        if any(self.sign * t <= 0 for ids in token_ids for t in ids):
            raise RuntimeError(f"{self.version} got another model's tokens")
        return super().prepare(rows, token_ids)

    def predict(self, prepared: Any) -> np.ndarray:
        return np.asarray(super().predict(prepared)) - self.offset


def tx_records(n: int) -> list[tuple[bytes | None, bytes]]:
    out: list[tuple[bytes | None, bytes]] = []
    for i in range(n):
        narrative = "URGENT gift card" if i % 10 == 0 else f"TESCO STORES {i}"
        tx = transaction(
            transaction_id=f"tx-{i:06d}",
            account_id=f"acc-{i % 41:04d}",
            narrative=narrative,
            timestamp=f"2026-01-15T10:{(i // 60) % 60:02d}:{i % 60:02d}Z",
        )
        out.append((tx["account_id"].encode(), orjson.dumps(tx)))
    return out


async def test_hot_swap_under_load_scores_everything_once(
    kafka_broker: BrokerInfo, topic_prefix: str
) -> None:
    settings = prefixed_settings(kafka_broker.bootstrap, topic_prefix, max_batch_size=32)
    v1 = Versioned("fake-v1", 0.0, 1, per_item_delay_s=0.0005)
    v2 = Versioned("fake-v2", 0.01, -1, per_item_delay_s=0.0005)
    scored: list[str] = []
    processor = build_processor(
        settings,
        scoring=v1,
        spec=FeatureSpec.native(),
        listener=lambda kind, rec: scored.append(rec.get("model_version", "")),
    )
    processor.reloader = lambda: v2  # what `fraudstream run` loads again from model_path
    n = 3000
    run = asyncio.create_task(processor.run(exit_when_idle=3.0, owns_process=True))
    await asyncio.wait_for(processor.ready.wait(), 60)
    records = tx_records(n)
    # the first half arrives, the swap lands while its batches are queued and running, the
    # second half arrives after it
    await produce_records(settings.kafka, settings.topics.input, records[: n // 2])
    await until(lambda: len(scored) >= n // 6)
    os.kill(os.getpid(), signal.SIGHUP)  # the operator's hot swap
    await until(lambda: processor.model_swaps == 1)
    await produce_records(settings.kafka, settings.topics.input, records[n // 2 :])
    counters = await asyncio.wait_for(run, 180)

    scores = [r.json() for r in await read_topic(settings.kafka, settings.topics.scores)]
    ids = id_counts(await read_topic(settings.kafka, settings.topics.scores))
    assert len(ids) == n and set(ids.values()) == {1}  # nothing lost, nothing twice
    assert processor.model_swaps == 1 and counters.scored == n
    versions = {s["model_version"] for s in scores}
    assert versions == {"fake-v1", "fake-v2"}
    for s in scores:
        # no fallback: no model ever got the other's tokens (its prepare would have raised)
        assert not [f for f in s["flags"] if f.startswith("fallback")], s
        want = {"fake-v1": (0.97, 0.03), "fake-v2": (0.96, 0.02)}[s["model_version"]]
        assert s["score"] == pytest.approx(want[0]) or s["score"] == pytest.approx(want[1])


# ---------------------------------------------------------------------------------------- shadow


async def test_shadow_publishes_a_score_per_input_and_leaves_the_champion_alone(
    kafka_broker: BrokerInfo, topic_prefix: str
) -> None:
    settings = prefixed_settings(kafka_broker.bootstrap, topic_prefix)
    champion = FakeScoring(version="champ-1")
    # its own cascade: stage 1 sends everything of its band (all here) to its language model
    challenger = Versioned("chall-2", 0.02, 1, stage1_enabled=True, band=(0.0, 0.5))
    processor = build_processor(
        settings, scoring=champion, spec=FeatureSpec.native(), shadow=challenger
    )
    n = 500
    run = asyncio.create_task(processor.run(exit_when_idle=3.0))
    await asyncio.wait_for(processor.ready.wait(), 60)
    await produce_records(settings.kafka, settings.topics.input, tx_records(n))
    await asyncio.wait_for(run, 120)

    scores = await read_topic(settings.kafka, settings.topics.scores)
    shadow = await read_topic(settings.kafka, settings.topics.shadow)
    alerts = await read_topic(settings.kafka, settings.topics.alerts)
    for topic in (scores, shadow):
        ids = id_counts(topic)
        assert len(ids) == n and set(ids.values()) == {1}
    assert {r.json()["model_version"] for r in scores} == {"champ-1"}
    assert {r.json()["model_version"] for r in shadow} == {"chall-2"}
    # the champion's outputs are what they are without a challenger
    assert {r.json()["score_record"]["transaction_id"] for r in alerts} == {
        f"tx-{i:06d}" for i in range(0, n, 10)
    }
    assert {r.json()["score"] for r in scores} == {0.97, 0.03}
    assert {r.json()["score"] for r in shadow} == {0.95, 0.01}
    # the challenger scores 0.02 lower and alerts on the same ones: compare-models says so
    report = compare([r.json() for r in scores], [r.json() for r in shadow])
    assert report["paired"] == n and report["agreement"]["alert"] == 1.0
    assert report["alerts"] == {
        "champion": n // 10,
        "challenger": n // 10,
        "both": n // 10,
        "only_champion": 0,
        "only_challenger": 0,
    }
    assert report["score_shift"]["mean"] == pytest.approx(-0.02)
    # the command runs its own event loop: give it a thread
    result = await asyncio.to_thread(
        CliRunner().invoke,
        compare_models,
        [
            "--bootstrap",
            kafka_broker.bootstrap,
            "--scores-topic",
            settings.topics.scores,
            "--shadow-topic",
            settings.topics.shadow,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.output)["alerts"] == report["alerts"]
