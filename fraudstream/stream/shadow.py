"""Shadow mode: a challenger model scores the same records as the champion, off the hot path.

Theory of operation
-------------------
With `shadow_model_path` set, every fetch chunk that the champion routes is also handed, whole, to
the challenger in its own thread: the challenger runs its own cascade (its stage 1, its policy
and narrative memory, its language model in batches of at most `max_batch_size`) on the same
feature rows,
and its scores go to the shadow topic as ordinary risk-score records naming its version. The
champion's scores, alerts and latency path do not wait for it.

Nothing is lost on the shadow topic either: a record that expects a shadow score declares one
more output to the offset tracker, so its offset is committed only once the shadow score is
acknowledged too. The champion and the challenger finish in either order; the processor holds the
one that finishes first (bounded by the records in flight, which `max_in_flight` bounds). A
challenger that fails on a chunk publishes nothing for it (logged, counted) and releases the
offsets: a broken challenger must never stop the champion.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np

from fraudstream.features import FeatureRow
from fraudstream.runtime.scoring import Scoring, decide, remember

WAITING: Final = "waiting"
"""The challenger has not finished; the champion has not declared its outputs yet."""
DECLARED: Final = "declared"
"""The champion declared its outputs (one of them the shadow score) before the challenger ended."""
NOTHING: Final = b""
"""The challenger failed on this record: no shadow output to declare or send."""


def challenger_scores(
    scoring: Scoring, rows: Sequence[FeatureRow], max_batch: int
) -> tuple[np.ndarray, list[str]]:
    """The challenger's full cascade on `rows`: (scores, stage per row). Runs in a thread."""
    n = len(rows)
    routed = decide(scoring, rows)
    s1, to_lm = routed.stage1, routed.to_lm
    scores = np.zeros(n, dtype=np.float64) if s1 is None else np.asarray(s1, dtype=np.float64)
    stages = ["stage1"] * n
    index = np.flatnonzero(to_lm)
    for start in range(0, len(index), max(1, max_batch)):
        part = index[start : start + max_batch]
        sub = [rows[i] for i in part]
        ids = scoring.tokenize([r.narrative for r in sub])
        probs, _, logits = scoring.predict_explain(scoring.prepare(sub, ids), 2.0)
        if routed.texts is not None:
            remember(scoring, [routed.texts[i] for i in part], logits)
        for j, i in enumerate(part):
            scores[i] = float(probs[j])
            stages[i] = "language_model"
    return scores, stages
