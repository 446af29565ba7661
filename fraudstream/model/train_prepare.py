"""What `fit` (`train.py`) does before the epoch loop: the model's inputs and initial weights.

`prepare` fits the preprocessing statistics and category vocabularies on the training rows, a
WordPiece vocabulary on the training narratives (tiny/small) or takes MiniLM's own, and derives
the architecture (`train_setup.py::model_config`); with `--init-from` it takes the folder's
instead. `build_module` seeds torch and builds the module with `init`'s weights, MiniLM's, or
fresh ones. `fit_text_tower` trains the text tower on the distinct narratives in the CPU recipes
(`top_layers`, `frozen`: `text_training.py::train_text`); end to end, the tower learns in the
epoch loop instead (`train_loop.py`).

The order of these calls is part of training's determinism: `build_module` seeds torch right
before the module's weights are drawn, and `fit_text_tower` runs before the loop's first batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from fraudstream.model.classifier import FraudClassifier, load_minilm_weights
from fraudstream.model.preprocess import Preprocessor
from fraudstream.model.presets import ModelConfig, Preset
from fraudstream.model.text_training import Narratives, TextFeatures, TextTrainOptions, train_text
from fraudstream.model.train_setup import deterministic, make_tokenizer, model_config

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from fraudstream.features.dataset import FeatureTable
    from fraudstream.model.folder import LoadedModel
    from fraudstream.model.train import TrainOptions


def prepare(
    table: FeatureTable,
    train_idx: np.ndarray,
    texts: list[str],
    options: TrainOptions,
    preset: Preset,
    init: LoadedModel | None,
    say: Callable[[str], None],
) -> tuple[Preprocessor, Tokenizer | None, ModelConfig, list[str]]:
    """Preprocessing, tokenizer and architecture: fitted on the training rows, or `init`'s (whose
    features must be this data's). Also the narratives as the model reads them."""
    if init is not None:
        preprocessor, tokenizer, config = init.preprocessor, init.tokenizer, init.config
        if (table.numeric_names, table.categorical_names) != (
            list(config.numeric_names),
            list(config.categorical_names),
        ):
            raise ValueError("--init-from: the model's features differ from this data's")
        if config.text_normalisation == 0:
            texts = list(table.narratives)
        return preprocessor, tokenizer, config, texts
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
        say(f"tokenizer: {tokenizer.get_vocab_size()} pieces, max length {config.text.max_length}")
    else:
        say("no narratives in the training data: metadata model (no text tower)")
    return preprocessor, tokenizer, config, texts


def build_module(
    config: ModelConfig,
    preset: Preset,
    seed: int,
    init: LoadedModel | None,
    device: torch.device,
) -> FraudClassifier:
    """The module to train, seeded: `init`'s weights, MiniLM's, or fresh ones."""
    torch.manual_seed(seed)
    module = FraudClassifier(config)
    if init is not None:
        module.load_state_dict(init.module.state_dict())
        for p in module.parameters():
            p.requires_grad_(True)
    elif preset.tokenizer == "minilm" and module.has_text:
        load_minilm_weights(module)
    module.to(device)
    return module


def fit_text_tower(
    module: FraudClassifier,
    tokenizer: Tokenizer | None,
    narratives: Narratives | None,
    labels: np.ndarray,
    train_idx: np.ndarray,
    options: TrainOptions,
    preset: Preset,
    mode: str,
    device: torch.device,
    say: Callable[[str], None],
) -> tuple[TextFeatures | None, dict[str, Any]]:
    """The text tower on the distinct narratives (top_layers / frozen; None in the other
    recipes), and what the card records of the text recipe."""
    text_info: dict[str, Any] = {"recipe": mode}
    if mode not in ("top_layers", "frozen"):
        return None, text_info
    assert narratives is not None and tokenizer is not None
    pos, neg = narratives.counts(train_idx, labels)
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
    return features, text_info
