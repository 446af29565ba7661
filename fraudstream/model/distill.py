"""Distillation from stage 1 (`TrainOptions.distill`): the GBDT's out-of-fold verdict on each
training row, a soft target for the network's loss next to the hard labels (`fit`).

`out_of_fold_logits` scores every training row with a GBDT that did not train on it, so that
the teacher never hands the network its own labels back; `_teacher` turns those logits into
soft targets in the frame of the network's loss (negative sampling and `pos_weight`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from fraudstream.features.dataset import FeatureTable
    from fraudstream.model.classifier import FraudClassifier
    from fraudstream.model.presets import Preset
    from fraudstream.model.train import TrainOptions
    from fraudstream.model.train_data import TrainSplit


def _teacher(
    table: FeatureTable,
    split: TrainSplit,
    options: TrainOptions,
    preset: Preset,
    module: FraudClassifier,
    n_neg: int,
    per_epoch_neg: int,
    pos_weight: float,
    say: Callable[[str], None],
) -> tuple[torch.Tensor | None, float]:
    """The distillation teacher's soft targets per table row, and the loss weight."""
    weight = options.distill
    if weight is None:
        # A metadata-only teacher pulls a narrative model away from the memo where only the memo
        # tells (docs/model.md): on by default for towers trained from scratch only.
        weight = 0.5 if module.has_text and preset.tokenizer != "minilm" else 0.0
    if weight <= 0:
        return None, 0.0
    t0 = time.perf_counter()
    oof = out_of_fold_logits(table, split.train, split.validation, options)
    # The network's logits carry the epoch's negative sampling and pos_weight as an offset;
    # move the teacher's into the same frame so that the two losses agree on the base rate.
    offset = math.log(max(n_neg, 1) / max(per_epoch_neg, 1)) + math.log(pos_weight)
    full = np.zeros(len(table), dtype=np.float32)
    full[split.train] = 1.0 / (1.0 + np.exp(-(oof + offset)))
    say(
        f"distillation: stage-1 out-of-fold teacher on {split.train.size:,} rows "
        f"({options.distill_folds} folds, {time.perf_counter() - t0:.1f}s), weight {weight}"
    )
    return torch.from_numpy(full), weight


def out_of_fold_logits(
    table: FeatureTable, train: np.ndarray, valid: np.ndarray, options: TrainOptions
) -> np.ndarray:
    """Stage-1 GBDT logits for each training row from a model that did not train on it."""
    from fraudstream.model.gbdt import GBDTModel, GBDTParams

    k = max(2, options.distill_folds)
    fold = np.random.default_rng([options.seed, 7]).integers(0, k, train.size)
    out = np.zeros(train.size, dtype=np.float64)
    for f in range(k):
        fit_rows, held = train[fold != f], fold == f
        gbdt = GBDTModel.fit_table(
            table, fit_rows, valid, GBDTParams(refit=False, seed=options.seed)
        )
        p = gbdt.predict_proba(table.numeric[train[held]], table.categorical[train[held]])
        p = np.clip(p, 1e-6, 1 - 1e-6)
        out[held] = np.log(p / (1 - p))
    return out
