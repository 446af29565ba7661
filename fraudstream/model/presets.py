"""Model presets and the architecture config that a model folder's `config.json` holds.

A preset names a text tower (its size and where its tokenizer comes from) and the training
defaults that suit it. The architecture config (`ModelConfig`) is what the folder stores: it is
the preset plus the shapes learned from the training data (vocabulary size, numeric width,
category cardinalities), so that `load_model` can rebuild the exact module without the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from fraudstream.text import model_text

TokenizerSource = Literal["train-wordpiece", "minilm"]


@dataclass(frozen=True, slots=True)
class TextTowerConfig:
    """A BERT encoder; `vocab_size` is filled in once the tokenizer exists."""

    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_length: int
    """Tokens per narrative, [CLS] and [SEP] included; longer narratives are truncated."""
    dropout: float = 0.1
    max_position_embeddings: int = 64
    type_vocab_size: int = 1
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    text: TextTowerConfig
    tokenizer: TokenizerSource
    tokenizer_vocab_size: int
    """Target size of a trained WordPiece vocabulary (ignored for a pretrained tokenizer)."""
    learning_rate: float
    text_learning_rate: float
    """The text tower's rate; lower than the head's when it starts from pretrained weights."""
    batch_size: int
    epochs: int
    meta_hidden: int = 128
    fusion_hidden: int = 128
    dropout: float = 0.1
    numeric_embedding_dim: int = 8
    text_dropout: float = 0.5
    distinct_learning_rate: float | None = None
    """The tower's rate in the CPU recipe (`model/text_training.py`: a few epochs over the
    distinct narratives, far fewer steps than end to end over every row); None: as above."""


# Shapes chosen by measurement on a 2-core CPU at 32 tokens and batch 64 (torch 2.15, eager fp32):
# 2x128 with a 256-wide feed-forward scored ~4,700 sequences/s, 2x128 with 512 ~3,200/s, so the
# narrow feed-forward keeps tiny above the 3,000 tx/s goal with room for tokenising and the head.
PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        name="tiny",
        text=TextTowerConfig(
            hidden_size=128,
            num_layers=2,
            num_heads=4,
            intermediate_size=256,
            vocab_size=2048,
            max_length=48,
        ),
        tokenizer="train-wordpiece",
        tokenizer_vocab_size=2048,
        learning_rate=2e-3,
        text_learning_rate=5e-4,
        batch_size=128,
        epochs=12,
    ),
    "small": Preset(
        name="small",
        text=TextTowerConfig(
            hidden_size=256,
            num_layers=4,
            num_heads=4,
            intermediate_size=1024,
            vocab_size=8192,
            max_length=64,
        ),
        tokenizer="train-wordpiece",
        tokenizer_vocab_size=8192,
        learning_rate=1e-3,
        text_learning_rate=5e-4,
        batch_size=128,
        epochs=10,
    ),
    # all-MiniLM-L6-v2: shapes must match the pretrained checkpoint exactly.
    "minilm": Preset(
        name="minilm",
        text=TextTowerConfig(
            hidden_size=384,
            num_layers=6,
            num_heads=12,
            intermediate_size=1536,
            vocab_size=30522,
            max_length=64,
            max_position_embeddings=512,
            type_vocab_size=2,
        ),
        tokenizer="minilm",
        tokenizer_vocab_size=30522,
        learning_rate=1e-3,
        text_learning_rate=5e-5,
        # Measured on held-out memo families (docs/model.md): 1e-4 over 5e-5 for the same steps.
        distinct_learning_rate=1e-4,
        batch_size=64,
        epochs=6,
        meta_hidden=128,
        fusion_hidden=256,
    ),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Everything needed to rebuild the module; stored as the folder's `config.json`."""

    preset: str
    text: TextTowerConfig | None
    """None when the training data had no narrative: the model is then the metadata MLP alone."""
    numeric_names: tuple[str, ...]
    categorical_names: tuple[str, ...]
    categorical_cardinalities: tuple[int, ...]
    """Per categorical feature: known values + 1 (id 0 is the unknown bucket)."""
    categorical_dims: tuple[int, ...]
    meta_hidden: int
    fusion_hidden: int
    dropout: float
    tokenizer: TokenizerSource | None = None
    numeric_embedding_dim: int = 0
    """Width of each numeric feature's periodic embedding (0: raw scaled values only)."""
    text_dropout: float = 0.0
    """Training only: share of rows whose text vector is zeroed (modality dropout)."""
    text_head: bool = False
    """A second head on the text vector alone: the narrative's own risk (its logit), which the
    cascade routes on. False in folders written before it existed."""
    text_normalisation: int = 0
    """Version of `fraudstream.text.normalise` applied to narratives before tokenising (0: none,
    folders written before it existed)."""
    format_version: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def model_texts(self, narratives: Sequence[str]) -> list[str]:
        """The narratives as this model reads them (normalised, unless the folder predates it):
        the one rule the loaded model and the processor's side of a child process share."""
        if self.text_normalisation:
            return [model_text(n) for n in narratives]
        return list(narratives)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["text"] = asdict(self.text) if self.text is not None else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"config.json has unknown keys: {sorted(unknown)}")
        text = data.get("text")
        return cls(
            preset=str(data["preset"]),
            text=TextTowerConfig(**text) if text is not None else None,
            numeric_names=tuple(data["numeric_names"]),
            categorical_names=tuple(data["categorical_names"]),
            categorical_cardinalities=tuple(int(c) for c in data["categorical_cardinalities"]),
            categorical_dims=tuple(int(d) for d in data["categorical_dims"]),
            meta_hidden=int(data["meta_hidden"]),
            fusion_hidden=int(data["fusion_hidden"]),
            dropout=float(data["dropout"]),
            tokenizer=data.get("tokenizer"),
            numeric_embedding_dim=int(data.get("numeric_embedding_dim", 0)),
            text_dropout=float(data.get("text_dropout", 0.0)),
            text_head=bool(data.get("text_head", False)),
            text_normalisation=int(data.get("text_normalisation", 0)),
            format_version=int(data.get("format_version", 1)),
            extra=dict(data.get("extra", {})),
        )


def embedding_dim(cardinality: int) -> int:
    """fast.ai's rule of thumb, capped: wide enough to separate values, small enough not to overfit."""
    return max(2, min(16, round(1.6 * cardinality**0.56)))
