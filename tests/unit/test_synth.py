"""fraudstream.synth: valid, deterministic, time-ordered, labelled synthetic transactions."""

from __future__ import annotations

import gzip
import itertools
import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from click.testing import CliRunner

from fraudstream.synth import (
    BENIGN_TYPOLOGIES,
    FRAUD_TYPOLOGIES,
    SCAM_TEMPLATES,
    SynthConfig,
    generate,
    scam_paraphrase_count,
    to_json_line,
)
from fraudstream.synth_cli import generate as generate_command

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "transaction.schema.json"


def _ts(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


@pytest.fixture(scope="module")
def default_sample() -> list[dict[str, Any]]:
    return list(generate(3000, SynthConfig(seed=11)))


@pytest.fixture(scope="module")
def rich_sample() -> list[dict[str, Any]]:
    """A fraud-rich sample, so that every typology shows up in little time."""
    return list(generate(30_000, SynthConfig(seed=5, fraud_rate=0.12, accounts=800)))


def test_every_record_validates_against_the_wire_schema(validator, default_sample):
    for record in default_sample:
        errors = [e.message for e in validator.iter_errors(record)]
        assert not errors, (record, errors)


def test_every_typology_validates_too(validator, rich_sample):
    by_typology: dict[str, list[dict[str, Any]]] = {}
    for record in rich_sample:
        by_typology.setdefault(record["metadata"]["typology"], []).append(record)
    for records in by_typology.values():
        for record in records[:150]:
            assert not list(validator.iter_errors(record)), record


def test_same_seed_same_bytes_other_seed_other_records():
    config = SynthConfig(seed=3, accounts=300)
    first = [to_json_line(r) for r in generate(2000, config)]
    again = [to_json_line(r) for r in generate(2000, SynthConfig(seed=3, accounts=300))]
    other = [to_json_line(r) for r in generate(2000, SynthConfig(seed=4, accounts=300))]
    assert first == again
    assert first != other
    assert len(set(first) & set(other)) == 0


def test_a_shorter_run_is_a_prefix_of_a_longer_one():
    config = SynthConfig(seed=8, accounts=200)
    assert list(generate(500, config)) == list(generate(1500, config))[:500]


def test_records_come_in_time_order_from_the_configured_start(rich_sample):
    times = [_ts(r) for r in rich_sample]
    assert all(a <= b for a, b in itertools.pairwise(times))
    start = SynthConfig().start
    assert start <= times[0] < start.replace(day=2)


def test_time_of_day_follows_a_diurnal_pattern(rich_sample):
    hours = Counter(
        _ts(r).hour
        for r in rich_sample
        if r["metadata"]["typology"] == "ordinary" and r["channel"] == "card_present"
    )
    night = sum(hours[h] for h in range(1, 5))
    afternoon = sum(hours[h] for h in range(12, 16))
    assert afternoon > 5 * night


def test_transaction_ids_are_unique(rich_sample):
    ids = [r["transaction_id"] for r in rich_sample]
    assert len(set(ids)) == len(ids)


def test_the_label_lives_in_metadata(rich_sample):
    for record in rich_sample:
        meta = record["metadata"]
        assert set(meta) == {"is_fraud", "typology"}
        assert meta["is_fraud"] in (0, 1)
        expected = FRAUD_TYPOLOGIES if meta["is_fraud"] else BENIGN_TYPOLOGIES
        assert meta["typology"] in expected


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fraud_rate", "count", "low", "high"),
    [(0.02, 40_000, 0.013, 0.03), (0.1, 20_000, 0.075, 0.125), (0.0, 5_000, 0.0, 0.0)],
)
def test_fraud_rate_is_near_the_requested_one(fraud_rate, count, low, high):
    records = generate(count, SynthConfig(seed=21, fraud_rate=fraud_rate))
    share = sum(r["metadata"]["is_fraud"] for r in records) / count
    assert low <= share <= high


def test_every_typology_appears(rich_sample):
    seen = Counter(r["metadata"]["typology"] for r in rich_sample)
    for typology in FRAUD_TYPOLOGIES + BENIGN_TYPOLOGIES:
        assert seen[typology] > 0, typology
    frauds = sum(seen[t] for t in FRAUD_TYPOLOGIES)
    # no typology is a rounding error or swamps the others
    for typology in FRAUD_TYPOLOGIES:
        assert 0.04 < seen[typology] / frauds < 0.5, (typology, seen[typology] / frauds)


def test_some_legitimate_records_look_alarming(rich_sample):
    legit = [r for r in rich_sample if not r["metadata"]["is_fraud"]]
    text = [r["narrative"].lower() for r in legit]
    assert sum("urgent" in t for t in text) >= 10
    assert sum(bool(re.search(r"crypto|btc|bitcoin|eth\b", t)) for t in text) >= 10
    assert sum(bool(re.search(r"hmrc|tax|finanzamt|dgfip", t)) for t in text) >= 5
    assert sum(r["merchant"]["mcc"] == "6051" for r in legit) >= 10  # crypto exchange top-ups
    new_payees = [r for r in legit if r.get("counterparty", {}).get("new_beneficiary")]
    assert len(new_payees) >= 20
    abroad = [r for r in legit if r.get("device") and r["device"]["ip_country"] != r["merchant"]["country"]]  # fmt: skip
    assert len(abroad) >= 20
    big_abroad = [
        r
        for r in legit
        if r["metadata"]["typology"] == "benign_travel" and r["channel"] == "card_present"
        and r["amount"] > 300
    ]  # fmt: skip
    assert big_abroad


def test_fraud_is_not_given_away_by_a_single_word(rich_sample):
    """Every frequent word of fraud narratives also appears in legitimate ones."""
    words: dict[int, Counter[str]] = {0: Counter(), 1: Counter()}
    for r in rich_sample:
        words[r["metadata"]["is_fraud"]].update(set(re.findall(r"[a-z]+", r["narrative"].lower())))
    frequent_in_fraud = [w for w, n in words[1].most_common(15)]
    assert all(words[0][w] > 0 for w in frequent_in_fraud), [
        w for w in frequent_in_fraud if not words[0][w]
    ]


def test_scam_memos_are_paraphrased_not_repeated(rich_sample):
    templates, fillings = scam_paraphrase_count()
    assert templates == sum(len(t) for t in SCAM_TEMPLATES.values()) >= 50
    assert fillings > 10_000
    scams = [
        r["narrative"]
        for r in rich_sample
        if r["metadata"]["typology"] == "scam" and r["channel"] == "transfer"
    ]
    assert len(scams) > 100
    assert len(set(scams)) > 0.6 * len(scams)


def test_channels_carry_the_right_parts(rich_sample):
    for r in rich_sample:
        channel = r["channel"]
        assert ("counterparty" in r) == (channel == "transfer")
        if channel in ("card_present", "atm"):
            assert "device" not in r
            assert "card_id" in r
        if channel in ("transfer", "wallet_topup") and r["metadata"]["typology"] != "ordinary":
            assert "device" in r
        if channel == "atm":
            assert r["merchant"]["mcc"] == "6011"
        assert r["amount"] > 0


def test_accounts_keep_their_persona(rich_sample):
    """An account's card payments at home are in one currency; its devices are few."""
    home_currency: dict[str, Counter[str]] = {}
    devices: dict[str, set[str]] = {}
    for r in rich_sample:
        if r["metadata"]["typology"] != "ordinary":
            continue
        if r["channel"] == "transfer":
            home_currency.setdefault(r["account_id"], Counter())[r["currency"]] += 1
        if "device" in r:
            devices.setdefault(r["account_id"], set()).add(r["device"]["id"])
    assert all(len(c) == 1 for c in home_currency.values())
    assert max(len(d) for d in devices.values()) <= 8


def test_json_line_round_trips(default_sample):
    for record in default_sample[:200]:
        line = to_json_line(record)
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert orjson.loads(line) == record


def test_count_zero_and_invalid_config():
    assert list(generate(0)) == []
    with pytest.raises(ValueError):
        list(generate(-1))
    with pytest.raises(ValueError):
        SynthConfig(fraud_rate=0.9)
    with pytest.raises(ValueError):
        SynthConfig(start=datetime(2024, 1, 1))  # naive
    with pytest.raises(ValueError):
        SynthConfig(fraud_mix=(("phishing", 1.0),))
    assert SynthConfig(start=datetime(2024, 1, 1, tzinfo=UTC)).start.year == 2024


def test_fraud_mix_can_single_out_one_typology():
    config = SynthConfig(seed=2, fraud_rate=0.1, accounts=300, fraud_mix=(("mule", 1.0),))
    kinds = {r["metadata"]["typology"] for r in generate(5000, config) if r["metadata"]["is_fraud"]}
    assert kinds == {"mule"}


@pytest.mark.parametrize("name", ["out.jsonl", "out.jsonl.gz"])
def test_cli_writes_json_lines_and_prints_a_summary(tmp_path, name):
    out = tmp_path / "sub" / name
    result = CliRunner().invoke(
        generate_command,
        [
            "--count",
            "700",
            "--seed",
            "4",
            "--out",
            str(out),
            "--fraud-rate",
            "0.1",
            "--accounts",
            "300",
        ],
    )
    assert result.exit_code == 0, result.output
    raw = gzip.decompress(out.read_bytes()) if name.endswith(".gz") else out.read_bytes()
    lines = raw.splitlines()
    assert len(lines) == 700
    assert [orjson.loads(x) for x in lines] == list(
        generate(700, SynthConfig(seed=4, fraud_rate=0.1, accounts=300))
    )
    assert "records: 700" in result.output
    for typology in FRAUD_TYPOLOGIES:
        assert f"{typology}:" in result.output
    assert not list(out.parent.glob("*.partial"))


def test_cli_wants_exactly_one_destination(tmp_path):
    runner = CliRunner()
    assert runner.invoke(generate_command, ["--count", "5"]).exit_code == 2
    both = ["--count", "5", "--topic", "t", "--out", str(tmp_path / "x.jsonl")]
    assert runner.invoke(generate_command, both).exit_code == 2
    rate_without_topic = ["--count", "5", "--out", str(tmp_path / "x.jsonl"), "--rate", "10"]
    assert runner.invoke(generate_command, rate_without_topic).exit_code == 2


def test_cli_topic_branch_hands_the_records_to_the_kafka_hook(monkeypatch):
    sent: list[tuple[str, float | None, int]] = []

    def fake_publish(records, topic, rate, settings):
        assert settings.kafka.bootstrap == "127.0.0.1:19092"
        sent.append((topic, rate, sum(1 for _ in records)))

    monkeypatch.setattr("fraudstream.synth_cli.publish_to_topic", fake_publish)
    args = ["--count", "300", "--topic", "transactions", "--rate", "500", "--accounts", "100"]
    args += ["--bootstrap", "127.0.0.1:19092"]
    result = CliRunner().invoke(generate_command, args)
    assert result.exit_code == 0, result.output
    assert sent == [("transactions", 500.0, 300)]
    assert "records: 300" in result.output
