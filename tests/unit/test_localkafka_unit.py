"""The local broker's pure parts: configuration, port choice, records, tool checks. No Java."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from fraudstream.localkafka import cds, jars, procs
from fraudstream.localkafka.broker import (
    DEFAULT_PORT,
    BrokerInfo,
    LocalBroker,
    choose_port,
    default_home,
    free_port,
    java_command,
    new_cluster_id,
    port_is_free,
)
from fraudstream.localkafka.errors import LocalKafkaError, ToolMissingError
from fraudstream.localkafka.settings import (
    Listener,
    controller,
    listener_properties,
    plaintext,
    render_log4j2,
    render_server_properties,
)
from fraudstream.localkafka.topics import TopicSpec


def parse_properties(text: str) -> dict[str, str]:
    props = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            props[key.strip()] = value.strip()
    return props


# --- server.properties ---


def test_server_properties_single_node_on_loopback(tmp_path: Path) -> None:
    text = render_server_properties(
        data_dir=tmp_path / "data", listeners=[plaintext(9092)], ctrl=controller(40001)
    )
    assert "${" not in text
    props = parse_properties(text)
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == f"{props['node.id']}@127.0.0.1:40001"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:40001"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9092"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert props["log.dirs"] == str(tmp_path / "data")


def test_server_properties_fit_a_small_machine_and_the_tests(tmp_path: Path) -> None:
    props = parse_properties(
        render_server_properties(data_dir=tmp_path, listeners=[plaintext(1)], ctrl=controller(2))
    )
    assert props["num.network.threads"] == "2"
    assert props["num.io.threads"] == "2"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["auto.create.topics.enable"] == "false"
    assert props["num.partitions"] == "3"
    assert int(props["message.max.bytes"]) >= 20 * 1024 * 1024
    assert props["replica.fetch.max.bytes"] == props["message.max.bytes"]


def test_listeners_can_grow_without_touching_the_template() -> None:
    secure = Listener(
        "SASL_SSL", "SASL_SSL", 9094, extra={"sasl.enabled.mechanisms": "SCRAM-SHA-512"}
    )
    props = listener_properties([plaintext(9092), secure], controller(9093))
    assert props["listeners"].split(",") == [
        "PLAINTEXT://127.0.0.1:9092",
        "SASL_SSL://127.0.0.1:9094",
        "CONTROLLER://127.0.0.1:9093",
    ]
    assert "CONTROLLER" not in props["advertised.listeners"]
    assert props["listener.security.protocol.map"] == (
        "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT"
    )
    assert props["listener.name.sasl_ssl.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"


def test_listener_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        listener_properties([plaintext(1), plaintext(2)], controller(3))
    with pytest.raises(ValueError, match="at least one"):
        listener_properties([], controller(3))


def test_log4j2_config_writes_warnings_to_the_logs_dir() -> None:
    text = render_log4j2()
    assert "rootLogger.level = WARN" in text
    assert "${sys:kafka.logs.dir}/server.log" in text


def test_java_command_points_log4j2_and_logs_into_the_home(tmp_path: Path) -> None:
    argv = java_command(
        Path("/opt/java"), tmp_path / "libs", heap="256m", home=tmp_path, main="M", args=["a"]
    )
    assert argv[0] == "/opt/java"
    assert "-Xmx256m" in argv
    assert f"-Dlog4j2.configurationFile={tmp_path / 'log4j2.properties'}" in argv
    assert f"-Dkafka.logs.dir={tmp_path / 'logs'}" in argv
    assert argv[-4:] == ["-cp", str(tmp_path / "libs" / "*"), "M", "a"]


def test_cluster_ids_look_like_kafka_uuids() -> None:
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", i) and not i.startswith("-") for i in ids)


# --- ports ---


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert port_is_free(port)


def test_a_listening_port_is_not_free() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert not port_is_free(sock.getsockname()[1])


def test_port_choice_order() -> None:
    def only(*free: int):
        return lambda port, host: port in free

    assert choose_port(5000, 6000, is_free=only(5000, 6000, DEFAULT_PORT)) == 5000
    assert choose_port(None, 6000, is_free=only(6000, DEFAULT_PORT)) == 6000
    assert choose_port(None, 6000, is_free=only(DEFAULT_PORT)) == DEFAULT_PORT
    assert choose_port(None, None, is_free=only(DEFAULT_PORT)) == DEFAULT_PORT
    fallback = choose_port(None, 6000, is_free=only())
    assert fallback not in (6000, DEFAULT_PORT)
    assert port_is_free(fallback)


def test_a_requested_port_in_use_is_an_error() -> None:
    with pytest.raises(LocalKafkaError, match=r"5000.*in use"):
        choose_port(5000, None, is_free=lambda port, host: False)


def test_broker_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="heap"):
        LocalBroker(tmp_path, heap="lots")
    with pytest.raises(ValueError, match="port"):
        LocalBroker(tmp_path, port=70000)


# --- homes and the pid file ---


def test_default_home_honours_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDSTREAM_HOME", "/srv/fs")
    assert default_home() == Path("/srv/fs/kafka")
    monkeypatch.delenv("FRAUDSTREAM_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", "/data")
    assert default_home() == Path("/data/fraudstream/kafka")
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_home() == Path.home() / ".local/share/fraudstream/kafka"


def write_record(broker: LocalBroker, pid: int) -> None:
    broker.home.mkdir(parents=True, exist_ok=True)
    info = BrokerInfo("127.0.0.1:1", "127.0.0.1", 1, pid, broker.home, "4.4.0")
    broker.record_path.write_text(json.dumps(info.to_json()))


def test_nothing_runs_in_an_empty_home(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path / "never-used")
    assert broker.status() is None
    assert broker.down() is False
    assert not broker.home.exists()  # asking did not create it


def test_a_reused_pid_is_not_our_broker(tmp_path: Path) -> None:
    """The record names a live process that is not a java running this home: stale."""
    broker = LocalBroker(tmp_path)
    write_record(broker, os.getpid())  # this very pytest process: alive, but python
    assert broker.status() is None
    assert broker.down() is False
    assert not broker.record_path.exists()
    assert procs.alive(os.getpid())  # and nobody was signalled


def test_a_dead_pid_is_stale(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    broker = LocalBroker(tmp_path)
    write_record(broker, int(done.stdout))
    assert broker.status() is None
    assert broker.down() is False
    assert not broker.record_path.exists()


def test_a_corrupt_record_is_stale(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path)
    broker.record_path.write_text("{not json")
    assert broker.status() is None
    assert broker.down() is False
    assert not broker.record_path.exists()


def test_broker_info_round_trips_through_json(tmp_path: Path) -> None:
    info = BrokerInfo("127.0.0.1:9092", "127.0.0.1", 9092, 42, tmp_path, "4.4.0")
    assert BrokerInfo.from_json(json.loads(json.dumps(info.to_json()))) == info


# --- java and maven ---


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_382"', 8),
        ('openjdk version "21" 2023-09-19', 21),
        ('openjdk version "25-ea" 2025-09-16', 25),
    ],
)
def test_java_version_parsing(output: str, major: int) -> None:
    assert jars.parse_java_version(output) == major


def fake_tool(directory: Path, name: str, stderr: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\necho '{stderr}' >&2\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_missing_java_is_named_with_a_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ToolMissingError, match=r"`java` was not found.*install a JDK 17"):
        jars.find_java()


def test_old_java_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_tool(tmp_path / "bin", "java", 'openjdk version "11.0.22" 2024-01-16')
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(ToolMissingError, match=r"Java 17 or newer.*is Java 11"):
        jars.find_java()


def test_missing_maven_is_named_with_a_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("FRAUDSTREAM_KAFKA_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ToolMissingError, match=r"`mvn` was not found.*install Apache Maven"):
        jars.resolve_jars("4.4.0")


def test_cache_location_honours_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FRAUDSTREAM_KAFKA_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert jars.libs_dir("4.4.0") == Path("/xdg/fraudstream/kafka/4.4.0/libs")
    monkeypatch.setenv("FRAUDSTREAM_KAFKA_CACHE", "/jars")
    assert jars.libs_dir("4.4.0") == Path("/jars/4.4.0/libs")


def test_a_cache_hit_does_not_run_maven(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no mvn to run
    libs = jars.libs_dir("4.4.0", tmp_path)
    libs.mkdir(parents=True)
    (libs / jars.MARKER).write_text(jars.pom_digest())
    assert jars.resolve_jars("4.4.0", tmp_path) == libs


def test_a_cache_from_another_pom_is_resolved_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    libs = jars.libs_dir("4.4.0", tmp_path)
    libs.mkdir(parents=True)
    (libs / jars.MARKER).write_text("digest-of-an-older-pom")
    assert not jars.is_resolved("4.4.0", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ToolMissingError, match="mvn"):
        jars.resolve_jars("4.4.0", tmp_path)


def test_a_failed_maven_run_leaves_no_usable_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mvn = fake_tool(tmp_path / "bin", "mvn", "[ERROR] Could not resolve kafka_2.13:0.0.0")
    mvn.write_text(mvn.read_text() + "exit 1\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(LocalKafkaError, match=r"(?s)exit 1.*Could not resolve"):
        jars.resolve_jars("0.0.0", tmp_path / "cache")
    version_dir = tmp_path / "cache" / "0.0.0"
    assert not (version_dir / "libs").exists()
    assert not list(version_dir.glob("libs.partial-*"))


# --- topics ---


def test_topic_spec_is_validated_and_immutable() -> None:
    config = {"cleanup.policy": "compact"}
    spec = TopicSpec(partitions=6, config=config)
    config["cleanup.policy"] = "delete"
    assert spec.config == {"cleanup.policy": "compact"}
    with pytest.raises(TypeError):
        spec.config["x"] = "y"  # type: ignore[index]
    assert hash(spec) == hash(TopicSpec(partitions=6))
    with pytest.raises(ValueError):
        TopicSpec(partitions=0)


def test_topic_prefix_is_a_legal_unique_topic_name(topic_prefix: str) -> None:
    assert re.fullmatch(r"t-[a-z0-9-]+-[0-9a-f]{8}", topic_prefix)
    assert "test-topic-prefix-is-a-legal-unique-topic-name" in topic_prefix


# --- class-data sharing ---


def test_the_first_start_dumps_a_class_archive_that_later_starts_map(tmp_path: Path) -> None:
    java = jars.JavaRuntime(Path("/opt/java"), 17, 'openjdk version "17.0.15"')
    libs = tmp_path / "4.4.0" / "libs"
    first = cds.plan(libs, java)
    assert first.scratch is not None
    assert first.flags == (f"-XX:ArchiveClassesAtExit={first.scratch}",)
    first.scratch.write_bytes(b"archive")  # what the JVM writes as it exits
    cds.adopt(first.scratch)
    archive = cds.archive_path(libs, java)
    assert archive.read_bytes() == b"archive"
    assert not first.scratch.exists()
    later = cds.plan(libs, java)
    assert later == cds.ArchivePlan(flags=(f"-XX:SharedArchiveFile={archive}",), scratch=None)
    other_jdk = jars.JavaRuntime(Path("/opt/java"), 17, 'openjdk version "17.0.16"')
    assert cds.archive_path(libs, other_jdk) != archive


def test_an_empty_dump_is_not_adopted(tmp_path: Path) -> None:
    java = jars.JavaRuntime(Path("/opt/java"), 21, 'openjdk version "21"')
    plan = cds.plan(tmp_path / "libs", java)
    assert plan.scratch is not None
    plan.scratch.touch()
    cds.adopt(plan.scratch)
    assert not plan.scratch.exists()
    assert not cds.archive_path(tmp_path / "libs", java).exists()
