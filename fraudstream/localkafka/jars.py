"""The broker's jars: found once with Maven, then read from a cache.

Kafka is not a Python package, and its distribution tarball lives on the Apache mirrors, which a
closed network often cannot reach, while a Maven Central mirror usually is. So the jars come from
Maven Central through `pom.xml` (shipped next to this module): Maven resolves the transitive
closure of `kafka_2.13` plus a log4j2 backend and copies it into
`<cache>/<version>/libs`. A marker file holding the pom's digest says the copy is complete; while
it matches, Maven is not run again (and need not even be installed).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fraudstream.localkafka.errors import LocalKafkaError, ToolMissingError

# Newest Kafka release checked against aiokafka 0.14 / faust-streaming 0.15.3 (see the tests).
DEFAULT_VERSION = "4.4.0"
# Kafka 4 brokers need Java 17 (KIP-750).
MIN_JAVA = 17
MARKER = ".fraudstream-resolved"
MAVEN_TIMEOUT_S = 900.0

JAVA_HINT = (
    "install a JDK 17 or newer (Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`, "
    "macOS: `brew install openjdk@17`) or point JAVA_HOME at one"
)
MAVEN_HINT = (
    "install Apache Maven (Debian/Ubuntu: `apt-get install maven`, macOS: `brew install maven`); "
    "it is needed once, to download the Kafka jars from Maven Central"
)


def cache_root() -> Path:
    """Where jar sets live: `$FRAUDSTREAM_KAFKA_CACHE`, else `$XDG_CACHE_HOME/fraudstream/kafka`."""
    override = os.environ.get("FRAUDSTREAM_KAFKA_CACHE")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "fraudstream" / "kafka"


def libs_dir(version: str, root: Path | None = None) -> Path:
    return (root or cache_root()) / version / "libs"


def classpath(libs: Path) -> str:
    """A Java wildcard class path: the JVM expands `libs/*` itself, no shell involved."""
    return str(libs / "*")


def pom_text() -> str:
    return resources.files("fraudstream.localkafka").joinpath("pom.xml").read_text(encoding="utf-8")


def pom_digest() -> str:
    """Part of the marker, so that editing the pom (say, a new jar) re-resolves old caches."""
    return hashlib.sha256(pom_text().encode()).hexdigest()


def is_resolved(version: str, root: Path | None = None) -> bool:
    marker = libs_dir(version, root) / MARKER
    try:
        return marker.read_text(encoding="utf-8").strip() == pom_digest()
    except OSError:
        return False


def parse_java_version(text: str) -> int:
    """The major version from `java -version` output: `"17.0.15"` -> 17, `"1.8.0_382"` -> 8."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if match is None:
        raise LocalKafkaError(f"cannot read the Java version from: {text.strip()[:200]!r}")
    major = int(match.group(1))
    if major == 1 and match.group(2) is not None:
        return int(match.group(2))
    return major


@dataclass(frozen=True)
class JavaRuntime:
    path: Path
    major: int
    # all of `java -version`, exact build included: a class-data archive is only good for it
    version_text: str


def find_java() -> JavaRuntime:
    """`$JAVA_HOME/bin/java`, else `java` on PATH; checked to be Java 17 or newer."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    if candidate is None or not os.access(candidate, os.X_OK):
        found = shutil.which("java")
        if found is None:
            raise ToolMissingError(f"`java` was not found on PATH: {JAVA_HINT}")
        candidate = Path(found)
    try:
        done = subprocess.run(
            [str(candidate), "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolMissingError(f"`{candidate} -version` failed ({exc}): {JAVA_HINT}") from exc
    output = (done.stderr + done.stdout).strip()
    major = parse_java_version(output)
    if major < MIN_JAVA:
        raise ToolMissingError(
            f"Kafka needs Java {MIN_JAVA} or newer but {candidate} is Java {major}: {JAVA_HINT}"
        )
    return JavaRuntime(path=candidate, major=major, version_text=output)


def find_maven() -> Path:
    found = shutil.which("mvn")
    if found is None:
        raise ToolMissingError(f"`mvn` was not found on PATH: {MAVEN_HINT}")
    return Path(found)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An advisory lock, so that two processes (say, two test sessions) never race on a dir."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def resolve_jars(version: str = DEFAULT_VERSION, root: Path | None = None) -> Path:
    """The directory holding Kafka `version`'s jars, downloading them with Maven if needed.

    Maven writes into a scratch directory that is renamed into place only once it is complete, so
    an interrupted download never leaves a half-filled `libs` that looks usable.
    """
    libs = libs_dir(version, root)
    if is_resolved(version, root):
        return libs
    version_dir = libs.parent
    with file_lock(version_dir / ".lock"):
        if is_resolved(version, root):  # another process finished while we waited
            return libs
        mvn = find_maven()
        pom = version_dir / "pom.xml"
        pom.write_text(pom_text(), encoding="utf-8")
        scratch = version_dir / f"libs.partial-{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        command = [
            str(mvn),
            "-B",
            "-q",
            "-Dstyle.color=never",
            "-f",
            str(pom),
            f"-Dkafka.version={version}",
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={scratch}",
        ]
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=MAVEN_TIMEOUT_S,
                check=False,
                cwd=version_dir,
            )
        except subprocess.TimeoutExpired as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            raise LocalKafkaError(
                f"Maven did not fetch the Kafka {version} jars within {MAVEN_TIMEOUT_S:.0f} s"
            ) from exc
        if done.returncode != 0 or not any(scratch.glob("kafka_2.13-*.jar")):
            shutil.rmtree(scratch, ignore_errors=True)
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise LocalKafkaError(
                f"Maven could not fetch the Kafka {version} jars from Maven Central "
                f"(exit {done.returncode}; is the version right and Maven Central reachable?):\n"
                f"{tail}"
            )
        (scratch / MARKER).write_text(pom_digest() + "\n", encoding="utf-8")
        shutil.rmtree(libs, ignore_errors=True)  # an outdated set, from an older pom
        scratch.rename(libs)
    return libs
