"""The cascade's one routing rule (`fraudstream/cascade.py`) and its narrative memory."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from fraudstream.cascade import LRU, NO_TEXT, CascadePolicy, NarrativeMemory, replay, route

BAND = (0.2, 0.6)


def test_band_alone_routes_the_unsure_scores() -> None:
    stage1 = np.array([0.1, 0.2, 0.59, 0.6, 0.9])
    mask = route(stage1, None, CascadePolicy(band=BAND), 5)
    assert mask.tolist() == [False, True, True, False, False]


def test_no_stage1_or_no_band_sends_everything_to_the_language_model() -> None:
    assert route(None, None, CascadePolicy(band=BAND), 3).tolist() == [True] * 3
    assert route(np.zeros(3), None, CascadePolicy(band=None), 3).tolist() == [True] * 3
    assert route(np.zeros(3), None, None, 3).tolist() == [True] * 3


def test_an_unread_narrative_is_never_final_at_stage1() -> None:
    policy = CascadePolicy(band=BAND, narrative_threshold=1.0, read_unread=True)
    stage1 = np.array([0.01, 0.01, 0.01, 0.99])
    # unread, empty, read and harmless, unread with a confident stage 1
    risk: list[float | None] = [None, NO_TEXT, -3.0, None]
    assert route(stage1, risk, policy, 4).tolist() == [True, False, False, True]


def test_a_risky_narrative_read_before_is_read_again() -> None:
    policy = CascadePolicy(band=BAND, narrative_threshold=1.0, read_unread=False)
    stage1 = np.array([0.01, 0.01, 0.01])
    risk: list[float | None] = [1.0, 0.99, None]
    assert route(stage1, risk, policy, 3).tolist() == [True, False, False]


def test_policy_round_trips_through_cascade_json() -> None:
    policy = CascadePolicy(band=(0.1, math.inf), narrative_threshold=-0.5, read_unread=True)
    doc = policy.to_json()
    assert doc["band"][1] > 1.0  # "no upper end" survives JSON, which has no infinity
    back = CascadePolicy.from_json(doc, text_head=True)
    assert back.band is not None and back.band[0] == 0.1 and back.band[1] > 1.0
    assert back.narrative_threshold == -0.5 and back.read_unread


def test_policy_without_text_head_drops_the_narrative_rules() -> None:
    doc = {"band": [0.1, 0.4], "narrative_threshold": 0.0, "read_unread": True}
    policy = CascadePolicy.from_json(doc, text_head=False)
    assert policy.band == (0.1, 0.4)
    assert not policy.reads_narratives
    # folders written before the narrative rules: band only, null ends open
    old = CascadePolicy.from_json({"band": [None, 0.3]}, text_head=True)
    assert old.band == (0.0, 0.3) and not old.reads_narratives


def test_lru_evicts_the_least_recently_used_and_counts() -> None:
    lru: LRU[int] = LRU(capacity=2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # a is now the most recent
    lru.put("c", 3)  # evicts b
    assert lru.get("b") is None
    assert lru.get("c") == 3
    stats = lru.stats()
    assert (stats["hits"], stats["misses"], stats["evictions"]) == (2, 1, 1)
    assert stats["entries"] == 2 and stats["hit_rate"] == pytest.approx(2 / 3)
    assert "a" in lru and "b" not in lru


def test_lru_of_size_zero_keeps_nothing_and_negative_is_refused() -> None:
    lru: LRU[int] = LRU(capacity=0)
    lru.put("a", 1)
    assert len(lru) == 0 and lru.get("a") is None
    with pytest.raises(ValueError):
        LRU(capacity=-1)


def test_lru_stays_within_capacity_under_threads() -> None:
    lru: LRU[int] = LRU(capacity=50)

    def work(offset: int) -> None:
        for i in range(2_000):
            lru.put(f"k{(i * 7 + offset) % 300}", i)
            lru.get(f"k{(i + offset) % 300}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(lru) == 50
    stats = lru.stats()
    assert stats["hits"] + stats["misses"] == 8_000


def test_memory_treats_empty_narratives_as_nothing_to_read() -> None:
    memory = NarrativeMemory(capacity=10)
    assert memory.risk("") == NO_TEXT
    assert memory.risk("safe account") is None
    memory.remember("safe account", 2.5)
    memory.remember("", 9.0)  # not stored: an empty narrative is never read
    assert memory.risk("safe account") == 2.5
    assert len(memory) == 1


def test_replay_reads_each_narrative_once_unless_it_is_risky() -> None:
    policy = CascadePolicy(band=BAND, narrative_threshold=0.0, read_unread=True)
    texts = ["rent", "rent", "safe account", "safe account", "", "rent"]
    stage1 = np.array([0.01, 0.01, 0.01, 0.01, 0.01, 0.3])
    logits = np.array([-4.0, -4.0, 3.0, 3.0, 0.0, -4.0])
    mask = replay(stage1, texts, logits, policy)
    # first "rent" is unread; the second is known harmless; the scam memo is read every time;
    # the empty memo has nothing to read; the last row is in stage 1's band.
    assert mask.tolist() == [True, False, True, True, False, True]


def test_replay_with_a_small_memory_reads_evicted_narratives_again() -> None:
    policy = CascadePolicy(band=BAND, narrative_threshold=10.0, read_unread=True)
    texts = ["a", "b", "a"]
    stage1 = np.zeros(3)
    logits = np.full(3, -1.0)
    unbounded = replay(stage1, texts, logits, policy)
    tiny = replay(stage1, texts, logits, policy, memory=NarrativeMemory(capacity=1))
    assert unbounded.tolist() == [True, True, False]
    assert tiny.tolist() == [True, True, True]


def test_replay_matches_route_without_narrative_rules() -> None:
    rng = np.random.default_rng(0)
    stage1 = rng.random(200)
    policy = CascadePolicy(band=BAND)
    texts = [f"memo {i % 7}" for i in range(200)]
    out = replay(stage1, texts, rng.normal(size=200), policy)
    assert np.array_equal(out, route(stage1, None, policy, 200))
