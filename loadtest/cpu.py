"""CPU time per process during a load-test step, from /proc (Linux), per record sent.

Where the time of a two-core machine goes is the first question a throughput figure raises: the
process under test, its model process, the load generator, this process (the collector and the
harness) and the Kafka broker share the cores. Each step's report gets, per process, the CPU
seconds (user + system) it spent during the step divided by the records sent, in microseconds:
`cpu_us_per_record`. A process's live descendants are counted apart from it (`model`: the
processor's child process; a Faust worker's threads stay in their process). Off Linux the figures
are absent.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

_PROC = Path("/proc")
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a live process, or None."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # the command name is in parentheses and may hold spaces: split after the last ")"
    fields = raw[raw.rfind(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def _all() -> dict[int, tuple[int, float]]:
    out: dict[int, tuple[int, float]] = {}
    for entry in _PROC.iterdir() if _PROC.is_dir() else ():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None:
                out[int(entry.name)] = st
    return out


def broker_pid() -> int | None:
    """A Kafka broker running on this machine (its JVM's command line names kafka.Kafka)."""
    for entry in _PROC.iterdir() if _PROC.is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"kafka.Kafka" in cmdline and b"java" in cmdline:
            return int(entry.name)
    return None


def sample(roots: Mapping[str, int | None], children: Mapping[str, str]) -> dict[str, float]:
    """CPU seconds so far of each named process (`roots`), and under the names of `children`
    (root name -> name) the sum over that root's live descendants."""
    procs = _all()
    if not procs:
        return {}
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        kids.setdefault(ppid, []).append(pid)
    out: dict[str, float] = {}
    for name, root in roots.items():
        if root is None or root not in procs:
            continue
        out[name] = procs[root][1]
        if name in children:
            total, todo = 0.0, list(kids.get(root, []))
            while todo:
                child = todo.pop()
                total += procs[child][1]
                todo.extend(kids.get(child, []))
            out[children[name]] = total
    return out


def per_record(
    before: Mapping[str, float], after: Mapping[str, float], records: int
) -> dict[str, float]:
    """Microseconds of CPU per record for each process seen at both ends of a step."""
    if records <= 0:
        return {}
    return {
        name: round((after[name] - before[name]) / records * 1e6, 1)
        for name in after
        if name in before and after[name] >= before[name]
    }
