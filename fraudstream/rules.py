"""Rules beside the model: a small declarative file of conditions, actions and reasons.

Theory of operation
-------------------
Every fraud team runs rules next to its models: block payments to a sanctioned country, allow a
payee the customer has confirmed, review a first large payment to a new payee. A rule file
(YAML) holds named lists and rules:

    lists:
      sanctioned: [KP, IR, SY]
      confirmed_payees: {file: confirmed_payees.txt}   # one value a line, next to this file
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

A condition names a field and tests it; all conditions of a rule must hold. Fields: `amount`,
`score` (the served score, model or stage 1), the record's mapped categorical and numeric
fields (`channel`, `mcc`, `counterparty_country`...), the per-entity features by name
(`account_count_1h`, `account_new_beneficiary`...) and `entity.<role>` for an entity's key.
Tests: `==`, `!=`, `>`, `>=`, `<`, `<=`, `in`, `not_in` (a list, inline or named). A field the
payment does not have fails every test but `!=` and `not_in`.

Actions and precedence, strongest first (documented, and what `decide` does):
1. `block`: band block, an alert, whatever the model says;
2. `allow`: band allow, no alert (a confirmed payee), unless a block rule fired too;
3. `review`: at least band review, an alert;
4. `score_at_least: X`: the served score is raised to X (then banded as usual);
5. otherwise the model's score and band stand.
Every score record names the rules that fired (`rules`), and their reasons are added to the
score's reasons. A file that does not parse or names an unknown action, test or list is refused
at start with the rule and the fix. Pure: the processor calls `decide` for every payment.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fraudstream.config import yaml_position

ACTIONS = ("block", "allow", "review", "score_at_least")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_NEGATIVE = frozenset({"!=", "not_in"})


class RuleError(ValueError):
    """A rule file that cannot be used: the message names where and the fix."""


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    test: str
    value: Any

    def holds(self, facts: Mapping[str, Any]) -> bool:
        if self.field not in facts:
            return self.test in _NEGATIVE
        got = facts[self.field]
        if self.test == "in":
            return _norm(got) in self.value
        if self.test == "not_in":
            return _norm(got) not in self.value
        want = self.value
        if isinstance(want, int | float) and not isinstance(want, bool):
            try:
                got = float(got)
            except (TypeError, ValueError):
                return self.test in _NEGATIVE
            if math.isnan(got):
                return self.test in _NEGATIVE
        elif isinstance(want, str):
            got = _norm(got)
        try:
            return bool(_COMPARE[self.test](got, want))
        except TypeError:
            return self.test in _NEGATIVE


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    conditions: tuple[Condition, ...]
    action: str
    reason: str
    score_at_least: float | None = None

    def fires(self, facts: Mapping[str, Any]) -> bool:
        return all(c.holds(facts) for c in self.conditions)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the rules make of one payment's score."""

    score: float
    band: str | None
    """None: banded from the score as usual; else the band a rule decided."""
    alert: bool | None
    """None: from the score and the threshold as usual."""
    fired: tuple[Rule, ...]

    def records(self) -> list[dict[str, Any]]:
        return [{"id": r.id, "action": r.action, "reason": r.reason} for r in self.fired]


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    source: str = "<rules>"

    def decide(self, facts: Mapping[str, Any], score: float) -> Outcome:
        fired = tuple(r for r in self.rules if r.fires({**facts, "score": score}))
        if not fired:
            return Outcome(score, None, None, ())
        actions = {r.action for r in fired}
        floor = max(
            (r.score_at_least or 0.0 for r in fired if r.action == "score_at_least"), default=0.0
        )
        raised = max(score, floor)
        if "block" in actions:
            return Outcome(raised, "block", True, fired)
        if "allow" in actions:
            return Outcome(score, "allow", False, fired)
        if "review" in actions:
            return Outcome(raised, "review", True, fired)
        return Outcome(raised, None, None, fired)


def facts_of(
    amount: float,
    categorical: Mapping[str, str],
    numeric: Mapping[str, float],
    features: Mapping[str, float],
    entities: Mapping[str, str],
) -> dict[str, Any]:
    """The fields a rule may test, for one payment (see the module docstring)."""
    out: dict[str, Any] = {**features, **numeric, **categorical, "amount": amount}
    out.update({f"entity.{role}": key for role, key in entities.items()})
    return out


def backtest(
    rules: RuleSet,
    facts_rows: Sequence[Mapping[str, Any]],
    scores: Sequence[float],
    labels: Sequence[int],
    threshold: float,
) -> dict[str, Any]:
    """A rule file on labelled payments next to the model alone: alerts, precision and recall
    with and without the rules, and per rule the alerts (and frauds among them) it added or
    removed. A change is counted for every rule that fired on that payment."""
    n = len(scores)
    base = [float(s) >= threshold for s in scores]
    final = list(base)
    per: dict[str, dict[str, int]] = {
        r.id: {
            "fired": 0,
            "alerts_added": 0,
            "frauds_added": 0,
            "alerts_removed": 0,
            "frauds_removed": 0,
        }
        for r in rules.rules
    }
    for i in range(n):
        out = rules.decide(facts_rows[i], float(scores[i]))
        if not out.fired:
            continue
        alert = out.alert if out.alert is not None else out.score >= threshold
        final[i] = alert
        fraud = int(labels[i]) == 1
        for r in out.fired:
            stats = per[r.id]
            stats["fired"] += 1
            if alert and not base[i]:
                stats["alerts_added"] += 1
                stats["frauds_added"] += fraud
            elif base[i] and not alert:
                stats["alerts_removed"] += 1
                stats["frauds_removed"] += fraud

    def figures(alerts: Sequence[bool]) -> dict[str, Any]:
        hits = sum(1 for a, y in zip(alerts, labels, strict=True) if a and int(y) == 1)
        frauds = sum(1 for y in labels if int(y) == 1)
        count = sum(alerts)
        return {
            "alerts": count,
            "precision": round(hits / count, 4) if count else None,
            "recall": round(hits / frauds, 4) if frauds else None,
        }

    return {
        "source": rules.source,
        "threshold": threshold,
        "transactions": n,
        "model_alone": figures(base),
        "with_rules": figures(final),
        "rules": per,
    }


def table_facts(
    numeric: Sequence[float],
    numeric_names: Sequence[str],
    categorical: Sequence[str],
    categorical_names: Sequence[str],
    entities: Mapping[str, str],
) -> dict[str, Any]:
    """`facts_of` for a row of a feature table (the backtest): its feature columns and entities;
    mapped fields that are not model features are not in a feature table."""
    out: dict[str, Any] = dict(zip(numeric_names, (float(v) for v in numeric), strict=True))
    out.update((k, v) for k, v in zip(categorical_names, categorical, strict=True) if v)
    out.update({f"entity.{role}": key for role, key in entities.items() if key})
    return out


def _norm(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _where(path: str, index: int, rule_id: str | None) -> str:
    return f"{path}: rule {index + 1}" + (f" ({rule_id!r})" if rule_id else "")


def load_rules(path: str | Path) -> RuleSet:
    """Read and check a rule file; `RuleError` names the rule and the fix."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RuleError(f"{path}: no such rule file; fix: give an existing YAML file") from None
    except yaml.YAMLError as exc:
        raise RuleError(f"{path}: not valid YAML: {yaml_position(exc)}") from None
    return parse_rules(doc, source=str(path), base=path.parent)


def parse_rules(doc: Any, *, source: str = "<rules>", base: Path | None = None) -> RuleSet:
    if doc is None:
        return RuleSet((), source)
    if not isinstance(doc, dict) or set(doc) - {"lists", "rules"}:
        raise RuleError(f"{source}: a rule file holds `lists` (optional) and `rules`")
    lists = _lists(doc.get("lists") or {}, source, base)
    raw = doc.get("rules") or []
    if not isinstance(raw, list):
        raise RuleError(f"{source}: `rules` must be a list of rules")
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        rule = _rule(item, i, lists, source)
        if rule.id in seen:
            raise RuleError(f"{_where(source, i, rule.id)}: id used twice; fix: make ids unique")
        seen.add(rule.id)
        rules.append(rule)
    return RuleSet(tuple(rules), source)


def _lists(raw: Any, source: str, base: Path | None) -> dict[str, frozenset[Any]]:
    if not isinstance(raw, dict):
        raise RuleError(f"{source}: `lists` maps names to lists or to {{file: path}}")
    out: dict[str, frozenset[Any]] = {}
    for name, value in raw.items():
        if isinstance(value, dict) and set(value) == {"file"}:
            file = Path(str(value["file"]))
            if not file.is_absolute() and base is not None:
                file = base / file
            try:
                lines = file.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise RuleError(
                    f"{source}: list {name!r}: cannot read {file} ({exc.strerror}); fix: one "
                    "value a line, in a file next to the rule file"
                ) from None
            values: Sequence[Any] = [
                x for x in (line.strip() for line in lines) if x and not x.startswith("#")
            ]
        elif isinstance(value, list):
            values = value
        else:
            raise RuleError(f"{source}: list {name!r} must be a list or {{file: path}}")
        out[str(name)] = frozenset(_norm(v) for v in values)
    return out


def _rule(item: Any, i: int, lists: Mapping[str, frozenset[Any]], source: str) -> Rule:
    if not isinstance(item, dict):
        raise RuleError(f"{_where(source, i, None)}: a rule is a mapping with id, if, then, reason")
    rule_id = item.get("id")
    where = _where(source, i, rule_id if isinstance(rule_id, str) else None)
    if not isinstance(rule_id, str) or not rule_id:
        raise RuleError(f"{where}: `id` is missing; fix: give each rule a short unique id")
    unknown = set(item) - {"id", "if", "then", "reason"}
    if unknown:
        raise RuleError(f"{where}: unknown keys {sorted(unknown)}; a rule has id, if, then, reason")
    reason = item.get("reason") or rule_id
    if not isinstance(reason, str):
        raise RuleError(f"{where}: `reason` must be words for the analyst")
    when = item.get("if")
    if not isinstance(when, dict) or not when:
        raise RuleError(f"{where}: `if` must map fields to tests, e.g. {{amount: {{'>': 5000}}}}")
    conditions: list[Condition] = []
    for field, tests in when.items():
        if not isinstance(tests, dict) or not tests:
            raise RuleError(
                f"{where}: field {field!r}: give tests, e.g. {{'>=': 0.5}} or {{in: a_list}}"
            )
        for test, value in tests.items():
            conditions.append(_condition(str(field), str(test), value, lists, where))
    action, floor = _action(item.get("then"), where)
    return Rule(rule_id, tuple(conditions), action, reason, floor)


def _condition(
    field: str, test: str, value: Any, lists: Mapping[str, frozenset[Any]], where: str
) -> Condition:
    if test in ("in", "not_in"):
        if isinstance(value, str):
            if value not in lists:
                known = ", ".join(sorted(lists)) or "none"
                raise RuleError(f"{where}: {field} {test} {value!r}: no such list (lists: {known})")
            return Condition(field, test, lists[value])
        if isinstance(value, list):
            return Condition(field, test, frozenset(_norm(v) for v in value))
        raise RuleError(f"{where}: {field} {test}: give a list or the name of one")
    if test not in _COMPARE:
        raise RuleError(
            f"{where}: {field}: unknown test {test!r}; use one of "
            f"{', '.join([*_COMPARE, 'in', 'not_in'])}"
        )
    if not isinstance(value, int | float | str) or isinstance(value, bool):
        raise RuleError(f"{where}: {field} {test}: compare with a number or a string")
    return Condition(field, test, _norm(value))


def _action(then: Any, where: str) -> tuple[str, float | None]:
    if isinstance(then, str) and then in ("block", "allow", "review"):
        return then, None
    if isinstance(then, dict) and set(then) == {"score_at_least"}:
        floor = then["score_at_least"]
        if isinstance(floor, int | float) and not isinstance(floor, bool) and 0 <= floor <= 1:
            return "score_at_least", float(floor)
    raise RuleError(
        f"{where}: `then` must be block, allow, review or {{score_at_least: X}} with 0 <= X <= 1"
    )
