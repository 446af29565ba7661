"""The tail of `fit` (`train.py`, steps 4 and 5): calibration, thresholds, stage 1, the figures.

Once the epoch loop (`train_loop.py`) has left the best epoch's weights in the module, `finish`
calibrates its logits on validation, stores the text baseline (the mean text vector of legitimate
validation narratives) in the preprocessor, gathers the validation figures of the model card,
and chooses the alert threshold and bands on validation. With stage 1 (the default), it selects
the narratives the folder ships for the narrative memory (`known_narratives.py`), fits the
cascade's stage 1 (`stage1_fit.py::fit_stage1`) and chooses the threshold again, on the scores
that are served.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from fraudstream.model import known_narratives
from fraudstream.model.calibration import Calibration, fit_calibration
from fraudstream.model.classifier import FraudClassifier
from fraudstream.model.metrics import average_precision, expected_calibration_error, roc_auc
from fraudstream.model.preprocess import Preprocessor
from fraudstream.model.stage1_fit import (
    _alert_figures,
    _known_logits,
    _narrative_risk,
    _read_before,
    ap_round,
    fit_stage1,
)
from fraudstream.model.text_training import Narratives, TextFeatures
from fraudstream.model.thresholds import Thresholds, choose_thresholds
from fraudstream.model.train_batches import _logits, _mean_text_vector, _Tensors, _text_logits
from fraudstream.web.drift import score_distribution

if TYPE_CHECKING:
    from fraudstream.features.dataset import FeatureTable
    from fraudstream.model.train import TrainOptions
    from fraudstream.model.train_data import TrainSplit


@dataclass(frozen=True)
class Finished:
    """What `fit` returns beside the module: the artefacts chosen on validation."""

    preprocessor: Preprocessor
    calibration: Calibration
    thresholds: Thresholds
    metrics: dict[str, Any]
    extra_files: dict[str, bytes]


def finish(
    module: FraudClassifier,
    tensors: _Tensors,
    table: FeatureTable,
    split: TrainSplit,
    options: TrainOptions,
    *,
    preprocessor: Preprocessor,
    texts: list[str],
    narratives: Narratives | None,
    features: TextFeatures | None,
    batch_size: int,
    device: torch.device,
    training: dict[str, Any],
    say: Callable[[str], None],
) -> Finished:
    """Steps 4 and 5 on the trained module; `training`: the figures of the loop, for the card."""
    valid_idx = split.validation
    y_valid = table.labels[valid_idx].astype(np.int64)
    valid_logits = _logits(module, tensors, valid_idx, device, batch_size * 4)
    calibration = fit_calibration(valid_logits, y_valid, options.calibration)
    probs = calibration.apply(valid_logits)
    valid_text: np.ndarray | None = None
    if module.has_text:
        preprocessor, valid_text = _text_baseline(
            module, tensors, preprocessor, narratives, features, valid_idx, y_valid, device
        )
    metrics: dict[str, Any] = {
        "validation": _validation_figures(y_valid, valid_logits, probs),
        **training,
    }
    if valid_text is not None and (y_valid == 1).any():
        metrics["validation"]["narrative_alone_roc_auc"] = ap_round(roc_auc(y_valid, valid_text))
    thresholds = choose_thresholds(
        probs, y_valid, target_precision=options.target_precision, alert_budget=options.alert_budget
    )
    served = probs
    extra: dict[str, bytes] = {}
    if options.stage1:
        extra, metrics["cascade"], served = _stage1(
            module, tensors, table, split, options, probs, texts, narratives, features, device, say
        )
        # The threshold is chosen on what is served (stage 1's calibrated score or the language
        # model's), not on the language model alone: that is what alerts.
        thresholds = choose_thresholds(
            served,
            y_valid,
            target_precision=options.target_precision,
            alert_budget=options.alert_budget,
        )
    metrics["validation"]["served_average_precision"] = ap_round(average_precision(y_valid, served))
    # what the drift watch (fraudstream/web/drift.py) compares the live stream with
    metrics["validation"]["score_distribution"] = score_distribution(served, thresholds.alert)
    metrics["validation"]["alert"] = _alert_figures(served, y_valid, thresholds.alert)
    return Finished(preprocessor, calibration, thresholds, metrics, extra)


def _text_baseline(
    module: FraudClassifier,
    tensors: _Tensors,
    preprocessor: Preprocessor,
    narratives: Narratives | None,
    features: TextFeatures | None,
    valid_idx: np.ndarray,
    y_valid: np.ndarray,
    device: torch.device,
) -> tuple[Preprocessor, np.ndarray | None]:
    """The preprocessor with the text baseline, and the text head's logit per validation row
    (None without a text head)."""
    legit = valid_idx[y_valid == 0]
    if features is not None and narratives is not None:
        baseline = features.vectors[narratives.index[legit[:5000]]].mean(0)
        preprocessor = replace(preprocessor, text_baseline=[round(float(v), 6) for v in baseline])
        valid_text: np.ndarray = features.logits.numpy()[narratives.index[valid_idx]]
        return preprocessor, valid_text
    preprocessor = replace(
        preprocessor, text_baseline=_mean_text_vector(module, tensors, legit, device)
    )
    return preprocessor, _text_logits(module, tensors, valid_idx, device)


def _validation_figures(
    y_valid: np.ndarray, valid_logits: np.ndarray, probs: np.ndarray
) -> dict[str, Any]:
    return {
        "average_precision": ap_round(average_precision(y_valid, valid_logits)),
        "roc_auc": ap_round(roc_auc(y_valid, valid_logits)),
        "ece_uncalibrated": ap_round(
            expected_calibration_error(y_valid, 1 / (1 + np.exp(-valid_logits)))
        ),
        "ece_calibrated": ap_round(expected_calibration_error(y_valid, probs)),
        "rows": int(y_valid.size),
        "frauds": int(y_valid.sum()),
    }


def _stage1(
    module: FraudClassifier,
    tensors: _Tensors,
    table: FeatureTable,
    split: TrainSplit,
    options: TrainOptions,
    probs: np.ndarray,
    texts: list[str],
    narratives: Narratives | None,
    features: TextFeatures | None,
    device: torch.device,
    say: Callable[[str], None],
) -> tuple[dict[str, bytes], dict[str, Any], np.ndarray]:
    """Stage 1 and the narratives shipped for the memory: (files, cascade figures, served)."""
    train_idx, valid_idx = split.train, split.validation
    read_before = risk = None
    known_file: dict[str, bytes] = {}
    if narratives is not None and module.text_head is not None:
        # the narratives the folder ships for the memory to start with: counted as read
        known = known_narratives.select(
            narratives.index, narratives.texts, table.entities.get("account"), train_idx
        )
        read_before = _read_before(narratives.index, known, valid_idx)
        risk = _narrative_risk(module, tensors, texts, features, narratives, train_idx, device)
        known_file[known_narratives.KNOWN_FILE] = known_narratives.to_bytes(
            [narratives.texts[i] for i in known],
            _known_logits(module, tensors, features, narratives, known, train_idx, device),
            min_payers=known_narratives.MIN_PAYERS,
        )
        say(
            f"narratives shipped for the memory: {known.size:,} of {len(narratives.texts):,} "
            f"(written by at least {known_narratives.MIN_PAYERS} accounts)"
        )
    extra, cascade, served = fit_stage1(
        table,
        split,
        probs,
        lm_share=options.lm_share,
        narrative_risk=risk,
        read_before=read_before,
        log=say,
    )
    extra.update(known_file)
    return extra, cascade, served
