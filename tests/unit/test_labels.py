"""Label records (schema and code agree), resolving verdicts, due order, and the comparison
report of compare-models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from fraudstream.compare_cli import compare
from fraudstream.events import Event, LabelEvent
from fraudstream.features import FeatureSpec, FeatureState
from fraudstream.features.spec import DelayedRiskBlock
from fraudstream.labels import (
    DueLabels,
    Label,
    LabelBook,
    RecentTransactions,
    completed_record,
    decode_label,
    make_label,
    validate_label,
)

SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "label.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
NOW = 1_780_000_000.0
DAY = 86_400.0
GOOD = make_label("tx-1", "confirmed_fraud", analyst_id="ana", labelled_at=1_768_473_000.0)

CORPUS: list[dict[str, Any]] = [
    GOOD,
    {**GOOD, "verdict": "false_positive"},
    {**GOOD, "verdict": "legitimate", "note": "customer confirmed"},
    {**GOOD, "transaction_timestamp": "2026-01-15T10:30:00Z", "entities": {"terminal": "T1"}},
    {**GOOD, "verdict": "fraud"},
    {**GOOD, "transaction_id": ""},
    {**GOOD, "transaction_id": "x" * 129},
    {**GOOD, "analyst_id": 7},
    {**GOOD, "labelled_at": "yesterday"},
    {**GOOD, "transaction_timestamp": "2026-13-45T10:30:00Z"},
    {**GOOD, "entities": {"terminal": 5}},
    {**GOOD, "entities": ["T1"]},
    {**GOOD, "note": "n" * 2001},
    {**GOOD, "extra": 1},
    {k: v for k, v in GOOD.items() if k != "analyst_id"},
    {k: v for k, v in GOOD.items() if k != "labelled_at"},
]


@pytest.mark.parametrize("record", CORPUS)
def test_code_validator_agrees_with_the_schema(record: dict[str, Any]) -> None:
    assert (validate_label(record) is None) == VALIDATOR.is_valid(record)


def test_decode_label() -> None:
    label = decode_label(orjson.dumps({**GOOD, "entities": {"merchant": "Shop"}}))
    assert isinstance(label, Label) and label.is_fraud and label.entities == {"merchant": "Shop"}
    assert label.transaction_timestamp is None
    assert not isinstance(decode_label(b"{nope"), Label)
    assert not isinstance(decode_label(orjson.dumps({**GOOD, "verdict": "maybe"})), Label)


def event(tx: str, t: float, **ents: str) -> Event:
    return Event(tx, t, 1.0, "", {"account": "A", **ents})


def test_bare_label_is_completed_from_recent_transactions() -> None:
    recent = RecentTransactions(["merchant"], capacity=2)
    book = LabelBook(recent, applied_capacity=10)
    recent.remember(event("tx-1", 100.0, merchant="Shop"))
    got, completed = book.resolve(decode_label(orjson.dumps(GOOD)))  # type: ignore[arg-type]
    assert completed and got is not None
    assert (got.transaction_timestamp, got.entities, got.is_fraud) == (
        100.0,
        {"merchant": "Shop"},
        True,
    )
    # the completed record carries what other workers need, and is a valid label
    label = decode_label(orjson.dumps(completed_record(decode_label(orjson.dumps(GOOD)), got)))  # type: ignore[arg-type]
    assert isinstance(label, Label) and label.entities == {"merchant": "Shop"}
    # the same verdict again on the same transaction is dropped
    assert book.resolve(label) == (None, False) and book.repeated == 1


def test_a_later_different_verdict_corrects_the_earlier_one() -> None:
    recent = RecentTransactions(["terminal"], capacity=10)
    book = LabelBook(recent, applied_capacity=10)
    recent.remember(event("tx-1", 100.0, terminal="T"))
    fraud = decode_label(orjson.dumps(GOOD))
    legit = decode_label(orjson.dumps({**GOOD, "verdict": "legitimate"}))
    assert isinstance(fraud, Label) and isinstance(legit, Label)
    first, _ = book.resolve(fraud)
    second, _ = book.resolve(legit)
    assert first is not None and first.previous is None
    assert second is not None and second.previous is True and not second.is_fraud
    assert book.corrections == 1 and book.repeated == 0
    assert book.resolve(legit) == (None, False) and book.repeated == 1


def test_a_corrected_verdict_counts_the_transaction_once_with_the_last_verdict() -> None:
    """In the state, fraud then a correction to legitimate reads as legitimate alone: the
    training table (`relabel`) takes the last verdict too."""
    spec = FeatureSpec(
        time=(),
        amount=False,
        delayed=(DelayedRiskBlock(role="terminal", delay_s=DAY, windows=(7 * DAY,), streak=True),),
    )
    corrected, alone = FeatureState(spec), FeatureState(spec)
    others = [LabelEvent(f"o{i}", i % 2 == 0, i * 3600.0, DAY + i * 3600.0, {"terminal": "T"})
              for i in range(4)]  # fmt: skip
    for other in others:
        corrected.apply_label(other)
        alone.apply_label(other)
    at = 5 * 3600.0
    corrected.apply_label(LabelEvent("tx", True, at, at + DAY, {"terminal": "T"}))
    corrected.apply_label(LabelEvent("tx", False, at, at + DAY, {"terminal": "T"}, previous=True))
    alone.apply_label(LabelEvent("tx", False, at, at + DAY, {"terminal": "T"}))
    probe = Event("p", 3 * DAY, 1.0, "", {"account": "A", "terminal": "T"})
    got, want = corrected.process(probe).named(), alone.process(probe).named()
    assert got == want
    assert want["terminal_delayed_count_7d"] == 5.0
    assert want["terminal_delayed_risk_7d"] == pytest.approx(2 / 5)
    # and the other way round: a legitimate verdict corrected to fraud
    back = FeatureState(spec)
    for other in others:
        back.apply_label(other)
    back.apply_label(LabelEvent("tx", False, at, at + DAY, {"terminal": "T"}))
    back.apply_label(LabelEvent("tx", True, at, at + DAY, {"terminal": "T"}, previous=False))
    assert back.process(probe).named()["terminal_delayed_risk_7d"] == pytest.approx(3 / 5)


def test_unknown_transaction_is_unresolved_and_memory_is_bounded() -> None:
    recent = RecentTransactions(["merchant"], capacity=2)
    for i in range(3):
        recent.remember(event(f"tx-{i}", float(i), merchant="M"))
    assert len(recent) == 2 and recent.get("tx-0") is None and recent.get("tx-2") is not None
    book = LabelBook(recent, applied_capacity=10)
    label = decode_label(orjson.dumps({**GOOD, "transaction_id": "tx-0"}))
    assert isinstance(label, Label)
    assert book.resolve(label) == (None, False) and book.unresolved == 1


@pytest.mark.parametrize(
    ("labelled_at", "tx_time", "applied"),
    [
        (NOW, NOW - 3600.0, True),
        (NOW + 60.0, NOW - 3600.0, True),  # a minute of clock skew
        (7_226_582_400.0, NOW - 3600.0, False),  # labelled in 2199
        (NOW, NOW + 86_400.0, False),  # a transaction in the future
        (NOW, NOW - 30 * 365 * 86400.0, False),  # older than the retention
        (NOW - 7200.0, NOW - 60.0, False),  # a verdict before the transaction happened
    ],
)
def test_verdicts_out_of_time_are_refused(
    labelled_at: float, tx_time: float, applied: bool
) -> None:
    book = LabelBook(RecentTransactions(["merchant"], capacity=2), applied_capacity=10)
    label = decode_label(
        orjson.dumps(
            make_label(
                "tx-9",
                "legitimate",
                analyst_id="ana",
                labelled_at=labelled_at,
                transaction_timestamp=tx_time,
                entities={"merchant": "Shop"},
            )
        )
    )
    assert isinstance(label, Label)
    got, _ = book.resolve(label, NOW)
    assert (got is not None) == applied
    assert book.out_of_range == (0 if applied else 1)


def test_due_labels_wait_for_their_transaction_time_plus_delay() -> None:
    due = DueLabels(delay_s=60.0, capacity=10)
    due.add(LabelEvent("b", True, 20.0, 5.0, {"m": "x"}))
    due.add(LabelEvent("a", False, 10.0, 999.0, {"m": "x"}))
    assert due.due(69.9) == []
    first = due.due(70.0)
    assert [e.transaction_id for e in first] == ["a"] and first[0].known_at == 70.0
    assert [e.transaction_id for e in due.due(1e9)] == ["b"]


def test_due_labels_overflow_releases_the_earliest() -> None:
    due = DueLabels(delay_s=60.0, capacity=1)
    assert due.add(LabelEvent("late", True, 50.0, 0.0, {})) is None
    early = due.add(LabelEvent("soon", True, 10.0, 0.0, {}))
    assert early is not None and early.transaction_id == "soon" and due.released_early == 1


def score(tx: str, s: float, band: str, version: str) -> dict[str, Any]:
    return {"transaction_id": tx, "score": s, "band": band, "model_version": version}


def test_compare_report() -> None:
    champion = [
        score("a", 0.9, "review", "v1"),
        score("b", 0.1, "allow", "v1"),
        score("c", 0.2, "allow", "v1"),
        score("d", 0.5, "allow", "v1"),
    ]
    challenger = [
        score("a", 0.95, "block", "v2"),
        score("b", 0.7, "review", "v2"),
        score("c", 0.2, "allow", "v2"),
    ]
    r = compare(champion, challenger)
    assert r["paired"] == 3 and r["only_champion"] == 1 and r["only_challenger"] == 0
    assert r["agreement"]["band"] == pytest.approx(1 / 3)
    assert r["agreement"]["alert"] == pytest.approx(2 / 3)
    assert r["score_shift"]["mean"] == pytest.approx((0.05 + 0.6 + 0.0) / 3)
    assert r["alerts"] == {
        "champion": 1,
        "challenger": 2,
        "both": 1,
        "only_champion": 0,
        "only_challenger": 1,
    }
    assert r["champion_versions"] == {"v1": 4} and r["challenger_versions"] == {"v2": 3}


def test_label_file_overrides_training_labels(tmp_path: Path) -> None:
    from fraudstream.labels import LabelFileError, read_label_file, relabel

    path = tmp_path / "labels.jsonl"
    lines = [
        make_label("tx-1", "confirmed_fraud", analyst_id="a", labelled_at=1.0),
        make_label("tx-2", "confirmed_fraud", analyst_id="a", labelled_at=1.0),
        make_label("tx-2", "false_positive", analyst_id="b", labelled_at=2.0),  # a correction
    ]
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in lines) + b"\n")
    verdicts = read_label_file(str(path))
    assert verdicts == {"tx-1": 1, "tx-2": 0}
    events = [event("tx-1", 1.0), event("tx-2", 2.0), event("tx-3", 3.0)]
    events[1].label = 1
    events[2].label = 1
    assert [e.label for e in relabel(events, verdicts)] == [1, 0, 1]
    path.write_bytes(b'{"transaction_id": "x"}\n')
    with pytest.raises(LabelFileError, match="line 1"):
        read_label_file(str(path))
