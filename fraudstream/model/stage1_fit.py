"""The cascade's stage 1 at training time (step 5 of `train.py`'s theory of operation), and the
validation figures of what is served.

`fit_stage1` fits the LightGBM stage 1, calibrates it and chooses the cascade policy
(`fraudstream/cascade.py`) on validation; `_narrative_risk` (the text head's logit per row, a
stage-1 feature) and `_read_before` (which validation narratives a running processor has met)
are the text tower's inputs to it. `_alert_figures` reports the alert threshold on the served
validation scores and `ap_round` rounds every validation figure in `TrainResult.metrics`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudstream.model.calibration import fit_calibration
from fraudstream.model.metrics import average_precision
from fraudstream.model.stage1 import NARRATIVE_RISK
from fraudstream.model.train_batches import _text_logits

if TYPE_CHECKING:
    import torch

    from fraudstream.features.dataset import FeatureTable
    from fraudstream.model.classifier import FraudClassifier
    from fraudstream.model.text_training import Narratives, TextFeatures
    from fraudstream.model.train_batches import _Tensors
    from fraudstream.model.train_data import TrainSplit


def _alert_figures(scores: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, float]:
    """What the alert threshold stands for on validation: its precision, recall and alert rate."""
    alerts = scores >= threshold
    n_alerts = int(alerts.sum())
    frauds = int((y == 1).sum())
    caught = int((alerts & (y == 1)).sum())
    return {
        "threshold": round(float(threshold), 6),
        "alert_rate": round(n_alerts / max(y.size, 1), 6),
        "precision": round(caught / n_alerts, 4) if n_alerts else 0.0,
        "recall": round(caught / frauds, 4) if frauds else 0.0,
    }


def _narrative_risk(
    module: FraudClassifier,
    tensors: _Tensors,
    texts: Sequence[str],
    features: TextFeatures | None,
    narratives: Narratives,
    train_idx: np.ndarray,
    device: torch.device,
) -> np.ndarray:
    """The text head's logit for every row (cross-fitted for training rows), NaN where there is
    no narrative: stage 1's `narrative_risk` feature (in the stream: the logit the narrative
    memory holds)."""
    if features is not None:
        risk = features.logits.numpy().astype(np.float64)[narratives.index]
        fitted = features.fitted_logits.numpy().astype(np.float64)
        risk[train_idx] = fitted[narratives.index[train_idx]]
    else:
        logits = _text_logits(module, tensors, np.arange(len(texts)), device)
        assert logits is not None
        risk = logits.astype(np.float64)
    empty = np.array([not t for t in texts])
    risk[empty] = np.nan
    return risk


def _known_logits(
    module: FraudClassifier,
    tensors: _Tensors,
    features: TextFeatures | None,
    narratives: Narratives,
    known: np.ndarray,
    train_idx: np.ndarray,
    device: torch.device,
) -> np.ndarray:
    """The text head's logit (the final tower's, as the stream's language model gives it) for
    each of the `known` distinct narratives (`model/known_narratives.py`)."""
    if features is not None:
        return features.logits.numpy().astype(np.float64)[known]
    first: dict[int, int] = {}
    for i in train_idx.tolist():
        first.setdefault(int(narratives.index[i]), i)
    rows = np.array([first[int(k)] for k in known], dtype=np.int64)
    logits = _text_logits(module, tensors, rows, device)
    assert logits is not None
    return logits.astype(np.float64)


def _read_before(index: np.ndarray, known: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per validation row: whether the narrative memory holds its narrative when it comes: one
    of the `known` narratives the folder ships (`model/known_narratives.py`), or one met earlier
    in validation (the language model read it then)."""
    seen = set(known.tolist())
    out = np.zeros(valid.size, dtype=bool)
    for j, i in enumerate(valid):
        key = int(index[i])
        out[j] = key in seen
        seen.add(key)
    return out


def fit_stage1(
    table: FeatureTable,
    split: TrainSplit,
    model_valid: np.ndarray,
    *,
    lm_share: float,
    log: Callable[[str], None],
    narrative_risk: np.ndarray | None = None,
    read_before: np.ndarray | None = None,
) -> tuple[dict[str, bytes], dict[str, Any], np.ndarray]:
    """The cascade's stage 1 (`fraudstream.model.gbdt`), its calibration, and the policy
    (`fraudstream/cascade.py`) that sends transactions to the language model.

    Stage 1 is fitted on the training rows, on the metadata and, for a model with a text head,
    the narrative's own risk (`narrative_risk`: the text head's logit, which the stream's
    narrative memory holds for every narrative read before; NaN without a narrative), and
    calibrated (Platt) on validation, so that its score, served wherever it is final, means what
    the language model's means. The policy is chosen on validation: among uncertain bands from
    stage-1 score quantiles and narrative-risk thresholds (logit 0, or lower quantiles of the
    validation rows' text logits), the one whose served scores have the best average precision while sending at
    most `lm_share` of the traffic besides the unread narratives (which go whatever the policy);
    ties go to less traffic. With a text head the language model
    also reads every narrative not met before (`read_before` false): stage 1 never finalises an
    unread memo. Returns the folder's files, the validation figures, and the served validation
    scores.
    """
    import json
    import tempfile

    from fraudstream.cascade import CascadePolicy, blend
    from fraudstream.model.gbdt import GBDTModel, GBDTParams

    t0 = time.perf_counter()
    train, valid = split.train, split.validation
    numeric, names = table.numeric, list(table.numeric_names)
    if narrative_risk is not None:
        numeric = np.column_stack([numeric, narrative_risk])
        names.append(NARRATIVE_RISK)
    # No refit on train + validation: the band is chosen on validation, so stage 1 must not
    # have seen it (a refit model scores its own training rows there, and looks far better).
    gbdt = GBDTModel.fit(
        numeric[train],
        table.categorical[train],
        table.labels[train],
        valid=(numeric[valid], table.categorical[valid], table.labels[valid]),
        numeric_names=names,
        categorical_names=table.categorical_names,
        params=GBDTParams(refit=False),
    )
    raw = np.clip(gbdt.predict_proba(numeric[valid], table.categorical[valid]), 1e-7, 1 - 1e-7)
    y = table.labels[valid].astype(np.int64)
    calibration = fit_calibration(np.log(raw / (1 - raw)), y, "platt")
    stage1 = calibration.apply(np.log(raw / (1 - raw)))
    text_logits = narrative_risk[valid] if narrative_risk is not None else None

    reads = text_logits is not None and read_before is not None
    has_text = ~np.isnan(text_logits) if text_logits is not None and reads else None
    unread = (
        (~read_before & has_text)
        if reads and read_before is not None and has_text is not None
        else None
    )
    # With a text head a narrative read before and found risky is read again (rule 2 of
    # cascade.py) from logit 0 (the text head's even odds) down: never left to stage 1 alone.
    # Validation cannot choose "never": its wording is the training families', on which stage
    # 1's narrative_risk feature is as sharp as in training; on wording held out from training
    # it was not (`evaluate --probe`, served cascade: pooled ROC AUC 0.787 without the rule,
    # 0.968 with it at logit 0, for 0.9 points more traffic to the language model; docs/model.md).
    thresholds: list[float | None] = [None]
    if reads and text_logits is not None:
        ranked = (
            np.sort(text_logits[has_text])[::-1]
            if has_text is not None and has_text.any()
            else np.zeros(0)
        )
        thresholds = [0.0]
        for share in (0.01, 0.02, 0.05, 0.1):
            if ranked.size:
                cut = float(ranked[min(ranked.size - 1, int(share * ranked.size))])
                if cut < 0.0:
                    thresholds.append(cut)
    # Candidate cut points: stage-1 scores at fixed shares of the traffic, highest first.
    shares = [s for s in (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5) if s <= lm_share]
    order = np.sort(stage1)[::-1]
    cuts = sorted({float(order[min(len(order) - 1, int(s * len(order)))]) for s in shares})
    # Blends of the two scores where the language model reads: only without narrative risk (see
    # `CascadePolicy.blend`). Weight 0 first, so that a tie keeps the language model's own score.
    weights = BLEND_WEIGHTS if narrative_risk is None else (0.0,)
    mixed = {w: blend(stage1, model_valid, w) for w in weights}
    # (feasible, ap, -share) ranks candidates: within the share limit first (when none is, the
    # one that sends the least), then the best AP, then the least traffic.
    best: tuple[tuple[bool, float, float], float, float, float | None, float, np.ndarray] | None
    best = None
    forced = float(unread.mean()) if unread is not None else 0.0
    for threshold in thresholds:
        base = np.zeros(y.size, dtype=bool)
        if unread is not None:
            base |= unread
        if threshold is not None and text_logits is not None and has_text is not None:
            base |= has_text & (text_logits >= threshold)
        for low in cuts:
            for high in [c for c in cuts if c > low] + [math.inf]:
                routed = base | ((stage1 >= low) & (stage1 < high))
                share = float(routed.mean())
                # the limit is on what the policy chooses to send: unread narratives go anyway
                feasible = share - forced <= lm_share
                for weight in weights:
                    ap = (
                        average_precision(y, np.where(routed, mixed[weight], stage1))
                        if feasible
                        else 0.0
                    )
                    rank = (feasible, ap, -share)
                    if best is None or rank > best[0]:
                        best = (rank, low, high, threshold, weight, routed)
    assert best is not None
    (_, ap, neg_share), low, high, threshold, weight, routed = best
    policy = CascadePolicy(
        band=(low, high), narrative_threshold=threshold, read_unread=reads, blend=weight
    )
    served = np.where(routed, mixed[weight], stage1)
    figures = {
        "band": [low, None if math.isinf(high) else high],
        "narrative_threshold": threshold,
        "read_unread": reads,
        "blend": weight,
        "validation_ap_cascade": ap_round(ap),
        "validation_ap_stage1": ap_round(average_precision(y, stage1)),
        "validation_ap_language_model": ap_round(average_precision(y, model_valid)),
        "validation_share_to_language_model": round(-neg_share, 4),
        "validation_share_unread": round(float(unread.mean()), 4) if unread is not None else 0.0,
    }
    log(
        f"stage 1: GBDT validation AP {figures['validation_ap_stage1']:.4f}; band [{low:.4g}, "
        f"{high:.4g})"
        + (f", narrative logit >= {threshold:.3g}" if threshold is not None else "")
        + (", unread narratives" if reads else "")
        + f" send {-neg_share:.1%} to the language model"
        + (f" (served: blend, stage-1 weight {weight})" if weight else "")
        + f", cascade AP {ap:.4f} "
        f"({time.perf_counter() - t0:.1f}s)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        gbdt.save(tmp)
        files = {p.name: p.read_bytes() for p in sorted(Path(tmp).iterdir()) if p.is_file()}
    doc = {**figures, **policy.to_json(), "stage1_calibration": calibration.to_json()}
    files["cascade.json"] = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
    return files, figures, served


BLEND_WEIGHTS = (0.0, 0.5)
"""Stage-1 weights `fit_stage1` tries for the served blend: the language model alone, or the
plain mean of the two logits (on the handbook's earlier weeks, +0.01 AP over either alone)."""


def ap_round(x: float) -> float:
    return round(float(x), 6)
