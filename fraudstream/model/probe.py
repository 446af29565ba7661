"""The narrative probe: does the model read the memo? Paired twins on held-out wording.

Theory of operation
-------------------
A benchmark whose scam memos always come with scam-like metadata cannot tell a model that reads
the memo from one that reads the metadata. The probe takes that away:

1. **Payments.** `pairs` legitimate push payments (channel `transfer`, label 0) drawn with a
   seed from a held-out records file, with their features computed by the stream's own state
   over the whole file (`build_features`), as for evaluation.
2. **Twins.** Each payment gets two memos and nothing else changes: a benign one and a scam one,
   both from the *held-out* memo families (`synth/memos.py`: wording no training file holds), in
   the language the payer would write (the payee country's, or English), written by the
   generator's own `MemoWriter`. Benign families include the alarming ones ("fraud team
   christmas do").
3. **Two replays.** The whole file is served twice in file order, once with the benign twins in
   place of those payments' memos and once with the scam twins (`model/served.py`): stage 1 on
   every row, the language model where the cascade routes, a narrative memory carried along, as
   `fraudstream run` does. The language model alone scores every twin too.
4. **Figures**, for the language model alone and for the served cascade: the paired AUC
   (the share of payments whose scam twin scores above its benign twin, ties counted half), the
   pooled ROC AUC of scam twins against benign twins, and the alert rates of both at the model
   folder's alert threshold; by story and by language.

`tests/integration/test_narrative_twins.py` does the same through `fraudstream run` on the real
broker.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudstream.model.metrics import roc_auc
from fraudstream.synth import MemoWriter
from fraudstream.synth.memos import MemoFamily, MemoSplit

if TYPE_CHECKING:
    from fraudstream.features.dataset import FeatureTable
    from fraudstream.model.served import FolderScorer


@dataclass
class Twins:
    rows: np.ndarray
    """Table rows of the payments, ascending."""
    benign: list[str]
    scam: list[str]
    benign_families: list[MemoFamily]
    scam_families: list[MemoFamily]


def pick_payments(table: FeatureTable, pairs: int, seed: int) -> np.ndarray:
    """Legitimate transfers (the `channel` categorical) with a narrative, a seeded sample."""
    if "channel" not in table.categorical_names:
        raise ValueError("the narrative probe needs a `channel` categorical (transfers)")
    channel = table.categorical[:, table.categorical_names.index("channel")]
    rows = np.flatnonzero((channel == "transfer") & (table.labels == 0))
    if rows.size == 0:
        raise ValueError("no legitimate transfer in the data")
    rng = np.random.default_rng([seed, 23])
    chosen = rng.choice(rows, size=min(pairs, rows.size), replace=False)
    return np.sort(chosen)


def make_twins(
    table: FeatureTable, rows: np.ndarray, *, seed: int, split: MemoSplit = "heldout"
) -> Twins:
    """A benign and a scam memo of `split`'s families for each payment."""
    writer = MemoWriter(seed)
    country_col = (
        table.categorical_names.index("counterparty_country")
        if "counterparty_country" in table.categorical_names
        else None
    )
    benign: list[str] = []
    scam: list[str] = []
    benign_f: list[MemoFamily] = []
    scam_f: list[MemoFamily] = []
    for i in rows:
        country = str(table.categorical[i, country_col]) if country_col is not None else "GB"
        text, family = writer.memo(0, country, split)
        benign.append(text)
        benign_f.append(family)
        text, family = writer.memo(1, country, split)
        scam.append(text)
        scam_f.append(family)
    return Twins(rows, benign, scam, benign_f, scam_f)


def paired_auc(scam: np.ndarray, benign: np.ndarray) -> float:
    """Share of pairs whose scam twin scores higher; ties count half."""
    if scam.size == 0:
        return float("nan")
    return float(np.mean((scam > benign) + 0.5 * (scam == benign)))


def _figures(scam: np.ndarray, benign: np.ndarray, threshold: float) -> dict[str, float]:
    labels = np.concatenate([np.ones(scam.size), np.zeros(benign.size)]).astype(np.int64)
    return {
        "paired_auc": round(paired_auc(scam, benign), 4),
        "roc_auc": round(float(roc_auc(labels, np.concatenate([scam, benign]))), 4),
        "scam_alert_rate": round(float(np.mean(scam >= threshold)), 4),
        "benign_alert_rate": round(float(np.mean(benign >= threshold)), 4),
    }


def _grouped(
    keys: Sequence[str], scam: np.ndarray, benign: np.ndarray, threshold: float
) -> dict[str, dict[str, float]]:
    by: dict[str, list[int]] = defaultdict(list)
    for j, k in enumerate(keys):
        by[k].append(j)
    out = {}
    for k in sorted(by):
        idx = np.array(by[k])
        out[k] = {"pairs": len(idx), **_figures(scam[idx], benign[idx], threshold)}
    return out


def run_probe(
    scorer: FolderScorer,
    table: FeatureTable,
    *,
    pairs: int = 1000,
    seed: int = 0,
    split: MemoSplit = "heldout",
) -> dict[str, Any]:
    """The probe's report block (see the module docstring)."""
    rows = pick_payments(table, pairs, seed)
    twins = make_twins(table, rows, seed=seed, split=split)
    threshold = float(scorer.model.threshold)
    every = np.arange(len(table))
    position = np.searchsorted(every, rows)

    def replayed(memos: list[str]) -> tuple[np.ndarray, np.ndarray]:
        narratives = list(table.narratives)
        for j, i in enumerate(rows):
            narratives[i] = memos[j]
        served = scorer.serve(table, every, narratives)
        return served.scores[position], served.routed[position]

    benign_served, benign_routed = replayed(twins.benign)
    scam_served, scam_routed = replayed(twins.scam)
    benign_lm = scorer.score(table, rows, twins.benign)
    scam_lm = scorer.score(table, rows, twins.scam)
    stories = [f.story for f in twins.scam_families]
    languages = [f.lang for f in twins.scam_families]
    return {
        "pairs": int(rows.size),
        "memo_families": split,
        "seed": seed,
        "alert_threshold": round(threshold, 6),
        "families_used": {
            "scam": len({f.id for f in twins.scam_families}),
            "benign": len({f.id for f in twins.benign_families}),
        },
        "language_model": _figures(scam_lm, benign_lm, threshold),
        "served": {
            **_figures(scam_served, benign_served, threshold),
            "scam_twins_read": round(float(scam_routed.mean()), 4),
            "benign_twins_read": round(float(benign_routed.mean()), 4),
        },
        "served_by_scam_story": _grouped(stories, scam_served, benign_served, threshold),
        "served_by_scam_language": _grouped(languages, scam_served, benign_served, threshold),
        "examples": [
            {
                "benign": twins.benign[j],
                "scam": twins.scam[j],
                "benign_score": round(float(benign_served[j]), 4),
                "scam_score": round(float(scam_served[j]), 4),
            }
            for j in range(min(8, rows.size))
        ],
    }
