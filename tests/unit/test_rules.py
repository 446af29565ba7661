"""The rule language (`fraudstream/rules.py`): parsing, refusals that name the rule and the fix,
tests on fields, and the documented precedence of actions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fraudstream.rules import RuleError, facts_of, load_rules, parse_rules

FILE = """
lists:
  sanctioned: [KP, IR, SY]
  confirmed_payees: {file: payees.txt}
rules:
  - id: sanctioned-country
    if: {counterparty_country: {in: sanctioned}}
    then: block
    reason: payment to a sanctioned country
  - id: large-first-payment
    if: {amount: {">": 5000}, account_new_beneficiary: {"==": 1}}
    then: review
    reason: first payment over 5,000 to a new payee
  - id: confirmed-payee
    if: {entity.counterparty: {in: confirmed_payees}}
    then: allow
    reason: payee confirmed by the customer
  - id: crypto-floor
    if: {mcc: {in: ["6051"]}, score: {">=": 0.2}}
    then: {score_at_least: 0.6}
    reason: crypto with some model risk
"""


@pytest.fixture
def rules(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "payees.txt").write_text("# confirmed by the customer\nGB-LANDLORD-1\n")
    path = tmp_path / "rules.yaml"
    path.write_text(FILE)
    return load_rules(path)


def facts(**kw: Any) -> dict[str, Any]:
    return facts_of(
        kw.pop("amount", 50.0),
        {k: v for k, v in kw.items() if isinstance(v, str) and k != "payee"},
        {},
        {k: v for k, v in kw.items() if isinstance(v, float | int)},
        {"account": "acc-1", **({"counterparty": kw["payee"]} if "payee" in kw else {})},
    )


def test_no_rule_fires_and_the_model_stands(rules) -> None:  # type: ignore[no-untyped-def]
    out = rules.decide(facts(counterparty_country="GB"), 0.3)
    assert (out.score, out.band, out.alert, out.fired) == (0.3, None, None, ())


def test_block_beats_everything_and_allow_beats_review(rules) -> None:  # type: ignore[no-untyped-def]
    # a sanctioned country to a confirmed payee: block wins (documented precedence)
    out = rules.decide(facts(counterparty_country="kp", payee="GB-LANDLORD-1"), 0.01)
    assert out.band == "block" and out.alert is True
    assert [r.id for r in out.fired] == ["sanctioned-country", "confirmed-payee"]
    # a large first payment to a confirmed payee: allowed, no alert
    out = rules.decide(
        facts(amount=9000.0, account_new_beneficiary=1.0, payee="GB-LANDLORD-1"), 0.95
    )
    assert out.band == "allow" and out.alert is False and out.score == 0.95
    out = rules.decide(facts(amount=9000.0, account_new_beneficiary=1.0), 0.01)
    assert out.band == "review" and out.alert is True
    assert out.records() == [
        {
            "id": "large-first-payment",
            "action": "review",
            "reason": "first payment over 5,000 to a new payee",
        }
    ]


def test_score_at_least_raises_the_served_score_only(rules) -> None:  # type: ignore[no-untyped-def]
    out = rules.decide(facts(mcc="6051"), 0.25)
    assert out.score == 0.6 and out.band is None and out.alert is None
    assert rules.decide(facts(mcc="6051"), 0.9).score == 0.9
    assert rules.decide(facts(mcc="6051"), 0.1).fired == ()  # its score test fails


def test_a_missing_field_fails_every_test_but_the_negative_ones() -> None:
    rs = parse_rules(
        {
            "rules": [
                {"id": "a", "if": {"nothing": {"==": 1}}, "then": "review"},
                {"id": "b", "if": {"nothing": {"not_in": ["x"]}}, "then": "review"},
                {"id": "c", "if": {"amount": {">": "lots"}}, "then": "review"},
            ]
        }
    )
    assert [r.id for r in rs.decide({"amount": 5.0}, 0.1).fired] == ["b"]


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ({"rules": [{"if": {"amount": {">": 1}}, "then": "block"}]}, "`id` is missing"),
        ({"rules": [{"id": "x", "if": {"amount": {"~": 1}}, "then": "block"}]}, "unknown test '~'"),
        ({"rules": [{"id": "x", "if": {"amount": {">": 1}}, "then": "deny"}]}, "`then` must be"),
        (
            {"rules": [{"id": "x", "if": {"country": {"in": "nowhere"}}, "then": "block"}]},
            "no such list",
        ),
        (
            {"rules": [{"id": "x", "if": {"a": {">": 1}}, "then": "block"}] * 2},
            "id used twice",
        ),
        ({"rules": [{"id": "x", "if": {"a": {">": 1}}, "then": {"score_at_least": 2}}]}, "0 <= X"),
        ({"rules": [{"id": "x", "when": {}, "then": "block"}]}, "unknown keys"),
    ],
)
def test_bad_rules_are_refused_naming_the_rule_and_the_fix(doc: Any, words: str) -> None:
    with pytest.raises(RuleError, match=r"r\.yaml: rule \d") as failed:
        parse_rules(doc, source="r.yaml")
    assert words in str(failed.value)


def test_a_yaml_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("rules:\n  - id: x\n    if: {amount: {'>': 1}\n")
    with pytest.raises(RuleError, match=r"line \d+, column \d+"):
        load_rules(path)


def test_backtest_counts_what_each_rule_added_and_removed() -> None:
    from fraudstream.rules import backtest

    rs = parse_rules(
        {
            "rules": [
                {"id": "big", "if": {"amount": {">": 1000}}, "then": "review", "reason": "big"},
                {"id": "trusted", "if": {"channel": {"in": ["ATM"]}}, "then": "allow"},
            ]
        },
        source="r.yaml",
    )
    rows = [
        {"amount": 5000.0, "channel": "transfer"},  # model misses a fraud: 'big' adds it
        {"amount": 5000.0, "channel": "transfer"},  # 'big' adds a false alarm
        {"amount": 10.0, "channel": "atm"},  # model alerts, 'trusted' removes a fraud
        {"amount": 10.0, "channel": "transfer"},  # model alerts a fraud, no rule
        {"amount": 10.0, "channel": "transfer"},  # quiet
    ]
    scores = [0.1, 0.1, 0.9, 0.9, 0.1]
    labels = [1, 0, 1, 1, 0]
    out = backtest(rs, rows, scores, labels, threshold=0.5)
    assert out["model_alone"] == {"alerts": 2, "precision": 1.0, "recall": round(2 / 3, 4)}
    assert out["with_rules"] == {
        "alerts": 3,
        "precision": round(2 / 3, 4),
        "recall": round(2 / 3, 4),
    }
    assert out["rules"]["big"] == {
        "fired": 2, "alerts_added": 2, "frauds_added": 1, "alerts_removed": 0, "frauds_removed": 0
    }  # fmt: skip
    assert out["rules"]["trusted"] == {
        "fired": 1, "alerts_added": 0, "frauds_added": 0, "alerts_removed": 1, "frauds_removed": 1
    }  # fmt: skip
