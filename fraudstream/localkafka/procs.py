"""Starting, recognising and stopping the broker's JVM.

A pid in a file is only a hint: the broker may have died and its pid been reused by an
unrelated process. So a pid counts as our broker only while it is alive, not a zombie, runs
`java`, and has our `server.properties` path on its command line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

# Brokers this interpreter started, kept for its lifetime. Holding the Popen objects keeps Python
# from warning that a subprocess is "still running" when one is garbage-collected, lets us reap a
# dead child (a zombie still answers kill(pid, 0)) and keeps its exit status for error messages.
_SPAWNED: dict[int, subprocess.Popen[bytes]] = {}


def spawn(
    argv: Sequence[str], *, log: Path, cwd: Path, env: Mapping[str, str] | None = None
) -> int:
    """Start `argv` detached in its own session, output appended to `log`; return its pid.

    A new session means the terminal's Ctrl-C does not reach the broker and `down` can signal
    the whole process group. stdin is /dev/null and no other descriptor is inherited, so a caller
    that captures our output (a test, `subprocess.run`) is not kept waiting by the broker.
    """
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=None if env is None else dict(env),
            start_new_session=True,
            close_fds=True,
        )
    _SPAWNED[proc.pid] = proc
    return proc.pid


def exit_code(pid: int) -> int | None:
    """The exit status of a broker this interpreter started, once it has exited; else None."""
    proc = _SPAWNED.get(pid)
    return None if proc is None else proc.poll()


def alive(pid: int) -> bool:
    """Whether `pid` runs (zombies and children we can reap count as gone)."""
    proc = _SPAWNED.get(pid)
    if proc is not None and proc.poll() is None:
        return True
    # Not ours, or ours and reaped by poll() above (the pid may have been reused since): ask.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive, and certainly not our broker
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # the state follows the parenthesised command name, which may itself contain ") "
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def command_line(pid: int) -> list[str] | None:
    """The argv of `pid` (from /proc on Linux, else from ps), or None if it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        if Path("/proc/self/cmdline").exists():
            return None  # Linux, and the process is gone
    except OSError:
        return None
    else:
        args = raw.decode(errors="replace").split("\0")
        return [arg for arg in args if arg] or None
    try:  # no /proc (macOS): ps gives one line, split on spaces
        done = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    line = done.stdout.strip()
    return line.split() if done.returncode == 0 and line else None


def is_broker(pid: int, config: Path) -> bool:
    """Whether `pid` is a live JVM started with `config` as its server.properties."""
    if pid <= 0 or not alive(pid):
        return False
    argv = command_line(pid)
    if not argv or not Path(argv[0]).name.startswith("java"):
        return False
    # joined, because the ps fallback splits paths that contain spaces
    return str(config) in " ".join(argv)


Stopped = Literal["terminated", "killed", "alive"]


def stop(pid: int, timeout: float) -> Stopped:
    """SIGTERM the broker's process group, wait up to `timeout`, then SIGKILL it.

    Says how it ended: "terminated" (exited on SIGTERM: Kafka's controlled shutdown ran, logs
    were flushed and closed, so the next start skips log recovery), "killed", or "alive" (not
    even SIGKILL helped, say a process stuck in the kernel).
    """
    _signal_group(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout):
        return "terminated"
    _signal_group(pid, signal.SIGKILL)
    return "killed" if _wait_gone(pid, 10.0) else "alive"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:  # it leads its own group, as `spawn` arranges
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True
