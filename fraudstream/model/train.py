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
- `train.py` (here): `TrainOptions`, `TrainResult` and `fit`, which runs steps 3 to 5 in order,
  each a function of one of the next three modules;
- `train_prepare.py`: what comes before the epochs (preprocessing, tokenizer, architecture and
  initial weights, the text tower on the distinct narratives in the CPU recipe);
- `train_loop.py`: the epoch loop (step 3: rows per epoch, optimiser, schedule, early stop);
- `train_finish.py`: calibration, thresholds, text baseline, stage 1 and the figures (4 and 5);
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

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from fraudstream.model.calibration import Calibration, Method
from fraudstream.model.classifier import FraudClassifier, set_threads
from fraudstream.model.distill import _teacher
from fraudstream.model.folder import LoadedModel, resolve_device
from fraudstream.model.preprocess import Preprocessor
from fraudstream.model.presets import ModelConfig, Preset, get_preset
from fraudstream.model.text_training import Narratives
from fraudstream.model.thresholds import Thresholds
from fraudstream.model.train_batches import _tensors
from fraudstream.model.train_finish import finish
from fraudstream.model.train_loop import Sampling, train_epochs
from fraudstream.model.train_prepare import build_module, fit_text_tower, prepare
from fraudstream.model.train_setup import default_threads, seed_everything
from fraudstream.text import model_text

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
    """Train a model on `table[split.train]`, early-stopped and calibrated on `split.validation`.

    The steps, in this order (the order is part of the determinism): seeds and threads; inputs
    and architecture (`prepare`); the module (`build_module`); the text tower on the distinct
    narratives (`fit_text_tower`, CPU recipes); the training tensors; the rows per epoch and the
    stage-1 teacher; the epoch loop (`train_epochs`); calibration, thresholds and stage 1
    (`finish`)."""
    say = log or (lambda msg: print(msg, file=sys.stderr))
    preset = get_preset(init.config.preset if init is not None else options.preset)
    seed_everything(options.seed)
    set_threads(options.threads if options.threads is not None else default_threads())
    device = resolve_device(options.device)
    train_idx, valid_idx = split.train, split.validation
    texts = [model_text(n) for n in table.narratives]

    preprocessor, tokenizer, config, texts = prepare(
        table, train_idx, texts, options, preset, init, say
    )
    module = build_module(config, preset, options.seed, init, device)
    mode = text_mode(options, preset, device) if module.has_text else "none"
    narratives = Narratives.of(texts) if module.has_text else None
    features, text_info = fit_text_tower(
        module, tokenizer, narratives, table.labels, train_idx, options, preset, mode, device, say
    )
    tensors = _tensors(
        table,
        preprocessor,
        tokenizer if mode == "end_to_end" else None,
        texts,
        features=features,
        narratives=narratives,
    )

    y_valid = table.labels[valid_idx].astype(np.int64)
    sampling = Sampling.of(train_idx, table.labels, options, mode)
    teacher, distill_weight = _teacher(
        table,
        split,
        options,
        preset,
        module,
        sampling.n_neg,
        sampling.per_epoch_neg,
        sampling.pos_weight,
        say,
    )
    run = train_epochs(
        module,
        tensors,
        sampling,
        valid_idx,
        y_valid,
        options,
        preset,
        device,
        mode=mode,
        teacher=teacher,
        distill_weight=distill_weight,
        say=say,
    )

    done = finish(
        module,
        tensors,
        table,
        split,
        options,
        preprocessor=preprocessor,
        texts=texts,
        narratives=narratives,
        features=features,
        batch_size=options.batch_size or preset.batch_size,
        device=device,
        training={
            "train": {"rows": int(train_idx.size), "frauds": sampling.n_pos},
            "best_epoch": run.best_epoch,
            "epochs_run": len(run.history),
            "train_seconds": round(run.seconds, 2),
            "pos_weight": round(sampling.pos_weight, 4),
            "distill": distill_weight,
            "parameters": run.parameters,
            "text": text_info,
        },
        say=say,
    )
    return TrainResult(
        module=module.cpu(),
        config=config,
        tokenizer=tokenizer,
        preprocessor=done.preprocessor,
        calibration=done.calibration,
        thresholds=done.thresholds,
        metrics=done.metrics,
        history=run.history,
        extra_files=done.extra_files,
    )
