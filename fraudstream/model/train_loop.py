"""The epoch loop of `fit` (`train.py`, step 3): which rows, the optimiser, early stopping.

`Sampling` is which training rows an epoch sees (every fraud and, in the end-to-end recipe, a
fresh random sample of `negative_ratio` legitimate rows per fraud) and the loss's class weight,
`pos_weight = sqrt(negatives / positives)` over those rows. `train_epochs` runs AdamW with linear
warm-up and cosine decay and gradient clipping over the epochs, under `deterministic`; the loss
adds the distillation term (the stage-1 teacher, `distill.py`) and, end to end, the text head's
own loss. After every epoch it scores validation **average precision**, stops after `patience`
epochs without gain, and leaves the best epoch's weights in the module.

The batch order of an epoch comes from a numpy generator seeded with (seed, epoch), so two runs
with one seed take the same steps (the determinism test and the default model's version rely on
it).
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from fraudstream.model.classifier import FraudClassifier, count_parameters
from fraudstream.model.metrics import average_precision
from fraudstream.model.train_batches import _batches, _forward, _logits, _param_groups, _progress
from fraudstream.model.train_setup import deterministic

if TYPE_CHECKING:
    from fraudstream.model.presets import Preset
    from fraudstream.model.train import TrainOptions
    from fraudstream.model.train_batches import _Batch, _Tensors


@dataclass(frozen=True)
class Sampling:
    """The training rows by label, how many legitimate ones an epoch sees, the class weight."""

    rows: np.ndarray
    positives: np.ndarray
    negatives: np.ndarray
    per_epoch_neg: int
    pos_weight: float

    @classmethod
    def of(
        cls, train_idx: np.ndarray, labels: np.ndarray, options: TrainOptions, mode: str
    ) -> Sampling:
        y_train = labels[train_idx]
        positives, negatives = train_idx[y_train == 1], train_idx[y_train != 1]
        n_pos = int(positives.size)
        n_neg = int(negatives.size)
        per_epoch_neg = n_neg
        if options.negative_ratio and mode == "end_to_end":
            per_epoch_neg = min(n_neg, round(options.negative_ratio * n_pos))
        pos_weight = options.pos_weight or math.sqrt(per_epoch_neg / max(n_pos, 1))
        return cls(train_idx, positives, negatives, per_epoch_neg, pos_weight)

    @property
    def n_pos(self) -> int:
        return int(self.positives.size)

    @property
    def n_neg(self) -> int:
        return int(self.negatives.size)

    def epoch_rows(self, rng: np.random.Generator) -> np.ndarray:
        if self.per_epoch_neg == self.n_neg:
            return self.rows
        return np.concatenate(
            [self.positives, rng.choice(self.negatives, self.per_epoch_neg, replace=False)]
        )


@dataclass(frozen=True)
class Epochs:
    """What the loop did: per-epoch figures, the epoch kept, its wall time, the model's size."""

    history: list[dict[str, float]]
    best_epoch: int
    seconds: float
    parameters: dict[str, int]


def train_epochs(
    module: FraudClassifier,
    tensors: _Tensors,
    sampling: Sampling,
    valid_idx: np.ndarray,
    y_valid: np.ndarray,
    options: TrainOptions,
    preset: Preset,
    device: torch.device,
    *,
    mode: str,
    teacher: torch.Tensor | None,
    distill_weight: float,
    say: Callable[[str], None],
) -> Epochs:
    """Train `module` in place; it ends in eval mode holding the best epoch's weights."""
    epochs = options.epochs or preset.epochs
    batch_size = options.batch_size or preset.batch_size
    # Chunked length bucketing leaves a short batch per chunk: count them as they will come.
    sample = sampling.epoch_rows(np.random.default_rng(0))
    steps_per_epoch = len(_batches(np.random.default_rng(0), sample, tensors.lengths, batch_size))
    total_steps = max(epochs * steps_per_epoch, 1)
    optimizer = torch.optim.AdamW(
        _param_groups(module, options, preset), lr=options.learning_rate or preset.learning_rate
    )
    scheduler = _warmup_cosine(optimizer, total_steps, options.warmup_fraction)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(sampling.pos_weight, device=device))
    params = count_parameters(module)
    say(
        f"training {preset.name} ({mode}): {params['total']:,} parameters on {device}, "
        f"{sampling.rows.size:,} rows ({sampling.n_pos:,} frauds), validation "
        f"{valid_idx.size:,} rows ({int(y_valid.sum()):,} frauds), "
        f"{sampling.n_pos + sampling.per_epoch_neg:,} rows per epoch, "
        f"pos_weight {sampling.pos_weight:.1f}, {torch.get_num_threads()} threads"
    )
    text_loss = mode == "end_to_end" and module.text_head is not None and options.text_weight > 0
    text_weight = options.text_weight if text_loss else None
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.type == "cuda"
        else contextlib.nullcontext()
    )

    history: list[dict[str, float]] = []
    best_ap, best_epoch, best_state = -1.0, -1, copy.deepcopy(module.state_dict())
    stale = 0
    started = time.perf_counter()
    with deterministic(device):
        bar = _progress(total_steps, enabled=options.progress)
        for epoch in range(epochs):
            module.train()
            rng = np.random.default_rng([options.seed, epoch])
            total_loss = 0.0
            running = 0.0
            rows = sampling.epoch_rows(rng)
            for b, idx in enumerate(_batches(rng, rows, tensors.lengths, batch_size)):
                batch = tensors.batch(idx, device, fitted=True)
                with autocast:
                    loss = _loss(
                        module, batch, idx, loss_fn, teacher, distill_weight, text_weight, device
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(module.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                total_loss += loss.detach().item()
                running = total_loss / (b + 1)
                bar.update(running, best_ap)
            valid_logits = _logits(module, tensors, valid_idx, device, batch_size * 4)
            ap = average_precision(y_valid, valid_logits)
            history.append({"epoch": epoch + 1, "loss": running, "valid_ap": ap})
            bar.update(running, ap, force=True)
            if ap > best_ap:
                best_ap, best_epoch, stale = ap, epoch + 1, 0
                best_state = copy.deepcopy(module.state_dict())
            else:
                stale += 1
                if stale >= options.patience:
                    break
        bar.close()
    seconds = time.perf_counter() - started
    module.load_state_dict(best_state)
    module.eval()
    return Epochs(history, best_epoch, seconds, params)


def _warmup_cosine(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over `warmup_fraction` of the steps, then cosine decay to zero."""
    warmup = max(1, int(warmup_fraction * total_steps))

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)


def _loss(
    module: FraudClassifier,
    batch: _Batch,
    idx: np.ndarray,
    loss_fn: nn.BCEWithLogitsLoss,
    teacher: torch.Tensor | None,
    distill_weight: float,
    text_weight: float | None,
    device: torch.device,
) -> torch.Tensor:
    """One batch's loss: the labels', blended with the teacher's soft targets, plus the text
    head's own (`text_weight`, end to end only)."""
    logits, vec = _forward(module, batch)
    logits = logits.float()
    loss: torch.Tensor = loss_fn(logits, batch.labels)
    if teacher is not None:
        soft = teacher[torch.from_numpy(idx)].to(device)
        distill = nn.functional.binary_cross_entropy_with_logits(logits, soft)
        loss = (1.0 - distill_weight) * loss + distill_weight * distill
    if text_weight is not None and vec is not None:
        text_logit = module.text_logit(vec)
        assert text_logit is not None
        loss = loss + text_weight * loss_fn(text_logit.float(), batch.labels)
    return loss
