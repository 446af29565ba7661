"""A rule file beside the model, on the real broker: block, allow and review rules change the
band and the alert as documented, every score names the rules that fired, and SIGHUP's reload
path picks up an edited file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from fraudstream.config import ConfigError
from fraudstream.features import FeatureSpec
from fraudstream.localkafka import BrokerInfo
from fraudstream.stream.app import build_processor
from fraudstream.stream.audit import read_topic
from fraudstream.stream.produce import produce_records
from fraudstream.testing import FakeScoring, prefixed_settings, transaction

pytestmark = pytest.mark.integration

RULES = """
lists:
  sanctioned: [KP, IR]
  confirmed_payees: {file: payees.txt}
rules:
  - id: sanctioned-country
    if: {counterparty_country: {in: sanctioned}}
    then: block
    reason: payment to a sanctioned country
  - id: confirmed-payee
    if: {beneficiary: {in: confirmed_payees}}
    then: allow
    reason: payee confirmed by the customer
  - id: large-first-payment
    if: {amount: {">": 5000}, declared_new_beneficiary: {"==": "true"}}
    then: review
    reason: first payment over 5,000 to a new payee
"""


def payment(tid: str, *, memo: str, amount: float, country: str, payee: str, new: bool) -> bytes:
    return orjson.dumps(
        transaction(
            transaction_id=tid,
            narrative=memo,
            amount=amount,
            channel="transfer",
            counterparty={
                "name": "Payee",
                "account": payee,
                "country": country,
                "new_beneficiary": new,
            },
        )
    )


async def test_rules_decide_beside_the_model(
    kafka_broker: BrokerInfo, topic_prefix: str, tmp_path: Path
) -> None:
    (tmp_path / "payees.txt").write_text("GB-LANDLORD-1\n")
    (tmp_path / "rules.yaml").write_text(RULES)
    settings = prefixed_settings(
        kafka_broker.bootstrap, topic_prefix, rules_path=str(tmp_path / "rules.yaml")
    )
    sent = {
        # the fake model alerts on "gift card" (0.97) and not on "rent" (0.03)
        "tx-sanctioned": payment(
            "tx-sanctioned", memo="rent", amount=80.0, country="KP", payee="X-1", new=False
        ),
        "tx-confirmed": payment(
            "tx-confirmed",
            memo="gift card",
            amount=80.0,
            country="GB",
            payee="GB-LANDLORD-1",
            new=False,
        ),
        "tx-large-new": payment(
            "tx-large-new", memo="rent", amount=9000.0, country="GB", payee="Y-2", new=True
        ),
        "tx-plain-risky": payment(
            "tx-plain-risky", memo="gift card", amount=80.0, country="GB", payee="Z-3", new=False
        ),
        "tx-plain": payment(
            "tx-plain", memo="rent", amount=80.0, country="GB", payee="Z-4", new=False
        ),
    }
    processor = build_processor(settings, scoring=FakeScoring(), spec=FeatureSpec.native())
    run = asyncio.create_task(processor.run(exit_when_idle=2.0))
    await asyncio.wait_for(processor.ready.wait(), 60)
    await produce_records(
        settings.kafka, settings.topics.input, [(b"acc-0001", v) for v in sent.values()]
    )
    await asyncio.wait_for(run, 120)

    scores: dict[str, dict[str, Any]] = {
        r.json()["transaction_id"]: r.json()
        for r in await read_topic(settings.kafka, settings.topics.scores)
    }
    alerted = {
        r.json()["score_record"]["transaction_id"]
        for r in await read_topic(settings.kafka, settings.topics.alerts)
    }
    assert set(scores) == set(sent)
    fired = {t: [f["id"] for f in s["rules"]] for t, s in scores.items()}
    assert fired == {
        "tx-sanctioned": ["sanctioned-country"],
        "tx-confirmed": ["confirmed-payee"],
        "tx-large-new": ["large-first-payment"],
        "tx-plain-risky": [],
        "tx-plain": [],
    }
    assert scores["tx-sanctioned"]["band"] == "block"
    assert scores["tx-confirmed"]["band"] == "allow"
    assert scores["tx-large-new"]["band"] == "review"
    assert scores["tx-plain-risky"]["band"] == "block"  # the model's own band (0.97 >= 0.9)
    assert scores["tx-plain"]["band"] == "allow"
    assert alerted == {"tx-sanctioned", "tx-large-new", "tx-plain-risky"}
    assert any(
        "payment to a sanctioned country" in r["text"] for r in scores["tx-sanctioned"]["reasons"]
    )

    # SIGHUP's reload: an edited file is picked up; a broken one keeps the current rules
    (tmp_path / "rules.yaml").write_text(RULES.replace("[KP, IR]", "[IR]"))
    processor.request_reload()
    assert not processor.rules.decide({"counterparty_country": "KP"}, 0.0).fired  # type: ignore[union-attr]
    (tmp_path / "rules.yaml").write_text("rules: [{id: x, then: deny}]")
    processor.request_reload()
    assert processor.rules is not None and len(processor.rules.rules) == 3


def test_a_bad_rule_file_is_refused_at_start(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(
        "rules:\n  - id: x\n    if: {amount: {'>': 1}}\n    then: deny\n"
    )
    settings = prefixed_settings(
        "127.0.0.1:1", "t-bad-rules", rules_path=str(tmp_path / "rules.yaml")
    )
    with pytest.raises(ConfigError, match=r"rules_path: .*rule 1 \('x'\): `then` must be"):
        build_processor(settings, scoring=FakeScoring(), spec=FeatureSpec.native())
