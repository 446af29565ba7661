"""The evaluation's figures as PNG files a person can read.

Every scorer of a run (the model, the GBDT baseline, the cascade) is drawn on the same axes, its
headline figure in the legend:
- `precision_recall.png`: precision against recall (AP in the legend), with the fraud rate as the
  no-skill line;
- `score_histogram.png`: the score distribution of legitimate and fraudulent transactions, log
  count axis (frauds are rare: on a linear axis their bars vanish);
- `calibration.png`: observed fraud rate against mean predicted probability over log-spaced
  bins, log-log axes (nearly all probabilities are tiny, the alerts live in the rare high
  ones), ECE in the legend.

matplotlib runs headless (Agg) and is imported only here, so the rest of the evaluation does
not pay for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from fraudstream.model.metrics import (
    average_precision,
    expected_calibration_error,
    precision_recall_curve,
)

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


@dataclass(frozen=True, slots=True)
class Scored:
    """One scorer's probabilities on the test rows (labels 0/1)."""

    labels: NDArray[np.int8]
    scores: NDArray[np.float64]


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_precision_recall(scored: Mapping[str, Scored], path: Path, *, title: str) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5.5), dpi=120)
    rate = None
    for color, (name, s) in zip(COLORS, scored.items(), strict=False):
        curve = precision_recall_curve(s.labels, s.scores)
        ap = average_precision(s.labels, s.scores)
        # Steps as AP counts them: precision P_n over the recall interval (R_{n-1}, R_n].
        ax.step(
            curve.recall,
            curve.precision,
            where="pre",
            color=color,
            lw=1.6,
            label=f"{name} (AP {ap:.3f})",
        )
        rate = float(np.mean(s.labels)) if s.labels.size else None
    if rate is not None:
        ax.axhline(rate, color="grey", ls=":", lw=1, label=f"no skill (fraud rate {rate:.2%})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall (share of frauds caught)")
    ax.set_ylabel("precision (share of alerts that are fraud)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_score_histograms(scored: Mapping[str, Scored], path: Path, *, title: str) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5.5), dpi=120)
    bins = np.linspace(0.0, 1.0, 51)
    for color, (name, s) in zip(COLORS, scored.items(), strict=False):
        legit = s.scores[s.labels == 0]
        fraud = s.scores[s.labels == 1]
        ax.hist(
            legit,
            bins=bins,
            histtype="step",
            lw=1.4,
            ls="--",
            color=color,
            label=f"{name}: legitimate (n={legit.size:,})",
        )
        ax.hist(
            fraud,
            bins=bins,
            histtype="step",
            lw=1.8,
            color=color,
            label=f"{name}: fraud (n={fraud.size:,})",
        )
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel("predicted fraud probability")
    ax.set_ylabel("transactions per bin (log scale)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _log_bins(
    labels: NDArray[np.int8], scores: NDArray[np.float64], n_bins: int, min_count: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Reliability points over log-spaced bins from the 0.1th percentile to 1, so that the rare
    high scores (where the alerts are) get bins of their own; bins under `min_count` dropped."""
    floor = max(float(np.percentile(scores, 0.1)) if scores.size else 1e-4, 1e-6)
    edges = np.geomspace(floor, 1.0, n_bins + 1)
    ids = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(ids, minlength=n_bins)
    sum_p = np.bincount(ids, weights=scores, minlength=n_bins)
    sum_y = np.bincount(ids, weights=labels.astype(np.float64), minlength=n_bins)
    keep = count >= min_count
    return sum_p[keep] / count[keep], sum_y[keep] / count[keep], count[keep]


def plot_calibration(
    scored: Mapping[str, Scored],
    path: Path,
    *,
    title: str,
    n_bins: int = 16,
    min_count: int = 20,
    ece_bins: int = 15,
) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 6), dpi=120)
    lo = 1.0
    for color, (name, s) in zip(COLORS, scored.items(), strict=False):
        predicted, observed, count = _log_bins(s.labels, s.scores, n_bins, min_count)
        if predicted.size == 0:
            continue
        ece = expected_calibration_error(s.labels, s.scores, ece_bins)
        # An empty bin of frauds cannot sit on a log axis: draw it on the floor, hollow.
        floor = 0.5 / max(int(count.max()), 1)
        shown = np.maximum(observed, floor)
        ax.plot(predicted, shown, "-", color=color, lw=1.4, label=f"{name} (ECE {ece:.4f})")
        ax.scatter(
            predicted,
            shown,
            s=8 + 40 * np.sqrt(count / count.max()),
            color=color,
            facecolors=np.where(observed > 0, color, "none"),
            zorder=3,
        )
        lo = min(lo, float(predicted.min()), float(shown.min()))
    lo = max(lo / 2, 1e-6)
    ax.plot([lo, 1], [lo, 1], color="grey", ls=":", lw=1, label="perfectly calibrated")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, 1)
    ax.set_ylim(lo, 1)
    ax.set_xlabel(f"mean predicted probability (log-spaced bins, >= {min_count} transactions)")
    ax.set_ylabel("observed fraud rate (marker size ~ transactions in bin)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_plots(scored: Mapping[str, Scored], out_dir: Path, *, subtitle: str) -> list[str]:
    """All the figures into `out_dir`; returns their file names."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [
        plot_precision_recall(
            scored, out_dir / "precision_recall.png", title=f"Precision-recall\n{subtitle}"
        ),
        plot_score_histograms(
            scored, out_dir / "score_histogram.png", title=f"Scores by class\n{subtitle}"
        ),
        plot_calibration(scored, out_dir / "calibration.png", title=f"Calibration\n{subtitle}"),
    ]
    return [p.name for p in paths]
