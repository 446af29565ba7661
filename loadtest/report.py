"""The report: one JSON document (everything measured, with the command, machine and load) and
one PNG page for a person: latency against throughput for every variant, the highest rate within
the budget, and per variant the time series of offered and scored rate, backlog, consumer lag and
per-second latency."""

from __future__ import annotations

import math
import os
import platform
import sys
from pathlib import Path
from typing import Any

import orjson

GOALS = {
    "a_vs_b_rate": 1.5,
    "a_vs_c_rate": 5.0,
    "a_vs_d_rate": 0.5,
    "full_pipeline_rate": 5000.0,
    "full_pipeline_stretch": 10000.0,
}


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "accelerator": None,
    }


def _ratio(x: float | None, y: float | None) -> float | None:
    if x is None or y is None or y <= 0:
        return None
    return round(x / y, 3)


def goals(variants: dict[str, dict[str, Any]], budget_ms: float) -> dict[str, Any]:
    """Issue 4's goals from the compare figures; `met` is None when a figure is missing."""

    def best(name: str) -> float | None:
        v = variants.get(name)
        return None if v is None else v["max_rate_within_budget"]

    def p99(name: str) -> float | None:
        v = variants.get(name)
        return None if v is None else v["p99_at_common_rate_ms"]

    a, b, c, d = best("scheduler"), best("faust"), best("one-at-a-time"), best("passthrough")

    def ran(name: str) -> bool:
        """The variant ran to the end (a crashed one has no figure to compare with)."""
        return name in variants and not variants[name].get("error")

    def rate_goal(other: float | None, target: float, present: bool) -> dict[str, Any]:
        if not present or not ran("scheduler"):
            return {"ratio": None, "target": target, "met": None}
        if other is None:  # the other variant meets the budget at no rate at all
            return {"ratio": None, "target": target, "met": a is not None}
        ratio = _ratio(a, other)
        return {"ratio": ratio, "target": target, "met": ratio is not None and ratio >= target}

    pa, pb = p99("scheduler"), p99("faust")
    return {
        "budget_ms": budget_ms,
        "a_vs_b_rate": rate_goal(b, GOALS["a_vs_b_rate"], ran("faust")),
        "a_vs_c_rate": rate_goal(c, GOALS["a_vs_c_rate"], ran("one-at-a-time")),
        "a_p99_at_half_rate_vs_b": {
            "a_p99_ms": pa,
            "b_p99_ms": pb,
            "target": "a <= b / 2",
            "met": None if pa is None or pb is None else pa <= pb / 2,
        },
        "full_pipeline_rate": {
            "rate": a,
            "target": GOALS["full_pipeline_rate"],
            "met": (a is not None and a >= GOALS["full_pipeline_rate"])
            if ran("scheduler")
            else None,
            "stretch_met": (a is not None and a >= GOALS["full_pipeline_stretch"])
            if ran("scheduler")
            else None,
        },
        "a_vs_d_rate": rate_goal(d, GOALS["a_vs_d_rate"], ran("passthrough")),
    }


def compact(report: dict[str, Any]) -> dict[str, Any]:
    """The report without per-second series (what `--json` prints)."""
    out = dict(report)
    out["variants"] = {}
    for name, v in report["variants"].items():
        steps = []
        for s in v["steps"]:
            steps.append(
                {
                    k: s[k]
                    for k in (
                        "purpose",
                        "rate",
                        "passed",
                        "throughput_per_s",
                        "sent",
                        "missing",
                        "aborted",
                        "reason",
                    )
                }
                | {
                    "p50_ms": s["latency_ms"]["p50"],
                    "p99_ms": s["latency_ms"]["p99"],
                    "p99.9_ms": s["latency_ms"]["p99.9"],
                    "max_ms": s["latency_ms"]["max"],
                    "batch_mean": (s["batch_size"] or {}).get("mean"),
                    "load_avg_1m": s["load_avg_after"][0],
                    "cpu_us_per_record": s.get("cpu_us_per_record"),
                }
            )
        out["variants"][name] = {
            k: v[k]
            for k in (
                "letter",
                "label",
                "model_version",
                "max_rate_within_budget",
                "common_rate",
                "p99_at_common_rate_ms",
                "common_rate_passed",
                "error",
            )
        } | {"steps": steps}
    return out


def write_json(report: dict[str, Any], path: Path) -> Path:
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    return path


COLORS = {
    "scheduler": "#1f77b4",
    "faust": "#d62728",
    "one-at-a-time": "#2ca02c",
    "passthrough": "#8c564b",
}


def plot(report: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = report["variants"]
    budget = report["config"]["budget_ms"]
    n = len(variants)
    fig = plt.figure(figsize=(15, 4.2 + 3.2 * n), constrained_layout=True)
    grid = fig.add_gridspec(1 + n, 2, height_ratios=[1.3] + [1.0] * n)
    title = (
        f"fraudstream loadtest ({report['mode']}): budget {budget:g} ms, "
        f"{report['machine']['cpus']} CPUs, load avg {report['load_avg_start'][0]:.1f} -> "
        f"{report['load_avg_end'][0]:.1f}, {report['started_at']}"
    )
    fig.suptitle(title, fontsize=11)

    ax = fig.add_subplot(grid[0, 0])
    for name, v in variants.items():
        steps = [s for s in v["steps"] if s["judged"]]
        if not steps:
            continue
        steps.sort(key=lambda s: s["rate"])
        color = COLORS.get(name)
        xs = [s["throughput_per_s"] for s in steps]
        ax.plot(
            xs,
            [s["latency_ms"]["p99"] for s in steps],
            "-",
            color=color,
            label=f"{v['letter']}) {v['label']} p99",
        )
        ax.plot(xs, [s["latency_ms"]["p50"] for s in steps], ":", color=color, alpha=0.7)
        for s, x in zip(steps, xs, strict=True):
            ax.plot(x, s["latency_ms"]["p99"], "o" if s["passed"] else "x", color=color)
    ax.axhline(budget, color="black", linestyle="--", linewidth=1, label=f"budget {budget:g} ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("scored throughput (records/s)")
    ax.set_ylabel("end-to-end latency (ms): p99 solid, p50 dotted")
    ax.set_title("latency vs throughput (o: p99 within budget, x: not)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")

    ax = fig.add_subplot(grid[0, 1])
    names = list(variants)
    bests = [variants[k]["max_rate_within_budget"] or 0 for k in names]
    bars = ax.bar(
        [f"{variants[k]['letter']}) {k}" for k in names],
        bests,
        color=[COLORS.get(k, "#333333") for k in names],
    )
    for bar, k in zip(bars, names, strict=True):
        p99 = variants[k]["p99_at_common_rate_ms"]
        text = f"{bar.get_height():,.0f}/s"
        if p99 is not None:
            text += f"\np99 {p99:.1f} ms @ {variants[k]['common_rate']:,.0f}/s"
        ax.annotate(
            text,
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_ylabel("highest rate with p99 within budget (records/s)")
    ax.set_title("highest rate within budget; p99 at the common rate")
    ax.grid(True, axis="y", alpha=0.3)

    for row, (name, v) in enumerate(variants.items(), start=1):
        left = fig.add_subplot(grid[row, 0])
        right = fig.add_subplot(grid[row, 1], sharex=left)
        color = COLORS.get(name)
        for s in v["steps"]:
            ser = s["series"]
            t = [s["t0_s"] + x for x in ser["t"]]
            left.step(t, ser["offered_per_s"], where="post", color="#bbbbbb", linewidth=1)
            left.step(t, ser["scored_per_s"], where="post", color=color, linewidth=1.2)
            if ser["backlog"]:
                left.plot(
                    [s["t0_s"] + x for x, _ in ser["backlog"]],
                    [b for _, b in ser["backlog"]],
                    color="#ff7f0e",
                    linewidth=0.8,
                )
            if ser["consumer_lag"]:
                left.plot(
                    [s["t0_s"] + x for x, _ in ser["consumer_lag"]],
                    [b for _, b in ser["consumer_lag"]],
                    ".",
                    color="#9467bd",
                    markersize=3,
                )
            p99 = [math.nan if y is None else y for y in ser["p99_ms"]]
            p50 = [math.nan if y is None else y for y in ser["p50_ms"]]
            right.step(t, p99, where="post", color=color, linewidth=1.2)
            right.step(t, p50, where="post", color=color, linewidth=0.8, linestyle=":")
            shade = "#e8f5e9" if s["passed"] else ("#f5f5f5" if not s["judged"] else "#fdecea")
            for axis in (left, right):
                axis.axvspan(s["t0_s"], s["t0_s"] + max(s["duration_s"], 1), color=shade, zorder=0)
            right.annotate(
                f"{s['rate']:,.0f}/s",
                (s["t0_s"], 1.0),
                xycoords=("data", "axes fraction"),
                fontsize=7,
                va="top",
            )
        right.axhline(budget, color="black", linestyle="--", linewidth=1)
        right.set_yscale("log")
        left.set_title(
            f"{v['letter']}) {v['label']}: offered (grey), scored (colour) per s; backlog (orange), consumer lag (purple dots)",
            fontsize=9,
        )
        right.set_title(
            f"{v['letter']}) per-second latency p99 (solid), p50 (dotted); green: step passed, red: failed",
            fontsize=9,
        )
        left.set_ylabel("records/s | records")
        right.set_ylabel("ms")
        left.set_xlabel("seconds since the variant started")
        right.set_xlabel("seconds since the variant started")
        left.grid(True, alpha=0.3)
        right.grid(True, which="both", alpha=0.3)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
