"""What a training run sets up before its loop: seeds, threads and deterministic algorithms (the
last paragraph of `train.py`'s theory of operation), the tokenizer (`make_tokenizer`) and the
architecture (`model_config`) from a preset and the training rows.

Shared by `fit` and `text_recipes.py` (which compares text-tower recipes on the same setup).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from fraudstream.model.presets import ModelConfig, Preset, embedding_dim
from fraudstream.model.tokenizer import load_minilm_tokenizer, token_lengths, train_wordpiece
from fraudstream.text import VERSION as TEXT_NORMALISATION

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from fraudstream.model.preprocess import Preprocessor
    from fraudstream.model.train import TrainOptions


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


# ---- tokenizer and architecture ------------------------------------------------------------------


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
