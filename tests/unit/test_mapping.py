"""Bring-your-own-schema mapping: validation of mapping files, records -> events, file readers."""

from __future__ import annotations

import copy
import gzip
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from fraudstream.events import Event
from fraudstream.features import FeatureSpec
from fraudstream.mapping import FieldError, Mapping, MappingConfigError
from fraudstream.readers import RecordFileError, iter_records
from fraudstream.records import DecodeError, check_transaction, parse_rfc3339


def native_record() -> dict[str, Any]:
    return {
        "transaction_id": "tx-1",
        "account_id": "acc-42",
        "card_id": "card-7",
        "timestamp": "2026-03-01T12:34:56.5Z",
        "amount": 12.5,
        "currency": "EUR",
        "narrative": "CARD PAYMENT ACME",
        "channel": "card_present",
        "merchant": {"name": "ACME", "mcc": "5411", "country": "FR"},
        "counterparty": {
            "name": "Bob",
            "account": "FR76",
            "country": "DE",
            "new_beneficiary": True,
        },
        "device": {"id": "dev-1", "ip_country": "FR"},
        "metadata": {"is_fraud": 1, "typology": "account_takeover"},
    }


HANDBOOK_ROW = {
    "TRANSACTION_ID": "3",
    "TX_DATETIME": "2018-04-01 00:09:29",
    "CUSTOMER_ID": "4128",
    "TERMINAL_ID": "8737",
    "TX_AMOUNT": "64.49",
    "TX_TIME_SECONDS": "569",
    "TX_TIME_DAYS": "0",
    "TX_FRAUD": "1",
    "TX_FRAUD_SCENARIO": "2",
}


def minimal(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "bank",
        "id": "id",
        "timestamp": {"field": "ts", "format": "epoch_s"},
        "amount": "amt",
        "key": "account",
        "entities": {"account": "acct"},
    }
    config.update(overrides)
    return config


def event(m: Mapping, record: dict[str, Any]) -> Event:
    ev = m.to_event(record)
    assert isinstance(ev, Event), ev
    return ev


def error(m: Mapping, record: dict[str, Any]) -> DecodeError:
    ev = m.to_event(record)
    assert isinstance(ev, DecodeError), ev
    return ev


# --- built-in mappings ---------------------------------------------------------------------------


def test_native_maps_a_wire_record() -> None:
    ev = event(Mapping.load("native"), native_record())
    assert ev.transaction_id == "tx-1"
    assert ev.timestamp == pytest.approx(1772368496.5)
    assert ev.amount == 12.5
    assert ev.narrative == "CARD PAYMENT ACME"
    assert ev.entities == {"account": "acc-42", "card": "card-7", "merchant": "ACME"}
    assert ev.categorical == {
        "channel": "card_present",
        "mcc": "5411",
        "merchant_country": "FR",
        "currency": "EUR",
        "counterparty_country": "DE",
        "device": "dev-1",
        "ip_country": "FR",
        "beneficiary": "FR76",
        "declared_new_beneficiary": "true",
    }
    assert ev.numeric == {}
    assert ev.label == 1


def test_native_optional_parts_may_be_absent() -> None:
    rec = native_record()
    for name in ("card_id", "counterparty", "device", "metadata"):
        del rec[name]
    ev = event(Mapping.load("native"), rec)
    assert ev.entities == {"account": "acc-42", "merchant": "ACME"}
    assert "device" not in ev.categorical and "beneficiary" not in ev.categorical
    assert ev.label is None


def test_native_never_reads_the_typology() -> None:
    m = Mapping.load("native")
    assert "metadata.typology" in m.forbidden
    ev = event(m, native_record())
    assert "account_takeover" not in repr(ev)


def test_handbook_maps_a_csv_row_of_strings() -> None:
    m = Mapping.load("handbook")
    ev = event(m, HANDBOOK_ROW)
    assert ev.transaction_id == "3"
    assert ev.timestamp == 1522540800.0 + 569  # 2018-04-01T00:00:00Z + TX_TIME_SECONDS
    assert ev.amount == 64.49
    assert ev.entities == {"account": "4128", "card": "4128", "terminal": "8737"}
    assert ev.narrative == ""
    assert ev.numeric == {} and ev.categorical == {}
    assert ev.label == 1
    assert "TX_FRAUD_SCENARIO" in m.forbidden
    assert "2" not in (*ev.entities.values(), *ev.categorical.values())


def test_handbook_slow_timestamp_path_agrees() -> None:
    """Non-padded fields miss the fromisoformat fast path; strptime still parses them."""
    m = Mapping.load("handbook")
    row = dict(HANDBOOK_ROW, TX_DATETIME="2018-4-1 0:09:29")
    assert event(m, row).timestamp == 1522540800.0 + 569


def test_builtin_mappings_fit_their_presets() -> None:
    Mapping.load("native").check_spec(FeatureSpec.native())
    Mapping.load("handbook").check_spec(FeatureSpec.handbook())
    with pytest.raises(MappingConfigError, match="terminal"):
        Mapping.load("native").check_spec(FeatureSpec.handbook())


def test_to_dict_round_trips() -> None:
    m = Mapping.load("native")
    again = Mapping.from_dict(m.to_dict())
    assert again.to_dict() == m.to_dict()
    assert event(again, native_record()) == event(m, native_record())


# --- parsing -------------------------------------------------------------------------------------


def test_nested_paths_and_deep_paths() -> None:
    m = Mapping.from_dict(
        minimal(
            entities={"account": "who.account.id"},
            categorical={"city": "where.geo.city.name"},
        )
    )
    rec = {
        "id": 1,
        "ts": 10,
        "amt": 1,
        "who": {"account": {"id": "A"}},
        "where": {"geo": {"city": {"name": "Paris"}}},
    }
    ev = event(m, rec)
    assert ev.entities == {"account": "A"}
    assert ev.categorical == {"city": "Paris"}
    rec["where"] = {"geo": {}}
    assert event(m, rec).categorical == {}


def test_flat_record_with_dotted_keys() -> None:
    """A CSV header like `merchant.country` is read by the same dotted path."""
    m = Mapping.from_dict(minimal(categorical={"country": "merchant.country"}))
    ev = event(m, {"id": "1", "ts": "10", "amt": "2", "acct": "A", "merchant.country": "FR"})
    assert ev.categorical == {"country": "FR"}


def test_csv_strings_are_parsed_and_empty_is_missing() -> None:
    m = Mapping.from_dict(
        minimal(numeric={"balance": "bal", "age": "age"}, categorical={"kind": "kind"}, label="y")
    )
    ev = event(
        m,
        {
            "id": "7",
            "ts": "100.5",
            "amt": "3.25",
            "acct": "A",
            "bal": "-1e3",
            "age": "",
            "kind": "",
        },
    )
    assert (ev.timestamp, ev.amount) == (100.5, 3.25)
    assert ev.numeric == {"balance": -1000.0}
    assert ev.categorical == {}
    assert ev.label is None


def test_value_conversions() -> None:
    m = Mapping.from_dict(
        minimal(
            numeric={"flag": "flag", "n": "n"},
            categorical={"b": "b", "i": "i", "f": "f", "g": "g"},
        )
    )
    ev = event(
        m,
        {
            "id": 12,
            "ts": 1,
            "amt": 0,
            "acct": 99,
            "flag": True,
            "n": 3,
            "b": False,
            "i": 5411,
            "f": 2.0,
            "g": 2.5,
        },
    )
    assert ev.transaction_id == "12" and ev.entities == {"account": "99"}
    assert ev.numeric == {"flag": 1.0, "n": 3.0}
    assert ev.categorical == {"b": "false", "i": "5411", "f": "2", "g": "2.5"}


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (0, 0),
        (1, 1),
        (True, 1),
        (False, 0),
        ("0", 0),
        ("1", 1),
        ("true", 1),
        ("FALSE", 0),
        (1.0, 1),
    ],
)
def test_labels(raw: Any, want: int) -> None:
    m = Mapping.from_dict(minimal(label="y"))
    assert event(m, {"id": "1", "ts": 1, "amt": 1, "acct": "A", "y": raw}).label == want


def test_narrative_joins_fields_and_skips_empty_ones() -> None:
    m = Mapping.from_dict(minimal(narrative=["memo", "ref", "desc"]))
    base = {"id": "1", "ts": 1, "amt": 1, "acct": "A"}
    assert event(m, {**base, "memo": "rent", "ref": "", "desc": "MAY"}).narrative == "rent | MAY"
    assert event(m, base).narrative == ""
    m1 = Mapping.from_dict(minimal(narrative="memo"))
    assert event(m1, {**base, "memo": "x"}).narrative == "x"


@pytest.mark.parametrize(
    ("fmt", "raw", "want"),
    [
        ("rfc3339", "2018-04-01T00:00:31Z", 1522540831.0),
        ("rfc3339", "2018-04-01t02:00:31+02:00", 1522540831.0),
        ("rfc3339", "2018-04-01 00:00:31.250z", 1522540831.25),
        ("iso8601", "2018-04-01T00:00:31", 1522540831.0),
        ("iso8601", "2018-04-01T01:00:31+01:00", 1522540831.0),
        ("epoch_s", 1522540831, 1522540831.0),
        ("epoch_s", "1522540831.5", 1522540831.5),
        ("epoch_ms", 1522540831250, 1522540831.25),
        ("epoch_ms", "1522540831000", 1522540831.0),
        ("%d/%m/%Y %H:%M", "01/04/2018 00:00", 1522540800.0),
        ("%Y-%m-%dT%H:%M:%S", "2018-04-01T00:00:31", 1522540831.0),
        ("%Y-%m-%d %H:%M:%S%z", "2018-04-01 02:00:31+0200", 1522540831.0),
    ],
)
def test_timestamp_formats(fmt: str, raw: Any, want: float) -> None:
    m = Mapping.from_dict(minimal(timestamp={"field": "ts", "format": fmt}))
    assert event(m, {"id": "1", "ts": raw, "amt": 1, "acct": "A"}).timestamp == pytest.approx(want)


def test_timestamp_as_a_plain_path_means_rfc3339() -> None:
    m = Mapping.from_dict(minimal(timestamp="ts"))
    assert m.timestamp_format == "rfc3339"
    ev = event(m, {"id": "1", "ts": "1970-01-01T00:00:10Z", "amt": 1, "acct": "A"})
    assert ev.timestamp == 10.0


# --- record errors, one per kind ------------------------------------------------------------------

GOOD = {"id": "1", "ts": 100, "amt": 5, "acct": "A", "y": 0, "n": 1, "c": "x"}


@pytest.mark.parametrize(
    ("change", "kind", "field"),
    [
        ({"id": None}, "missing_field", "id"),
        ({"id": ""}, "missing_field", "id"),
        ({"ts": None}, "missing_field", "ts"),
        ({"amt": None}, "missing_field", "amt"),
        ({"amt": ""}, "missing_field", "amt"),
        ({"acct": None}, "missing_field", "acct"),
        ({"id": {"a": 1}}, "wrong_type", "id"),
        ({"acct": [1]}, "wrong_type", "acct"),
        ({"amt": {"v": 1}}, "wrong_type", "amt"),
        ({"amt": True}, "wrong_type", "amt"),
        ({"ts": True}, "wrong_type", "ts"),
        ({"n": [1]}, "wrong_type", "n"),
        ({"c": {"x": 1}}, "wrong_type", "c"),
        ({"amt": -0.01}, "bad_amount", "amt"),
        ({"amt": math.nan}, "bad_amount", "amt"),
        ({"amt": math.inf}, "bad_amount", "amt"),
        ({"amt": "12,5"}, "bad_amount", "amt"),
        ({"amt": "nan"}, "bad_amount", "amt"),
        ({"amt": 2e9}, "bad_amount", "amt"),
        ({"ts": "yesterday"}, "bad_timestamp", "ts"),
        ({"ts": -1}, "bad_timestamp", "ts"),
        ({"ts": 1e13}, "bad_timestamp", "ts"),
        ({"ts": "inf"}, "bad_timestamp", "ts"),
        ({"n": "abc"}, "bad_value", "n"),
        ({"n": math.inf}, "bad_value", "n"),
        ({"n": "-inf"}, "bad_value", "n"),
        ({"c": math.nan}, "bad_value", "c"),
        ({"y": "maybe"}, "bad_value", "y"),
        ({"y": 2}, "bad_value", "y"),
    ],
)
def test_record_errors(change: dict[str, Any], kind: str, field: str) -> None:
    m = Mapping.from_dict(minimal(label="y", numeric={"n": "n"}, categorical={"c": "c"}))
    assert isinstance(m.to_event(GOOD), Event)
    rec = {**GOOD, **change}
    err = error(m, rec)
    assert (err.kind, err.field) == (kind, field), err
    assert err.message


def test_rfc3339_needs_a_zone_and_a_string() -> None:
    m = Mapping.from_dict(minimal(timestamp={"field": "ts", "format": "rfc3339"}))
    err = error(m, {**GOOD, "ts": "2018-04-01T00:00:31"})
    assert (err.kind, err.field) == ("bad_timestamp", "ts")
    assert "zone" in err.message
    assert error(m, {**GOOD, "ts": 12}).kind == "wrong_type"
    pattern = Mapping.from_dict(minimal(timestamp={"field": "ts", "format": "%Y"}))
    assert error(pattern, {**GOOD, "ts": "20x8"}).kind == "bad_timestamp"
    assert error(pattern, {**GOOD, "ts": 2018}).kind == "wrong_type"


def test_a_parent_that_is_not_an_object_is_a_wrong_type() -> None:
    m = Mapping.load("native")
    rec = native_record()
    rec["merchant"] = "ACME"
    err = error(m, rec)
    assert err.kind == "wrong_type" and err.field is not None and err.field.startswith("merchant.")
    rec = native_record()
    rec["metadata"] = ["x"]
    assert error(m, rec) == DecodeError(
        "wrong_type",
        "'metadata' is not an object, cannot read 'metadata.is_fraud'",
        "metadata.is_fraud",
    )
    deep = Mapping.from_dict(minimal(categorical={"city": "a.b.c"}))
    err = error(deep, {**GOOD, "a": {"b": 5}})
    assert (err.kind, err.field) == ("wrong_type", "a.b.c")


def test_a_record_error_is_the_dead_letter_error() -> None:
    """One error type for a record that cannot be scored: `to_event` returns the codec's
    `DecodeError` (kind, message, field); `FieldError` is its former name."""
    assert FieldError is DecodeError
    err = error(Mapping.load("native"), {**native_record(), "amount": -3})
    assert err == DecodeError("bad_amount", "must be >= 0 and <= 1e+09, got -3.0", "amount")


def checked_native_records() -> list[dict[str, Any]]:
    """Native records that pass the schema (not strict), the odd corners included."""
    from fraudstream.synth import SynthConfig, generate

    base = native_record()
    odd: list[dict[str, Any]] = [
        base,
        {**base, "card_id": "c"},
        {**base, "amount": 0},
        {**base, "amount": 1_000_000_000},
        {**base, "narrative": ""},
        {**base, "merchant": {"name": "", "mcc": "5411", "country": "FR"}},
        {**base, "timestamp": "2026-03-01t12:34:56.123456789z"},
        {**base, "timestamp": "1970-01-01T00:30:00+01:00"},  # before the epoch
        {**base, "timestamp": "2199-12-31T23:30:00-05:00"},  # after 2200
        {**base, "metadata": {"is_fraud": "true"}},
        {**base, "metadata": {"is_fraud": "maybe"}},  # the schema leaves metadata open
        {**base, "metadata": {"is_fraud": [1]}},
        {**base, "metadata": {}},
        {**base, "counterparty": {**base["counterparty"], "new_beneficiary": False}},
    ]
    for name in ("card_id", "counterparty", "device", "metadata"):
        odd.append({k: v for k, v in base.items() if k != name})
    flat = {k: v for k, v in base.items() if k not in ("counterparty", "device", "metadata")}
    for key, value in [
        ("counterparty.country", "GB"),
        ("counterparty.country", {"a": 1}),
        ("device.id", 7),
        ("device.ip_country", 1.5),
        ("counterparty.new_beneficiary", True),
        ("metadata.is_fraud", "1"),
        ("metadata.is_fraud", 3),
    ]:
        odd.append({**flat, key: value})
    return odd + list(generate(300, SynthConfig(seed=3)))


def test_checked_event_agrees_with_to_event_on_records_the_schema_passed() -> None:
    m = Mapping.load("native")
    assert m.reads_native_schema
    records = checked_native_records()
    errors = 0
    for record in records:
        timestamp = check_transaction(record, strict=False)
        assert isinstance(timestamp, float), (record, timestamp)
        assert timestamp == parse_rfc3339(record["timestamp"])
        want = m.to_event(record)
        assert m.checked_event(record, timestamp) == want, record
        errors += isinstance(want, DecodeError)
    assert errors == 6  # two time zones, two labels, two flat keys


def test_reads_native_schema_only_for_the_native_fields_and_roles(tmp_path: Path) -> None:
    native = Mapping.load("native")
    assert native.reads_native_schema
    assert not Mapping.load("handbook").reads_native_schema
    config = native.to_dict()
    assert Mapping.from_dict({**config, "name": "mybank"}).reads_native_schema
    path = tmp_path / "copy.yaml"
    path.write_text(yaml.safe_dump(config))
    assert Mapping.load(path).reads_native_schema
    for change in (
        {"amount": "metadata.amount"},
        {"numeric": {"risk": "metadata.risk"}},
        {"entities": {**config["entities"], "card": "device.id"}},
        {"categorical": {"channel": "channel"}},
        {"label": "metadata.label"},
    ):
        assert not Mapping.from_dict({**config, **change}).reads_native_schema, change


def test_to_event_does_not_mutate_the_record() -> None:
    m = Mapping.load("native")
    rec = native_record()
    before = copy.deepcopy(rec)
    m.to_event(rec)
    assert rec == before


# --- mapping file errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "where"),
    [
        (minimal(colour="red"), "'colour'"),
        ({k: v for k, v in minimal().items() if k != "amount"}, "'amount'"),
        (minimal(key="card"), "'key'"),
        (minimal(entities={}), "'entities'"),
        (minimal(entities=["acct"]), "'entities'"),
        (minimal(id=""), "'id'"),
        (minimal(id="a..b"), "'id'"),
        (minimal(amount=5), "'amount'"),
        (minimal(timestamp={"field": "ts", "format": "unix"}), "'timestamp.format'"),
        (minimal(timestamp={"field": "ts", "zone": "UTC"}), "'timestamp.zone'"),
        (minimal(timestamp=["ts"]), "'timestamp'"),
        (minimal(narrative={"a": "b"}), "'narrative'"),
        (minimal(numeric={"Bad Name": "x"}), "'numeric'"),
        (minimal(categorical={True: "x"}), "'categorical'"),
        (minimal(numeric={"x": "a"}, categorical={"x": "b"}), "'categorical.x'"),
        (minimal(label="y", categorical={"y": "y"}), "'categorical.y'"),
        (minimal(label="meta.y", categorical={"m": "meta"}), "'categorical.m'"),
        (minimal(label="y", amount="y"), "'amount'"),
        (minimal(label="y", numeric={"yy": "y.sub"}), "'numeric.yy'"),
        (minimal(label="y", narrative=["y"]), "'narrative[0]'"),
        (minimal(label="y", entities={"account": "acct", "t": "y"}), "'entities.t'"),
        (minimal(forbidden=["why"], categorical={"w": "why"}), "'categorical.w'"),
        (minimal(forbidden=["why"], label="why"), "'label'"),
        (minimal(forbidden=[3]), "'forbidden[0]'"),
        ("just a string", "top level"),
    ],
)
def test_mapping_config_errors_name_the_key(config: Any, where: str) -> None:
    with pytest.raises(MappingConfigError) as info:
        Mapping.from_dict(config, source="bank.yaml")
    assert where in str(info.value)
    assert "bank.yaml" in str(info.value)


def test_handbook_refuses_the_scenario_column() -> None:
    m = Mapping.load("handbook")
    config = m.to_dict()
    config["categorical"] = {"scenario": "TX_FRAUD_SCENARIO"}
    with pytest.raises(MappingConfigError, match="forbidden"):
        Mapping.from_dict(config)
    config = m.to_dict()
    config["numeric"] = {"fraud": "TX_FRAUD"}
    with pytest.raises(MappingConfigError, match="label"):
        Mapping.from_dict(config)


def test_load_from_a_file_and_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "bank.yaml"
    path.write_text(
        "name: bank\nid: id\ntimestamp: {field: ts, format: epoch_ms}\namount: amt\n"
        "key: account\nentities: {account: acct}\n"
    )
    m = Mapping.load(path)
    assert m.name == "bank" and m.source == str(path)
    assert event(m, {"id": "1", "ts": 1000, "amt": 1, "acct": "A"}).timestamp == 1.0
    with pytest.raises(MappingConfigError, match="built-in names"):
        Mapping.load(tmp_path / "nope.yaml")
    with pytest.raises(MappingConfigError, match="built-in names"):
        Mapping.load("nativ")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(MappingConfigError, match="not valid YAML"):
        Mapping.load(bad)


def test_check_spec_names_what_is_missing() -> None:
    m = Mapping.from_dict(minimal())
    with pytest.raises(MappingConfigError, match="merchant"):
        m.check_spec(FeatureSpec.native())
    spec = FeatureSpec(time=(), categorical_fields=("channel",))
    with pytest.raises(MappingConfigError, match="channel"):
        m.check_spec(spec)
    with pytest.raises(MappingConfigError, match="card"):
        m.check_spec(FeatureSpec(key_role="card"))
    m.check_spec(FeatureSpec(time=()))


# --- readers ----------------------------------------------------------------------------------


def test_readers_csv_and_jsonl_plain_and_gzipped(tmp_path: Path) -> None:
    rows = [{"a": "1", "b": "x"}, {"a": "2", "b": ""}]
    csv_text = "\ufeffa,b\n1,x\n2,\n\n"
    jsonl = b"".join(orjson.dumps(r) + b"\n" for r in rows) + b"\n"
    (tmp_path / "r.csv").write_text(csv_text, encoding="utf-8")
    with gzip.open(tmp_path / "r.csv.gz", "wt", encoding="utf-8") as f:
        f.write(csv_text)
    (tmp_path / "r.jsonl").write_bytes(jsonl)
    (tmp_path / "r.json").write_bytes(jsonl)
    with gzip.open(tmp_path / "r.jsonl.gz", "wb") as g:
        g.write(jsonl)
    (tmp_path / "arr.json").write_bytes(b"  " + orjson.dumps(rows))
    for name in ("r.csv", "r.csv.gz", "r.jsonl", "r.json", "r.jsonl.gz", "arr.json"):
        assert list(iter_records(tmp_path / name)) == rows, name


def test_readers_errors(tmp_path: Path) -> None:
    (tmp_path / "x.parquet").write_bytes(b"")
    with pytest.raises(RecordFileError, match="unknown file type"):
        list(iter_records(tmp_path / "x.parquet"))
    (tmp_path / "bad.jsonl").write_bytes(b'{"a": 1}\nnot json\n[1]\n{"a": 2}\n')
    with pytest.raises(RecordFileError, match=":2: not JSON"):
        list(iter_records(tmp_path / "bad.jsonl"))
    assert list(iter_records(tmp_path / "bad.jsonl", errors="skip")) == [{"a": 1}, {"a": 2}]
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3\n4,5\n")
    with pytest.raises(RecordFileError, match="1 cells"):
        list(iter_records(tmp_path / "bad.csv"))
    assert [r["a"] for r in iter_records(tmp_path / "bad.csv", errors="skip")] == ["1", "4"]
    (tmp_path / "empty.csv").write_text("")
    assert list(iter_records(tmp_path / "empty.csv")) == []


def test_pure_core_imports_no_io_frameworks() -> None:
    code = (
        "import sys, fraudstream.mapping, fraudstream.readers, fraudstream.features\n"
        "bad = [m for m in ('asyncio', 'aiokafka', 'faust', 'torch', 'numpy') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
