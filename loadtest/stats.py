"""Latency percentiles and per-second series (pure; numpy only).

Percentiles use the nearest-rank definition: p_q is the smallest observed value such that at
least q % of the observations are at or below it. It never interpolates between two samples, so
"p99 <= 50 ms" means what it says: at least 99 % of the records took 50 ms or less.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

QUANTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p90", 90.0),
    ("p99", 99.0),
    ("p99.9", 99.9),
)


def nearest_rank(sorted_values: Sequence[float] | np.ndarray, q: float) -> float:
    """The q-th percentile (0 < q <= 100) of values sorted ascending; NaN when empty."""
    n = len(sorted_values)
    if n == 0:
        return math.nan
    if not 0 < q <= 100:
        raise ValueError(f"q must be in (0, 100], got {q}")
    rank = math.ceil(q / 100.0 * n - 1e-9)
    return float(sorted_values[min(n, max(1, rank)) - 1])


def summarize(values: Iterable[float] | np.ndarray) -> dict[str, Any]:
    """count, min, mean, p50, p90, p99, p99.9 and max of `values` (NaN values are ignored)."""
    arr = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=float)
    arr = np.sort(arr[~np.isnan(arr)])
    out: dict[str, Any] = {"count": len(arr)}
    if not len(arr):
        out.update(dict.fromkeys(["min", "mean", *(k for k, _ in QUANTILES), "max"]))
        return out
    out["min"] = float(arr[0])
    out["mean"] = float(arr.mean())
    for name, q in QUANTILES:
        out[name] = nearest_rank(arr, q)
    out["max"] = float(arr[-1])
    return out


def rounded(summary: dict[str, Any], digits: int = 3) -> dict[str, Any]:
    return {
        k: (round(v, digits) if isinstance(v, float) and math.isfinite(v) else v)
        for k, v in summary.items()
    }


def per_second(
    times: np.ndarray,
    values: np.ndarray | None,
    start: float,
    end: float,
    qs: Sequence[float] = (50.0, 99.0),
) -> list[dict[str, Any]]:
    """One-second bins from `start` to `end`: `t` (seconds from `start`), `count` (events in the
    bin, i.e. per second) and, when `values` are given, their percentiles `p50`, `p99`, ..."""
    n_bins = max(1, math.ceil(end - start - 1e-9))
    times = np.asarray(times, dtype=float)
    idx = np.floor(times - start)
    keep = ~np.isnan(idx) & (idx >= 0) & (idx < n_bins)
    idx = idx[keep].astype(int)
    vals = np.asarray(values, dtype=float)[keep] if values is not None else None
    order = np.argsort(idx, kind="stable")
    idx = idx[order]
    if vals is not None:
        vals = vals[order]
    bounds = np.searchsorted(idx, np.arange(n_bins + 1))
    out = []
    for b in range(n_bins):
        row: dict[str, Any] = {"t": b, "count": int(bounds[b + 1] - bounds[b])}
        if vals is not None:
            chunk = np.sort(vals[bounds[b] : bounds[b + 1]])
            for q in qs:
                row[f"p{q:g}"] = round(nearest_rank(chunk, q), 3) if len(chunk) else None
        out.append(row)
    return out
