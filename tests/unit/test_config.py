from __future__ import annotations

import re
from pathlib import Path

import pytest

from fraudstream.config import ConfigError, Secret, Settings, load_settings


def test_defaults_are_valid() -> None:
    s = load_settings(env={})
    assert s == Settings()
    assert s.topics.input == "transactions"
    assert s.state_prefix == "fraudstream"


def test_precedence_yaml_env_cli(tmp_path: Path) -> None:
    cfg = tmp_path / "fs.yaml"
    cfg.write_text(
        "group_id: from-yaml\nlatency_budget_ms: 30\nkafka:\n  bootstrap: yaml:1\ntopics:\n  input: bank.tx\n"
    )
    s = load_settings(
        config_file=cfg,
        env={"FRAUDSTREAM_LATENCY_BUDGET_MS": "40", "FRAUDSTREAM_KAFKA_BOOTSTRAP": "env:2"},
        overrides={"kafka.bootstrap": "cli:3", "group_id": None},
    )
    assert s.group_id == "from-yaml"
    assert s.latency_budget_ms == 40.0
    assert s.kafka.bootstrap == "cli:3"
    assert s.topics.input == "bank.tx"


def test_secrets_never_print() -> None:
    s = load_settings(
        env={
            "FRAUDSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "FRAUDSTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "FRAUDSTREAM_KAFKA_SASL_USERNAME": "svc",
            "FRAUDSTREAM_KAFKA_SASL_PASSWORD": "hunter2-secret",
        }
    )
    assert isinstance(s.kafka.sasl_password, Secret)
    assert s.kafka.sasl_password.reveal() == "hunter2-secret"
    for text in (repr(s), str(s), str(s.redacted())):
        assert "hunter2-secret" not in text
    assert s.redacted()["kafka"]["sasl_password"] == "******"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        (
            {"FRAUDSTREAM_LATENCY_BUDGET_MS": "fast"},
            ["latency_budget_ms", "FRAUDSTREAM_LATENCY_BUDGET_MS"],
        ),
        ({"FRAUDSTREAM_LATENCY_BUDGET_MS": "-5"}, ["latency_budget_ms"]),
        ({"FRAUDSTREAM_KAFKA_BOOTSTRAP": "localhost"}, ["kafka.bootstrap", "host:port"]),
        (
            {"FRAUDSTREAM_PROCESSING_GUARANTEE": "maybe_once"},
            ["processing_guarantee", "exactly_once"],
        ),
        ({"FRAUDSTREAM_ALERT_THRESHOLD": "1.5"}, ["alert_threshold"]),
        ({"FRAUDSTREAM_TOPICS_INPUT": "bad topic!"}, ["topics.input"]),
        ({"FRAUDSTREAM_TOPICS_SCORES": "transactions"}, ["topics.input"]),
        ({"FRAUDSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, ["sasl_username"]),
        ({"FRAUDSTREAM_MODEL_PATH": "/nonexistent/model"}, ["model_path"]),
        ({"FRAUDSTREAM_KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"}, ["kafka.ssl_cafile"]),
        ({"FRAUDSTREAM_DEVICE": "tpu"}, ["device"]),
        ({"FRAUDSTREAM_CASCADE_BAND": "0.9,0.1"}, ["cascade_band"]),
        ({"FRAUDSTREAM_MAX_BATCH_SIZE": "2.5"}, ["max_batch_size", "whole number"]),
    ],
)
def test_bad_config_names_field_and_fix(env: dict[str, str], names: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env=env)
    for name in names:
        assert name in str(info.value)


def test_secret_value_not_echoed_in_errors() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(
            env={
                "FRAUDSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "FRAUDSTREAM_KAFKA_SASL_PASSWORD": "topsecret",
            }
        )
    assert "topsecret" not in str(info.value)


def test_unknown_yaml_setting_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "fs.yaml"
    cfg.write_text("latency_budget: 50\n")
    with pytest.raises(ConfigError, match="unknown setting 'latency_budget'"):
        load_settings(config_file=cfg, env={})


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_file=tmp_path / "nope.yaml", env={})


def test_booleans_and_tuples() -> None:
    s = load_settings(
        env={"FRAUDSTREAM_KAFKA_SSL_CHECK_HOSTNAME": "no", "FRAUDSTREAM_CASCADE_BAND": "0.05,0.6"}
    )
    assert s.kafka.ssl_check_hostname is False
    assert s.cascade_band == (0.05, 0.6)


def test_a_yaml_syntax_error_names_line_and_column_not_the_text(tmp_path: Path) -> None:
    bad = tmp_path / "settings.yaml"
    bad.write_text('kafka:\n  sasl_password: "hunter2\n  bootstrap: [broker:9092\n')
    with pytest.raises(ConfigError) as failed:
        load_settings(config_file=bad, env={})
    message = str(failed.value)
    assert "hunter2" not in message and "broker:9092" not in message
    assert re.search(r"line \d+, column \d+", message), message
