"""From feature rows to tensors: robust numeric scaling and categorical ids, fitted on training data.

Numeric features arrive raw (counts, amounts, rates). Each is mapped to a robust z-score:
an optional signed log for heavy tails (amounts and counts span orders of magnitude, and a
z-score of a raw amount lets one outlier flatten everyone else to ~0), then centring on the
training median and dividing by the inter-quartile range, then clipping, so that a value
never seen in training cannot push the network into a region it never learned. Missing or
infinite values become the median (0 after scaling).

Categorical features become ids in a vocabulary learned on the training split: values seen at
least `min_count` times get their own id (1, 2, ... most frequent first), everything else,
including values first seen in production, shares id 0, the unknown bucket.

The fitted statistics are JSON (`preprocess.json` in a model folder); nothing is pickled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

# A heavy tail: the 99.9th percentile lies this many spreads above the median. Amounts and
# velocity counts exceed it; flags, hours and rates do not.
_HEAVY_TAIL_RATIO = 8.0
# A feature whose values all lie in a small range (flags, shares, hours) is never logged, even
# if it is skewed: the log would only compress an already bounded scale.
_LOG_MIN_RANGE = 20.0


class RowLike(Protocol):
    """What the model reads from a `fraudstream.features.FeatureRow`."""

    @property
    def numeric(self) -> Sequence[float]: ...
    @property
    def categorical(self) -> Sequence[str]: ...
    @property
    def narrative(self) -> str: ...


def signed_log(x: np.ndarray) -> np.ndarray:
    result: np.ndarray = np.sign(x) * np.log1p(np.abs(x))
    return result


@dataclass(slots=True)
class Preprocessor:
    numeric_names: list[str]
    categorical_names: list[str]
    medians: np.ndarray
    """Median after the optional log, per numeric feature (the centre of the scaled value)."""
    scales: np.ndarray
    log: np.ndarray
    """bool per numeric feature: apply the signed log first."""
    raw_medians: np.ndarray
    """Median of the raw value: the "usual" figure that reasons quote."""
    vocabs: list[dict[str, int]]
    clip: float = 5.0
    min_count: int = 5
    text_baseline: list[float] | None = None
    """Mean text vector of typical (legitimate) training narratives; `explain` occludes the text
    with it. None until training has computed it, or for a model without a text tower."""

    # ---- fitting -------------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        numeric: np.ndarray,
        categorical: np.ndarray | Sequence[Sequence[str]],
        *,
        numeric_names: Sequence[str],
        categorical_names: Sequence[str],
        min_count: int = 5,
        max_vocab: int = 1000,
        clip: float = 5.0,
    ) -> Preprocessor:
        numeric = _matrix(np.asarray(numeric, dtype=np.float64), len(numeric_names))
        n_features = numeric.shape[1]
        medians = np.zeros(n_features)
        scales = np.ones(n_features)
        raw_medians = np.zeros(n_features)
        log = np.zeros(n_features, dtype=bool)
        for j in range(n_features):
            col = numeric[:, j]
            col = col[np.isfinite(col)]
            if col.size == 0:
                continue
            raw_medians[j] = float(np.median(col))
            log[j] = _is_heavy_tailed(col)
            values = signed_log(col) if log[j] else col
            medians[j] = float(np.median(values))
            scales[j] = _robust_spread(values)
        vocabs = _fit_vocabs(categorical, len(categorical_names), min_count, max_vocab)
        return cls(
            numeric_names=list(numeric_names),
            categorical_names=list(categorical_names),
            medians=medians.astype(np.float32),
            scales=scales.astype(np.float32),
            log=log,
            raw_medians=raw_medians,
            vocabs=vocabs,
            clip=clip,
            min_count=min_count,
        )

    # ---- applying ------------------------------------------------------------------------------

    def transform_numeric(self, numeric: np.ndarray) -> np.ndarray:
        x = _matrix(np.array(numeric, dtype=np.float32), len(self.numeric_names))
        if self.log.any():
            x[:, self.log] = signed_log(x[:, self.log])
        x -= self.medians
        x /= self.scales
        # NaN -> the median; +-inf -> the clip bound (a huge value is still "huge").
        np.nan_to_num(x, copy=False, nan=0.0, posinf=self.clip, neginf=-self.clip)
        np.clip(x, -self.clip, self.clip, out=x)
        return x

    def transform_categorical(
        self, categorical: np.ndarray | Sequence[Sequence[str]]
    ) -> np.ndarray:
        n_cols = len(self.categorical_names)
        rows = categorical if isinstance(categorical, np.ndarray) else list(categorical)
        out = np.zeros((len(rows), n_cols), dtype=np.int64)
        for j, vocab in enumerate(self.vocabs):
            get = vocab.get
            # One dict lookup per value; on the hot path this is ~100 ns each.
            out[:, j] = [get(str(r[j]), 0) for r in rows]
        return out

    def numeric_tensor(self, rows: Sequence[RowLike]) -> torch.Tensor:
        raw = np.array([r.numeric for r in rows], dtype=np.float32)
        return torch.from_numpy(self.transform_numeric(raw))

    def categorical_tensor(self, rows: Sequence[RowLike]) -> torch.Tensor:
        return torch.from_numpy(self.transform_categorical([r.categorical for r in rows]))

    @property
    def cardinalities(self) -> list[int]:
        """Embedding rows per categorical feature: its known values plus the unknown bucket."""
        return [len(v) + 1 for v in self.vocabs]

    # ---- JSON ------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": 1,
            "clip": self.clip,
            "min_count": self.min_count,
            "numeric": [
                {
                    "name": name,
                    "median": float(self.medians[j]),
                    "scale": float(self.scales[j]),
                    "signed_log": bool(self.log[j]),
                    "raw_median": float(self.raw_medians[j]),
                }
                for j, name in enumerate(self.numeric_names)
            ],
            "categorical": [
                # Stored as a list in id order: ids are positions, so the JSON cannot disagree.
                {"name": name, "values": sorted(vocab, key=vocab.__getitem__)}
                for name, vocab in zip(self.categorical_names, self.vocabs, strict=True)
            ],
            "text_baseline": self.text_baseline,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Preprocessor:
        numeric = data["numeric"]
        categorical = data["categorical"]
        return cls(
            numeric_names=[str(f["name"]) for f in numeric],
            categorical_names=[str(f["name"]) for f in categorical],
            medians=np.array([f["median"] for f in numeric], dtype=np.float32),
            scales=np.array([f["scale"] for f in numeric], dtype=np.float32),
            log=np.array([bool(f["signed_log"]) for f in numeric], dtype=bool),
            raw_medians=np.array([f["raw_median"] for f in numeric], dtype=np.float64),
            vocabs=[{str(v): i + 1 for i, v in enumerate(f["values"])} for f in categorical],
            clip=float(data.get("clip", 5.0)),
            min_count=int(data.get("min_count", 5)),
            text_baseline=data.get("text_baseline"),
        )


def _matrix(x: np.ndarray, n_cols: int) -> np.ndarray:
    """[N, n_cols], also for zero columns and zero rows (where reshape(-1, 0) is ambiguous)."""
    if x.ndim == 2:
        return x
    return x.reshape(x.shape[0] if n_cols == 0 else -1, n_cols)


def _is_heavy_tailed(values: np.ndarray) -> bool:
    lo, q50, hi = np.quantile(values, [0.001, 0.5, 0.999])
    if hi - lo < _LOG_MIN_RANGE:
        return False
    spread = _robust_spread(values)
    return bool(max(hi - q50, q50 - lo) / spread > _HEAVY_TAIL_RATIO)


def _robust_spread(values: np.ndarray) -> float:
    """The IQR, or a wider quantile range when most values are equal (a rare flag, a count that
    is usually 0): the IQR is then 0 and dividing by it would blow every other value up."""
    q01, q25, q75, q99 = np.quantile(values, [0.01, 0.25, 0.75, 0.99])
    for spread in (q75 - q25, q99 - q01, float(values.max() - values.min())):
        if spread > 1e-9:
            return float(spread)
    return 1.0


def _fit_vocabs(
    categorical: np.ndarray | Sequence[Sequence[str]], n_cols: int, min_count: int, max_vocab: int
) -> list[dict[str, int]]:
    rows = categorical if isinstance(categorical, np.ndarray) else list(categorical)
    vocabs: list[dict[str, int]] = []
    for j in range(n_cols):
        counts = Counter(str(r[j]) for r in rows)
        # Most frequent first, ties by value, so the vocabulary is a function of the data alone.
        kept = sorted(
            (v for v, c in counts.items() if c >= min_count), key=lambda v: (-counts[v], v)
        )[:max_vocab]
        vocabs.append({v: i + 1 for i, v in enumerate(kept)})
    return vocabs
