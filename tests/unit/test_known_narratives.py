"""The narratives a folder ships for the narrative memory to start with
(`fraudstream/model/known_narratives.py`): which are kept, and how the memory takes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fraudstream.cascade import NarrativeMemory
from fraudstream.model import known_narratives
from fraudstream.model.text_training import Narratives


def test_only_narratives_written_by_enough_accounts_are_kept_most_widely_written_first() -> None:
    rows = [
        ("sainsburys", "a"),
        ("rent flat 3 to j smith", "a"),  # one customer's memo, however often
        ("rent flat 3 to j smith", "a"),
        ("rent flat 3 to j smith", "a"),
        ("sainsburys", "b"),
        ("tesco", "a"),
        ("tesco", "b"),
        ("tesco", "c"),
        ("sainsburys", "c"),
        ("sainsburys", "d"),
        ("", "a"),
        ("", "b"),
        ("", "c"),
        ("greggs", ""),  # no account known: each such row is a writer of its own
        ("greggs", ""),
        ("greggs", ""),
    ]
    narratives = Narratives.of([t for t, _ in rows])
    payers = np.array([p for _, p in rows])
    every = np.arange(len(rows))
    kept = known_narratives.select(narratives.index, narratives.texts, payers, every)
    assert [narratives.texts[i] for i in kept] == ["sainsburys", "tesco", "greggs"]
    # only the rows given count (the training rows): without the last two rows of sainsburys
    first_rows = np.arange(8)
    kept = known_narratives.select(narratives.index, narratives.texts, payers, first_rows)
    assert [narratives.texts[i] for i in kept] == ["tesco"]
    kept = known_narratives.select(narratives.index, narratives.texts, payers, every, limit=1)
    assert [narratives.texts[i] for i in kept] == ["sainsburys"]
    kept = known_narratives.select(narratives.index, narratives.texts, payers, every, min_payers=1)
    assert "rent flat 3 to j smith" in [narratives.texts[i] for i in kept]
    assert "" not in [narratives.texts[i] for i in kept]


def test_the_file_round_trips_and_a_folder_without_it_ships_nothing(tmp_path: Path) -> None:
    data = known_narratives.to_bytes(["tesco", "café"], [-4.25, 0.5], min_payers=3)
    (tmp_path / known_narratives.KNOWN_FILE).write_bytes(data)
    assert known_narratives.read(tmp_path) == [("tesco", -4.25), ("café", 0.5)]
    assert known_narratives.read(tmp_path / "elsewhere") == []
    (tmp_path / known_narratives.KNOWN_FILE).write_text('{"narratives": [["tesco"]]}')
    with pytest.raises(ValueError, match=r"narratives\.json"):
        known_narratives.read(tmp_path)


def test_the_memory_starts_with_as_many_as_fit_the_most_widely_written_kept_longest() -> None:
    known = [("a", -1.0), ("b", -2.0), ("c", 3.0)]
    memory = NarrativeMemory(capacity=2).preload(known)
    assert memory.stats()["preloaded"] == 2 and len(memory) == 2
    assert "c" not in memory
    memory.remember("new", 0.0)  # evicts the least widely written of the two
    assert "b" not in memory and memory.risk("a") == -1.0
    assert NarrativeMemory(capacity=10).preload(known).risk("c") == 3.0
