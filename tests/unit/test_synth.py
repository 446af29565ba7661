"""fraudstream.synth: valid, deterministic, time-ordered, labelled synthetic transactions."""

from __future__ import annotations

import ast
import gzip
import hashlib
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
    MemoWriter,
    SynthConfig,
    generate,
    memos,
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


# sha256 of the first 3,000 records' JSON lines. A change here is a change of the generator's
# output: every training set, evaluation set and default model built from it changes too.
# Update the digests only on purpose, never to make a refactoring pass.
PINNED_DIGESTS = {
    (0, "train"): "48d49673524f9e1f8b71a259c3fb0edcce88d5d36bb9646338c6b9a616c9eec5",
    (7, "train"): "bf307588c811f51716b47f9dce7ba2e6fb060845ef5c124394b7eb98d2292551",
    (0, "heldout"): "bc6dd36b154b1f2018f81dddc753c87a30208c28a0cd4ae3ed1ccd1547c08614",
    (7, "heldout"): "b1a444eb24368a8162abc75c908c5f5b9b9725ed0422cf17887d4c3e3e0d1eca",
}


@pytest.mark.parametrize(("seed", "split"), sorted(PINNED_DIGESTS))
def test_output_is_pinned_byte_for_byte(seed, split):
    config = SynthConfig(seed=seed, memo_split=split)
    digest = hashlib.sha256(b"".join(to_json_line(r) for r in generate(3000, config)))
    assert digest.hexdigest() == PINNED_DIGESTS[(seed, split)]


def test_every_fraud_typology_has_its_episode():
    from fraudstream.synth.typologies import EPISODES, MEAN_RECORDS

    assert set(EPISODES) == set(MEAN_RECORDS) == set(FRAUD_TYPOLOGIES)


def test_the_default_model_recipe_lists_every_generator_module():
    """A new module of `synth/` changes the training data as much as an edited one."""
    package = Path(__file__).resolve().parents[2] / "fraudstream"
    loader = ast.parse((package / "runtime" / "default_model.py").read_text())
    recipe = next(
        ast.literal_eval(node.value)
        for node in loader.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "_DEFAULT_RECIPE" for t in node.targets)
    )
    modules = {p.relative_to(package).as_posix() for p in (package / "synth").rglob("*.py")}
    docstring_only = {"synth/__init__.py", "synth/tables/__init__.py"}
    assert modules - docstring_only <= set(recipe)


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
        assert {"is_fraud", "typology"} <= set(meta) <= {"is_fraud", "typology", "memo_family"}
        assert meta["is_fraud"] in (0, 1)
        expected = FRAUD_TYPOLOGIES if meta["is_fraud"] else BENIGN_TYPOLOGIES
        assert meta["typology"] in expected
        if "memo_family" in meta:
            # a scam story is a fraud wherever it is told; a benign one never is
            assert memos.by_id(meta["memo_family"]).label == meta["is_fraud"]


def test_the_memo_catalogue_is_clean():
    """No duplicate family or template, no held-out template sharing three words in a row with
    a training one, every story held out and trained on in English."""
    assert memos.check() == []
    assert len(memos.families(label=1, split="heldout")) >= 15
    assert len(memos.families(label=0, split="heldout")) >= 15


def test_training_data_never_holds_heldout_wording(rich_sample):
    used = [r["metadata"]["memo_family"] for r in rich_sample if "memo_family" in r["metadata"]]
    assert len({f for f in used if f.startswith("scam.")}) >= 20
    assert all(memos.by_id(f).split == "train" for f in used)
    heldout_names = [v.lower() for v in memos.HELDOUT_SLOTS["platform2"]]
    assert not any(name in r["narrative"].lower() for r in rich_sample for name in heldout_names)


def test_heldout_data_holds_heldout_wording_only():
    records = list(
        generate(20_000, SynthConfig(seed=5, fraud_rate=0.12, accounts=800, memo_split="heldout"))
    )
    used = {r["metadata"]["memo_family"] for r in records if "memo_family" in r["metadata"]}
    assert len({f for f in used if f.startswith("scam.")}) >= 10
    assert all(memos.by_id(f).split == "heldout" for f in used)


def test_quiet_scams_look_like_the_account_s_own_payments(rich_sample):
    """Only the memo tells: the account's own device, its own country, an ordinary amount."""
    devices: dict[str, set[str]] = {}
    amounts: list[float] = []
    for r in rich_sample:
        if r["metadata"]["typology"] == "ordinary" and "device" in r:
            devices.setdefault(r["account_id"], set()).add(r["device"]["id"])
        if r["metadata"]["typology"] == "ordinary" and r["channel"] == "transfer":
            amounts.append(r["amount"])
    quiet = [r for r in rich_sample if r["metadata"]["typology"] == "quiet_scam"]
    assert len(quiet) > 100
    assert all(memos.by_id(r["metadata"]["memo_family"]).scam for r in quiet)
    assert all(r["device"]["ip_country"] == r["account_id"][:2] for r in quiet)  # IBAN: home
    own = [r["device"]["id"] in devices.get(r["account_id"], set()) for r in quiet]
    assert sum(own) > 0.9 * len(own)
    known = [not r["counterparty"]["new_beneficiary"] for r in quiet]
    assert 0.2 < sum(known) / len(known) < 0.7  # some to a payee paid before
    ordinary_median = sorted(amounts)[len(amounts) // 2]
    quiet_median = sorted(r["amount"] for r in quiet)[len(quiet) // 2]
    assert 0.5 < quiet_median / ordinary_median < 3


def test_the_memo_writer_fills_templates_like_the_generator():
    writer = MemoWriter(7)
    texts = [writer.memo(1, "GB", "heldout") for _ in range(200)]
    assert all(f.scam and f.split == "heldout" for _, f in texts)
    assert all("{" not in t and "}" not in t for t, _ in texts)
    assert len({t for t, _ in texts}) > 100
    again = MemoWriter(7)
    assert [t for t, _ in texts] == [again.memo(1, "GB", "heldout")[0] for _ in range(200)]


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
