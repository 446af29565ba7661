"""The narratives a model read in training, shipped in its folder (`narratives.json`), so that a
processor starts with them in its narrative memory.

Why: rule 1 of the cascade (`fraudstream/cascade.py`) sends every narrative the memory does not
hold to the language model. A processor that starts with an empty memory (first start, restart,
deploy, a new model version) sends every common statement descriptor ("SAINSBURYS S/MKTS") to
the language model until its memory fills: in the load test, 20% of the first 9,000 payments went
to the language model, against ~6% once warm, and the first seconds after each start missed the
latency budget. The text head's logit depends on the normalised narrative alone, so the logit
training computed for a narrative it trained on is what the memory would hold after the language
model read it. Training already chooses the cascade policy and the alert threshold with these
narratives counted as read (`stage1_fit.py`, `read_before`): the processor starts in the state
the figures were measured for.

Privacy: a bank's memos hold names and references. A narrative is kept only if at least
`MIN_PAYERS` distinct accounts wrote it in the training rows (merchant descriptors, common
phrases; not one customer's memo), at most `MAX_KNOWN` of them, the most widely written first.
No torch here: the processor reads the file without loading the model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

KNOWN_FILE = "narratives.json"
MIN_PAYERS = 3
"""Distinct accounts that must have written a narrative for it to be shipped."""
MAX_KNOWN = 50_000
"""Most narratives shipped (the settings' default `narrative_cache_size`)."""


def select(
    index: np.ndarray,
    texts: Sequence[str],
    payers: np.ndarray | None,
    rows: np.ndarray,
    *,
    min_payers: int = MIN_PAYERS,
    limit: int = MAX_KNOWN,
) -> np.ndarray:
    """Positions in `texts` (distinct narratives; `index[i]`: row i's) written by at least
    `min_payers` distinct payers over `rows`, most payers first (ties: first written first), at
    most `limit`; empty narratives are never kept. `payers`: per row, the account ("" or None:
    no account known, so the row counts as a payer of its own)."""
    if rows.size == 0 or limit <= 0:
        return np.zeros(0, dtype=np.int64)
    keys = index[rows]
    if payers is None:
        who = rows.astype(str)
    else:
        who = np.asarray(payers)[rows].astype(str)
        # a row without an account is no evidence that others wrote the same words
        who = np.where(who == "", np.char.add("row:", rows.astype(str)), who)
    pairs = np.unique(np.stack([keys.astype(str), who]), axis=1)[0].astype(np.int64)
    counts = np.bincount(pairs, minlength=len(texts))
    first = np.full(len(texts), np.iinfo(np.int64).max)
    np.minimum.at(first, keys, np.arange(keys.size))
    eligible = np.flatnonzero(counts >= min_payers)
    eligible = eligible[[bool(texts[int(i)]) for i in eligible]] if eligible.size else eligible
    order = np.lexsort((first[eligible], -counts[eligible]))
    return eligible[order][:limit].astype(np.int64)


def to_bytes(
    texts: Sequence[str], logits: Sequence[float] | np.ndarray, *, min_payers: int
) -> bytes:
    """`narratives.json`: the narratives in the order given (most widely written first) with the
    text head's logit of each."""
    doc = {
        "min_payers": min_payers,
        "narratives": [[t, round(float(x), 6)] for t, x in zip(texts, logits, strict=True)],
    }
    return (json.dumps(doc, ensure_ascii=False, indent=0) + "\n").encode()


def read(folder: Path) -> list[tuple[str, float]]:
    """The folder's shipped narratives with their logits, most widely written first (empty for a
    folder without the file: one written before it existed)."""
    path = folder / KNOWN_FILE
    if not path.is_file():
        return []
    doc = json.loads(path.read_bytes())
    try:
        return [(str(t), float(x)) for t, x in doc["narratives"]]
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(
            f"model_path: {path} is not a narratives file ({e}); fix: re-export the folder with "
            "`fraudstream train`"
        ) from None
