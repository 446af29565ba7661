"""Top costs from py-spy's collapsed stacks (`--profile` writes them with `--threads`): samples per
thread, and per thread the functions with the most self and total samples, so a report can say
where a processor's time goes.

    python -m loadtest.profile out/profiles/<instance>.txt [--top 25] [--thread MainThread]

py-spy samples a thread whether it runs or waits for a CPU (only blocking system calls count as
idle), so on a loaded machine a share is "time the thread needed", not "CPU it got".
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

_THREAD = re.compile(r"^thread \((?:0x)?[0-9a-fA-F]+\): (.*)$")
_LINE = re.compile(r":\d+\)$")


def function_of(frame: str) -> str:
    """`Intake.admit (intake.py:97)` -> `Intake.admit (intake.py)`."""
    return _LINE.sub(")", frame)


def thread_name(frame: str) -> str | None:
    """`thread (4379): fraudstream-infer_0` -> `fraudstream-infer` (None: not a thread frame)."""
    m = _THREAD.match(frame)
    if m is None:
        return None
    return re.sub(r"_\d+$", "", m.group(1).strip()) or "?"


def top_costs(path: Path, top: int = 25, *, lines: bool = False) -> dict[str, Any]:
    per_thread: dict[str, dict[str, Counter[str]]] = defaultdict(
        lambda: {"self": Counter(), "total": Counter()}
    )
    samples: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        name = thread_name(frames[0]) if frames else None
        if name is not None:
            frames = frames[1:]
        if not lines:
            frames = [function_of(f) for f in frames]
        thread = name or "all"
        samples[thread] += n
        if frames:
            per_thread[thread]["self"][frames[-1]] += n
        for frame in set(frames):
            per_thread[thread]["total"][frame] += n

    def rows(c: Counter[str], total: int) -> list[dict[str, Any]]:
        return [
            {"function": f, "samples": n, "share": round(n / max(total, 1), 4)}
            for f, n in c.most_common(top)
        ]

    return {
        "samples": dict(samples.most_common()),
        "threads": {
            t: {
                "self": rows(per_thread[t]["self"], samples[t]),
                "total": rows(per_thread[t]["total"], samples[t]),
            }
            for t, _ in samples.most_common()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.profile")
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--thread", default=None, help="Only this thread (e.g. MainThread).")
    parser.add_argument("--lines", action="store_true", help="Per line, not per function.")
    args = parser.parse_args()
    doc = top_costs(args.path, args.top, lines=args.lines)
    print(f"samples per thread: {doc['samples']}")
    for thread, costs in doc["threads"].items():
        if args.thread and thread != args.thread:
            continue
        for kind in ("self", "total"):
            print(f"\n{thread} ({kind}, share of the thread's samples):")
            for row in costs[kind]:
                print(f"  {row['share'] * 100:5.1f}%  {row['function']}")


if __name__ == "__main__":
    main()
