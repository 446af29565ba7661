"""Class-data sharing: start the broker's JVM from an archive of its already-parsed classes.

Loading and verifying the classes of ~45 jars is half of a broker's start-up CPU; on a busy
2-core machine that is tens of seconds per test session. Java 13+ can dump the classes an
application loaded into an archive when the JVM exits (`-XX:ArchiveClassesAtExit`) and map
that archive at the next start (`-XX:SharedArchiveFile`), which halves the CPU a broker needs
to come up.

The first broker of a jar set and JVM build therefore runs with a dump flag pointing at a
private scratch file; `down()` renames the scratch file into place once that JVM has exited, so
a half-written archive is never used and two brokers dumping at once do not collide. The JVM
checks an archive against the class path (jar sizes and dates) and its own build and silently
ignores one that does not match, so a stale archive costs speed, never correctness.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from fraudstream.localkafka.jars import JavaRuntime

STALE_SCRATCH_S = 24 * 3600.0


@dataclass(frozen=True)
class ArchivePlan:
    """JVM flags for one broker start, and the scratch file to adopt after it exits (if any)."""

    flags: tuple[str, ...]
    scratch: Path | None


def archive_path(libs: Path, java: JavaRuntime) -> Path:
    key = hashlib.sha256(f"{java.path}\n{java.version_text}".encode()).hexdigest()[:16]
    return libs.parent / "cds" / f"kafka-{key}.jsa"


def plan(libs: Path, java: JavaRuntime) -> ArchivePlan:
    archive = archive_path(libs, java)
    if archive.is_file():
        return ArchivePlan(flags=(f"-XX:SharedArchiveFile={archive}",), scratch=None)
    archive.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_scratch(archive.parent)
    scratch = archive.with_name(f"{archive.name}.partial-{uuid.uuid4().hex[:12]}")
    return ArchivePlan(flags=(f"-XX:ArchiveClassesAtExit={scratch}",), scratch=scratch)


def adopt(scratch: Path) -> None:
    """Move a complete dump into place; call only once the JVM that wrote it has exited."""
    final = scratch.with_name(scratch.name.partition(".partial-")[0])
    try:
        if scratch.stat().st_size > 0 and not final.exists():
            os.replace(scratch, final)
    except OSError:
        pass
    scratch.unlink(missing_ok=True)


def _remove_stale_scratch(directory: Path) -> None:
    """Dumps of brokers that were killed, or never stopped through `down()`."""
    for path in directory.glob("*.partial-*"):
        try:
            if time.time() - path.stat().st_mtime > STALE_SCRATCH_S:
                path.unlink()
        except OSError:
            pass
