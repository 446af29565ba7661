"""What `fraudstream bench-model` times the classifier on: a model and made-up inputs.

A preset's architecture with random weights shaped like the native default model, the token
lengths of synthetic narratives, random rows with given token lengths, and their batches (in
arrival order, or bucketed by length as the optimised path serves them). Kept apart from
`model/bench.py`, which runs the two paths over them and times them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from fraudstream.model.classifier import FraudClassifier
from fraudstream.model.presets import ModelConfig, embedding_dim, get_preset

# The native feature spec's shape (13 numeric, 7 categorical): the processor's default model.
_NUMERIC = 13
_CATEGORICAL = 7
_CARDINALITY = 24


def preset_module(preset_name: str, max_length: int = 64) -> FraudClassifier:
    """The preset's architecture with random weights, shaped like the native default model."""
    from dataclasses import replace

    preset = get_preset(preset_name)
    text = replace(
        preset.text,
        max_length=max_length,
        max_position_embeddings=max(preset.text.max_position_embeddings, max_length),
    )
    cards = (_CARDINALITY,) * _CATEGORICAL
    config = ModelConfig(
        preset=preset.name,
        text=text,
        numeric_names=tuple(f"n{i}" for i in range(_NUMERIC)),
        categorical_names=tuple(f"c{i}" for i in range(_CATEGORICAL)),
        categorical_cardinalities=cards,
        categorical_dims=tuple(embedding_dim(c) for c in cards),
        meta_hidden=preset.meta_hidden,
        fusion_hidden=preset.fusion_hidden,
        dropout=preset.dropout,
        tokenizer=preset.tokenizer,
        numeric_embedding_dim=preset.numeric_embedding_dim,
        text_dropout=preset.text_dropout,
    )
    torch.manual_seed(0)
    return FraudClassifier(config).eval()


def synthetic_lengths(tokenizer: Any, preset_name: str, n: int = 4000) -> np.ndarray:
    """Token lengths ([CLS]/[SEP] included, truncated as the model would) of `n` synthetic
    narratives; without a tokenizer, one is trained on them as `fraudstream train` would."""
    from fraudstream.model.tokenizer import load_minilm_tokenizer, token_lengths, train_wordpiece
    from fraudstream.synth import SynthConfig, generate

    texts = [str(r.get("narrative") or "") for r in generate(n, SynthConfig(seed=1))]
    preset = get_preset(preset_name)
    if tokenizer is None:
        if preset.tokenizer == "minilm":
            tokenizer = load_minilm_tokenizer(max_length=preset.text.max_length)
        else:
            tokenizer = train_wordpiece(
                texts, vocab_size=preset.tokenizer_vocab_size, max_length=preset.text.max_length
            )
    trunc = tokenizer.truncation
    cap = int(trunc["max_length"]) if trunc else preset.text.max_length
    return np.minimum(token_lengths(tokenizer, texts), cap)


@dataclass
class Inputs:
    ids: torch.Tensor
    """[N, Lmax] token ids, padded with 0."""
    lengths: np.ndarray
    numeric: torch.Tensor
    categorical: torch.Tensor


def random_inputs(lengths: np.ndarray, config: ModelConfig, rng: np.random.Generator) -> Inputs:
    """Random inputs shaped for `config` (a preset's or a model folder's)."""
    assert config.text is not None
    vocab = config.text.vocab_size
    n = lengths.size
    width = int(lengths.max())
    ids = rng.integers(5, vocab, size=(n, width))
    ids[np.arange(width)[None, :] >= lengths[:, None]] = 0
    return Inputs(
        ids=torch.from_numpy(ids.astype(np.int64)),
        lengths=lengths,
        numeric=torch.from_numpy(
            rng.standard_normal((n, len(config.numeric_names))).astype(np.float32)
        ),
        categorical=torch.from_numpy(
            np.stack(
                [rng.integers(0, c, n) for c in config.categorical_cardinalities], axis=1
            ).astype(np.int64)
            if config.categorical_cardinalities
            else np.zeros((n, 0), dtype=np.int64)
        ),
    )


def make_batches(inp: Inputs, batch_size: int, bucketed: bool) -> list[tuple[torch.Tensor, ...]]:
    """(ids, mask, numeric, categorical) per batch. Bucketed: rows sorted by length, each batch
    padded to a multiple of 8 tokens; else arrival order, padded to the batch's longest."""
    n = inp.lengths.size
    order = np.argsort(inp.lengths, kind="stable") if bucketed else np.arange(n)
    out: list[tuple[torch.Tensor, ...]] = []
    for b in range(0, n - batch_size + 1, batch_size):
        rows = torch.from_numpy(order[b : b + batch_size])
        longest = int(inp.lengths[order[b : b + batch_size]].max())
        width = min(-(-longest // 8) * 8, inp.ids.shape[1]) if bucketed else longest
        ids = inp.ids[rows, :width].contiguous()
        out.append((ids, (ids != 0).long(), inp.numeric[rows], inp.categorical[rows]))
    return out
