"""A real Apache Kafka broker (KRaft, one combined broker+controller node) on loopback.

Theory of operation
-------------------
A broker *home* is a directory that one broker owns:

    <home>/server.properties   rendered at every `up` from the template next to this module
    <home>/log4j2.properties   the broker's logging: WARN and up, into logs/server.log
    <home>/home.json           what outlives a run: the port, so clients keep their bootstrap
    <home>/broker.json         the running broker: pid, port, version, bootstrap (the pid file)
    <home>/data/               KRaft metadata and topic logs, formatted once, kept across runs
    <home>/logs/               server.log (the broker's log), stdout.log (the JVM's own output)

The invariant: *a broker runs in a home iff broker.json names a live java process whose
command line holds this home's server.properties.* `status()` is that check and nothing more.
`up()` returns the running broker when the check holds; otherwise it renders the config, formats
the storage if it never was, spawns the JVM in its own session, writes broker.json and returns
only once the broker answers a metadata request. If the JVM dies or stays silent, `up()` kills
what it spawned, removes broker.json and raises with the tail of this run's logs, so a failed
`up` leaves no process and no record behind. `down()` signals the recorded process group and
removes broker.json. A broker.json that fails the check (a crash, a reboot, a reused pid) is
stale: `status()` ignores it, `up()` overwrites it, `down()` removes it.

The first broker of a jar set also dumps a class-data archive when it exits, which `down()`
moves into the jar cache; later starts map it and need about half the CPU (see cds.py).

`up()` and `down()` hold an advisory lock on `<home>/.lock`, so concurrent callers (two terminals,
two test processes) see each other's result instead of racing.

The port choice is `ports.py`, broker.json's record and the JSON file helpers `record.py`;
their names are re-exported here.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fraudstream.localkafka import cds, procs
from fraudstream.localkafka.errors import LocalKafkaError
from fraudstream.localkafka.jars import (
    DEFAULT_VERSION,
    JavaRuntime,
    classpath,
    file_lock,
    find_java,
    resolve_jars,
)
from fraudstream.localkafka.ports import DEFAULT_PORT as DEFAULT_PORT
from fraudstream.localkafka.ports import choose_port, free_port
from fraudstream.localkafka.ports import port_is_free as port_is_free
from fraudstream.localkafka.ready import BrokerDied, wait_until_answers
from fraudstream.localkafka.record import BrokerInfo, file_size, read_json, write_json
from fraudstream.localkafka.security import BrokerSecurity
from fraudstream.localkafka.settings import (
    LOOPBACK,
    controller,
    plaintext,
    render_log4j2,
    render_server_properties,
)

STOP_AFTER_FAILED_START_S = 10.0
LOG_TAIL_LINES = 25
_HEAP = re.compile(r"[1-9][0-9]*[kKmMgG]?")


def default_home() -> Path:
    """The broker home `fraudstream kafka` owns: `$FRAUDSTREAM_HOME/kafka`, else
    `$XDG_DATA_HOME/fraudstream/kafka` (`~/.local/share/fraudstream/kafka`)."""
    root = os.environ.get("FRAUDSTREAM_HOME")
    if root:
        return Path(root).expanduser() / "kafka"
    xdg = os.environ.get("XDG_DATA_HOME")
    data = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return data / "fraudstream" / "kafka"


def default_bootstrap() -> str | None:
    """The bootstrap address of the broker running in `default_home()`, or None."""
    info = LocalBroker().status()
    return None if info is None else info.bootstrap


# Kafka's own defaults (kafka-run-class.sh): G1 with a 20 ms pause goal.
BROKER_JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
)
# A short-lived tool gains nothing from the optimising compiler or a concurrent collector.
TOOL_JVM_FLAGS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")


def java_command(
    java: Path,
    libs: Path,
    *,
    heap: str,
    home: Path,
    main: str,
    args: Sequence[str],
    jvm_flags: Sequence[str] = (),
) -> list[str]:
    """A JVM command line with a small heap, log4j2 configured from the home, and crash files
    kept in the home's logs."""
    logs = home / "logs"
    return [
        str(java),
        f"-Xmx{heap}",
        *jvm_flags,
        f"-XX:ErrorFile={logs / 'hs_err_pid%p.log'}",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={home / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={logs}",
        "-cp",
        classpath(libs),
        main,
        *args,
    ]


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64, no padding, not starting with "-"
    (Kafka's Uuid.randomUuid rule, since such an id reads as a command-line option)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


class LocalBroker:
    """The broker of one home directory; see the module docstring for the invariant."""

    def __init__(
        self,
        home: Path | None = None,
        *,
        port: int | None = None,
        version: str = DEFAULT_VERSION,
        heap: str = "512m",
        security: BrokerSecurity | None = None,
    ) -> None:
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port must be in 1..65535, got {port}")
        if not _HEAP.fullmatch(heap):
            raise ValueError(f"heap must look like 512m or 1g, got {heap!r}")
        # resolved, because status() compares it with the command line of a running JVM
        self.home = (home if home is not None else default_home()).expanduser().resolve()
        self.port = port
        self.version = version
        self.heap = heap
        self.security = security
        """Extra SASL_SSL / mutual-TLS listeners next to the plaintext one (see security.py)."""

    def __repr__(self) -> str:
        return f"LocalBroker(home={str(self.home)!r}, version={self.version!r})"

    # --- files of the home ---
    @property
    def server_properties(self) -> Path:
        return self.home / "server.properties"

    @property
    def record_path(self) -> Path:
        return self.home / "broker.json"

    @property
    def state_path(self) -> Path:
        return self.home / "home.json"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def log_files(self) -> tuple[Path, Path]:
        """The JVM's own output (startup failures land here) and the broker's log."""
        return self.logs_dir / "stdout.log", self.logs_dir / "server.log"

    # --- the three operations ---
    def status(self) -> BrokerInfo | None:
        """The running broker of this home, or None; a process check only, no network."""
        info = self._read_record()
        if info is None or not procs.is_broker(info.pid, self.server_properties):
            return None
        return info

    def up(self, timeout: float = 120.0) -> BrokerInfo:
        """Start the broker unless it runs; return it once it answers.

        `timeout` bounds the wait for the started JVM to answer; the one-time jar download
        before it is bounded by Maven's own timeout instead.
        """
        self.home.mkdir(parents=True, exist_ok=True)
        with file_lock(self.home / ".lock"):
            running = self.status()
            if running is not None:
                return running
            java = find_java()
            libs = resolve_jars(self.version)
            recorded = self._read_state().get("port")
            port = choose_port(self.port, recorded if isinstance(recorded, int) else None)
            controller_port = free_port()
            while controller_port == port:
                controller_port = free_port()
            self._write_config(port, controller_port)
            if not (self.data_dir / "meta.properties").exists():
                self._format(java, libs)
            return self._start(java, libs, port, timeout)

    def down(self, timeout: float = 30.0) -> bool:
        """Stop the broker: True if one ran and stopped, False if none ran (a stale record is
        removed). SIGTERM first, for a clean shutdown; SIGKILL after `timeout` seconds."""
        if not self.home.is_dir():
            return False
        with file_lock(self.home / ".lock"):
            info = self._read_record()
            if info is None or not procs.is_broker(info.pid, self.server_properties):
                self.record_path.unlink(missing_ok=True)
                return False
            scratch = read_json(self.record_path).get("cds_scratch")
            how = procs.stop(info.pid, timeout)
            if how == "alive":
                raise LocalKafkaError(f"Kafka (pid {info.pid}) did not stop, even on SIGKILL")
            if scratch and how == "terminated":
                cds.adopt(Path(scratch))
            elif scratch:  # a JVM killed mid-dump leaves half an archive
                Path(scratch).unlink(missing_ok=True)
            self.record_path.unlink(missing_ok=True)
            return True

    # --- steps of up() ---
    def _write_config(self, port: int, controller_port: int) -> None:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        secure = self.security.listeners() if self.security is not None else []
        text = render_server_properties(
            data_dir=self.data_dir,
            listeners=[plaintext(port), *secure],
            ctrl=controller(controller_port),
        )
        # It may hold PLAIN users' passwords: readable by its owner only.
        fd = os.open(self.server_properties, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        self.server_properties.chmod(0o600)
        (self.home / "log4j2.properties").write_text(render_log4j2(), encoding="utf-8")
        write_json(self.state_path, {**self._read_state(), "port": port})

    def _format(self, java: JavaRuntime, libs: Path) -> None:
        """Format the KRaft storage, once per home (data/meta.properties marks it done)."""
        archive = cds.archive_path(libs, java)
        sharing = (f"-XX:SharedArchiveFile={archive}",) if archive.is_file() else ()
        command = java_command(
            java.path,
            libs,
            heap="256m",
            home=self.home,
            jvm_flags=(*TOOL_JVM_FLAGS, *sharing),
            main="kafka.tools.StorageTool",
            args=[
                "format",
                "--cluster-id",
                new_cluster_id(),
                "--config",
                str(self.server_properties),
                "--ignore-formatted",
                *(self.security.format_args() if self.security is not None else []),
            ],
        )
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=120, check=False, cwd=self.home
            )
        except subprocess.TimeoutExpired as exc:
            raise LocalKafkaError(f"formatting the Kafka storage in {self.data_dir} hung") from exc
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-LOG_TAIL_LINES:])
            raise LocalKafkaError(
                f"formatting the Kafka storage in {self.data_dir} failed "
                f"(exit {done.returncode}):\n{tail}"
            )

    def _start(self, java: JavaRuntime, libs: Path, port: int, timeout: float) -> BrokerInfo:
        offsets = {path: file_size(path) for path in self.log_files}
        sharing = cds.plan(libs, java)
        command = java_command(
            java.path,
            libs,
            heap=self.heap,
            home=self.home,
            jvm_flags=(*BROKER_JVM_FLAGS, *sharing.flags),
            main="kafka.Kafka",
            args=[str(self.server_properties)],
        )
        pid = procs.spawn(command, log=self.log_files[0], cwd=self.home)
        info = BrokerInfo(
            bootstrap=f"{LOOPBACK}:{port}",
            host=LOOPBACK,
            port=port,
            pid=pid,
            home=self.home,
            version=self.version,
        )
        try:
            record = {**info.to_json(), "started_at": time.time()}
            if sharing.scratch is not None:
                record["cds_scratch"] = str(sharing.scratch)
            write_json(self.record_path, record)
            wait_until_answers(info.bootstrap, timeout=timeout, is_running=lambda: procs.alive(pid))
        except BaseException as exc:
            procs.stop(pid, STOP_AFTER_FAILED_START_S)
            self.record_path.unlink(missing_ok=True)
            if sharing.scratch is not None:
                sharing.scratch.unlink(missing_ok=True)
            if not isinstance(exc, LocalKafkaError):
                raise
            if isinstance(exc, BrokerDied):
                why = f"exited with status {procs.exit_code(pid)} before it answered"
            else:
                why = f"did not answer within {timeout:.0f} s ({exc})"
            raise LocalKafkaError(
                f"Kafka {self.version} in {self.home} {why}.\n{self._log_tail(offsets)}"
            ) from exc
        return info

    # --- small file helpers ---
    def _read_record(self) -> BrokerInfo | None:
        data = read_json(self.record_path)
        try:
            return BrokerInfo.from_json(data) if data else None
        except (KeyError, TypeError, ValueError):
            return None

    def _read_state(self) -> dict[str, Any]:
        return read_json(self.state_path)

    def _log_tail(self, offsets: dict[Path, int]) -> str:
        """What this run wrote to the logs, last lines of each."""
        parts = []
        for path in self.log_files:
            try:
                with path.open("rb") as handle:
                    start = offsets.get(path, 0)
                    handle.seek(start if start <= file_size(path) else 0)
                    lines = handle.read().decode(errors="replace").strip().splitlines()
            except OSError:
                continue
            if lines:
                parts.append(f"--- {path} (last lines) ---\n" + "\n".join(lines[-LOG_TAIL_LINES:]))
        return "\n".join(parts) or f"(nothing in {self.logs_dir})"
