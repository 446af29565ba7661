"""The classifier: a BERT text tower over the narrative, a metadata MLP, and a fusion head.

    narrative -> BertModel -> mean pool ----------------+
                                                        +-> concat -> MLP -> logit
    numeric (robust z) + categorical embeddings -> MLP -+

The three parts are exposed separately (`text_vector`, `meta_vector`, `fuse`) because `explain`
computes the text vector once and then re-runs only the cheap metadata MLP and head with one
feature group occluded at a time. Without narratives (`config.text is None`) the text tower is
absent and the model is the metadata MLP and head alone.
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch
from torch import nn

from fraudstream.model.encoder import Encode, bert_mean_pool, check_supported, traced
from fraudstream.model.presets import ModelConfig, TextTowerConfig


def bert_config(text: TextTowerConfig) -> object:
    # transformers is imported here, not at module import: a metadata-only model never needs it.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import BertConfig

    return BertConfig(
        vocab_size=text.vocab_size,
        hidden_size=text.hidden_size,
        num_hidden_layers=text.num_layers,
        num_attention_heads=text.num_heads,
        intermediate_size=text.intermediate_size,
        hidden_dropout_prob=text.dropout,
        attention_probs_dropout_prob=text.dropout,
        max_position_embeddings=text.max_position_embeddings,
        type_vocab_size=text.type_vocab_size,
        layer_norm_eps=text.layer_norm_eps,
        pad_token_id=text.pad_token_id,
    )


class _Graph:
    """A traced text tower and the (dtype, device) of the weights it was traced with. A copy of
    the module (bench-model's bf16 copy) starts without one: the trace holds the original's
    weights."""

    def __init__(self, fn: Encode | None = None, made_for: tuple[Any, ...] | None = None) -> None:
        self.fn = fn
        self.made_for = made_for

    def __deepcopy__(self, memo: dict[int, Any]) -> _Graph:
        return _Graph()


class TextTower(nn.Module):
    def __init__(self, text: TextTowerConfig) -> None:
        super().__init__()
        from transformers import BertModel

        config: Any = bert_config(text)
        # SDPA: the fastest attention kernel on both CPU and CUDA for these short sequences.
        config._attn_implementation = "sdpa"
        self.bert = BertModel(config, add_pooling_layer=False)
        self.hidden_size = text.hidden_size

        self._graph = _Graph()
        # The inference path (`model/encoder.py`) when it computes what BertModel computes.
        self._plain = check_supported(self.bert) is None
        self.reference = False
        """True: run transformers' BertModel in eval too (bench-model's eager baseline)."""

    def forward(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if not self.training and self._plain and not self.reference:
            weight = self.bert.embeddings.word_embeddings.weight
            graph = self._graph.fn
            if (
                graph is not None
                and inputs_embeds is None
                and input_ids is not None
                and not torch.is_grad_enabled()
                and self._graph.made_for == (weight.dtype, weight.device)
            ):
                # Without the profiling executor: it re-optimises the graph as new shapes come
                # (a 46-60 ms call among the first few hundred), for no gain in the median.
                with torch.jit.optimized_execution(False):
                    return graph(input_ids, attention_mask)
            return bert_mean_pool(self.bert, input_ids, attention_mask, inputs_embeds)
        out = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds
        ).last_hidden_state
        # Mean over real tokens (sentence-transformers' pooling, what MiniLM was trained for).
        mask = attention_mask.unsqueeze(-1).to(out.dtype)
        return (out * mask).sum(1) / mask.sum(1).clamp_min(1.0)

    def train(self, mode: bool = True) -> TextTower:
        if mode:
            self._graph = _Graph()  # weights about to change: the trace would hold stale ones
        return super().train(mode)

    def trace_for_inference(self) -> bool:
        """Trace the inference path for the weights as they are now (CPU). Used only while the
        weights keep their dtype and device, never in training or under autograd."""
        weight = self.bert.embeddings.word_embeddings.weight
        if not self._plain or weight.device.type != "cpu":
            return False
        self._graph = _Graph(traced(self.bert), (weight.dtype, weight.device))
        return self._graph.fn is not None

    def word_embeddings(self, input_ids: torch.Tensor) -> torch.Tensor:
        emb: torch.Tensor = self.bert.embeddings.word_embeddings(input_ids)
        return emb


class PeriodicEmbedding(nn.Module):
    """Per-feature periodic embeddings of scaled numeric values (Gorishniy et al. 2022, "PLR
    lite"): sin/cos of learned frequencies, then a shared linear layer and ReLU.

    An MLP fed raw scalars draws smooth functions of each feature; fraud signals are often
    sharp (a count jumping from 1 to 3, an amount just under a limit), which these embeddings
    let the first layer express. They close much of the usual gap between MLPs and gradient-
    boosted trees on tabular features for a few thousand parameters.
    """

    def __init__(self, n_features: int, frequencies: int, dim: int, sigma: float = 1.0) -> None:
        super().__init__()
        self.frequencies = nn.Parameter(torch.randn(n_features, frequencies) * sigma)
        self.linear = nn.Linear(2 * frequencies, dim)
        self.out_dim = n_features * dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = 2 * math.pi * x.unsqueeze(-1) * self.frequencies  # [N, F, k]
        out: torch.Tensor = torch.relu(self.linear(torch.cat([v.sin(), v.cos()], dim=-1)))
        return out.flatten(1)


class MetadataEncoder(nn.Module):
    def __init__(
        self,
        n_numeric: int,
        cardinalities: tuple[int, ...],
        dims: tuple[int, ...],
        hidden: int,
        dropout: float,
        numeric_embedding_dim: int = 0,
    ) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(
            nn.Embedding(card, dim) for card, dim in zip(cardinalities, dims, strict=True)
        )
        self.periodic = (
            PeriodicEmbedding(n_numeric, frequencies=8, dim=numeric_embedding_dim)
            if numeric_embedding_dim and n_numeric
            else None
        )
        in_dim = n_numeric + sum(dims)
        if self.periodic is not None:
            in_dim += self.periodic.out_dim
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.LayerNorm(hidden),
        )
        self.out_dim = hidden

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        parts = [numeric]
        if self.periodic is not None:
            parts.append(self.periodic(numeric))
        parts.extend(emb(categorical[:, j]) for j, emb in enumerate(self.embeddings))
        out: torch.Tensor = self.net(torch.cat(parts, dim=1))
        return out


class FraudClassifier(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.text = TextTower(config.text) if config.text is not None else None
        n_meta = len(config.numeric_names) + len(config.categorical_names)
        self.meta = (
            MetadataEncoder(
                len(config.numeric_names),
                config.categorical_cardinalities,
                config.categorical_dims,
                config.meta_hidden,
                config.dropout,
                config.numeric_embedding_dim,
            )
            if n_meta
            else None
        )
        if self.text is None and self.meta is None:
            raise ValueError("a model needs a narrative or at least one metadata feature")
        text_dim = self.text.hidden_size if self.text is not None else 0
        meta_dim = self.meta.out_dim if self.meta is not None else 0
        self.head = nn.Sequential(
            nn.Linear(text_dim + meta_dim, config.fusion_hidden),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.fusion_hidden, 1),
        )
        # The narrative's own risk, from the text vector alone: what the cascade routes on.
        self.text_head = (
            nn.Linear(text_dim, 1) if self.text is not None and config.text_head else None
        )

    @property
    def has_text(self) -> bool:
        return self.text is not None

    def text_vector(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        assert self.text is not None, "model has no text tower"
        vec: torch.Tensor = self.text(input_ids, attention_mask, inputs_embeds)
        return vec

    def text_logit(self, text_vec: torch.Tensor) -> torch.Tensor | None:
        """The text head's logit per row (None without one)."""
        if self.text_head is None:
            return None
        out: torch.Tensor = self.text_head(text_vec.to(self.text_head.weight.dtype)).squeeze(-1)
        return out

    def meta_vector(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor | None:
        return self.meta(numeric, categorical) if self.meta is not None else None

    def fuse(self, text_vec: torch.Tensor | None, meta_vec: torch.Tensor | None) -> torch.Tensor:
        parts = [v for v in (text_vec, meta_vec) if v is not None]
        logits: torch.Tensor = self.head(torch.cat(parts, dim=1) if len(parts) > 1 else parts[0])
        return logits.squeeze(-1)

    def forward(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        numeric: torch.Tensor,
        categorical: torch.Tensor,
    ) -> torch.Tensor:
        text_vec = None
        if self.text is not None:
            assert input_ids is not None and attention_mask is not None
            text_vec = self.text_vector(input_ids, attention_mask)
        return self.forward_vectors(text_vec, numeric, categorical)

    def forward_vectors(
        self, text_vec: torch.Tensor | None, numeric: torch.Tensor, categorical: torch.Tensor
    ) -> torch.Tensor:
        """The fused logit from a text vector computed elsewhere (the narrative cache, or
        training on precomputed vectors) and the metadata."""
        if text_vec is not None and self.training and self.config.text_dropout > 0:
            # Modality dropout: hide the narrative from the head for some rows so that it
            # cannot lean on memorised narratives (a compromised merchant's name) and keeps
            # using the behaviour features, which generalise to merchants not seen in training.
            keep = torch.rand(text_vec.shape[0], 1, device=text_vec.device)
            text_vec = text_vec * (keep >= self.config.text_dropout).to(text_vec.dtype)
        # Under bf16 autocast the text vector is bf16 and the metadata path may be fp32.
        meta_vec = self.meta_vector(numeric, categorical)
        if text_vec is not None and meta_vec is not None and text_vec.dtype != meta_vec.dtype:
            meta_vec = meta_vec.to(text_vec.dtype)
        return self.fuse(text_vec, meta_vec)


def count_parameters(module: nn.Module) -> dict[str, int]:
    parts: dict[str, int] = {}
    for name, child in module.named_children():
        parts[name] = sum(p.numel() for p in child.parameters())
    parts["total"] = sum(p.numel() for p in module.parameters())
    return parts


def load_minilm_weights(model: FraudClassifier) -> None:
    """Initialise the text tower from the packaged all-MiniLM-L6-v2 checkpoint (offline)."""
    from safetensors.torch import load_file

    from fraudstream.model.tokenizer import minilm_dir

    assert model.text is not None
    state = load_file(str(minilm_dir() / "model.safetensors"))
    result = model.text.bert.load_state_dict(state, strict=False)
    # position_ids is a buffer that newer transformers no longer stores; anything else missing
    # means the preset's shapes disagree with the checkpoint, which must not pass silently.
    # The pooler (a [CLS] projection for next-sentence prediction) is not used: the tower pools
    # by mean, as sentence-transformers trained MiniLM to.
    unexpected = [
        k
        for k in result.unexpected_keys
        if not k.endswith("position_ids") and not k.startswith("pooler.")
    ]
    if result.missing_keys or unexpected:
        raise RuntimeError(
            f"all-MiniLM-L6-v2 checkpoint does not fit the minilm preset: missing "
            f"{result.missing_keys}, unexpected {unexpected}"
        )


def set_threads(threads: int | None) -> None:
    """Torch intra-op threads; None keeps torch's default (one per physical core)."""
    if threads is not None and threads > 0 and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
