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
   (`stage1_fit.py::fit_stage1`); its files join the folder's manifest.
6. Write the **model card** (`card.py`) and the **folder** (`train_folder.py::write_folder`).

Deterministic for a seed: python, numpy and torch are seeded, the batch order comes from a
numpy generator seeded per epoch, `torch.use_deterministic_algorithms(True)` is on while
training, and the thread count is fixed. Two runs on the same data and seed give bit-identical
weights on the same machine and thread count.

Where the code is
-----------------
- `train.py` (here): `TrainOptions`, `TrainResult` and `fit`, steps 3 to 5;
- `train_data.py`: reading the records file (`read_table`, step 1) and the split
  (`choose_split`, step 2); torch-free, shared with `fraudstream evaluate`;
- `train_setup.py`: seeds, threads and determinism, the tokenizer and the architecture;
- `train_batches.py`: tensors, batches, the forward pass, parameter groups, the progress bar;
- `distill.py`: the stage-1 teacher of `TrainOptions.distill`;
- `stage1_fit.py`: stage 1 and the cascade policy (step 5), the served validation figures;
- `card.py`: the model card (step 6);
- `train_folder.py`: `train_file`, `train_prequential`, `write_folder`, `build_default_model`.
"""

from __future__ import annotations

import contextlib
import copy
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import nn

from fraudstream.model import known_narratives
from fraudstream.model.calibration import Calibration, Method, fit_calibration
from fraudstream.model.classifier import (
    FraudClassifier,
    count_parameters,
    load_minilm_weights,
    set_threads,
)
from fraudstream.model.distill import _teacher
from fraudstream.model.folder import LoadedModel, resolve_device
from fraudstream.model.metrics import average_precision, expected_calibration_error, roc_auc
from fraudstream.model.preprocess import Preprocessor
from fraudstream.model.presets import ModelConfig, Preset, get_preset
from fraudstream.model.stage1_fit import (
    _alert_figures,
    _known_logits,
    _narrative_risk,
    _read_before,
    ap_round,
    fit_stage1,
)
from fraudstream.model.text_training import Narratives, TextFeatures, TextTrainOptions, train_text
from fraudstream.model.thresholds import Thresholds, choose_thresholds
from fraudstream.model.train_batches import (
    _batches,
    _forward,
    _logits,
    _mean_text_vector,
    _param_groups,
    _progress,
    _tensors,
    _text_logits,
)
from fraudstream.model.train_setup import (
    default_threads,
    deterministic,
    make_tokenizer,
    model_config,
    seed_everything,
)
from fraudstream.text import model_text
from fraudstream.web.drift import score_distribution

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from fraudstream.features.dataset import FeatureTable
    from fraudstream.model.train_data import TrainSplit

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
    """Stage 1 and cascade files for the folder (see `stage1_fit.py::fit_stage1`)."""


# ---- fitting -------------------------------------------------------------------------------------


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
        extra, metrics["cascade"], served = fit_stage1(
            table,
            split,
            probs,
            lm_share=options.lm_share,
            narrative_risk=risk,
            read_before=read_before,
            log=say,
        )
        extra.update(known_file)
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
