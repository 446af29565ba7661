"""The text tower's forward pass for inference, in plain torch operations.

Why: the presets' BERT towers are small (tiny: 2 layers of 128), so at the batch sizes a latency
budget allows (a few rows of a few dozen tokens) a forward pass costs Python, not arithmetic:
transformers' `BertModel` spends most of its ~1.3 ms at batch 1 in module calls, mask building
and dispatch. The same layers written out as a dozen tensor operations per layer take about
0.6 ms, and traced with `torch.jit.trace` about 0.3 ms (two-core CPU; `bench-model` and
`python -m loadtest.bench_pipeline` measure it). The result is the same function of the same
weights: `tests/unit/test_encoder.py` checks it against `BertModel` within float rounding, for
padded batches of many shapes.

Training keeps transformers' module (dropout, gradient checkpointing and the like live there);
this path serves `eval()` only. Tracing is for CPU: a traced graph holds its weights where they
were traced, and the CUDA path keeps autocast, which a trace would freeze.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

Encode = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _layer_norm(x: torch.Tensor, norm: Any) -> torch.Tensor:
    return F.layer_norm(x, (x.shape[-1],), norm.weight, norm.bias, norm.eps)


def bert_mean_pool(
    bert: Any,
    input_ids: torch.Tensor | None,
    attention_mask: torch.Tensor,
    inputs_embeds: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean of the last hidden states over real tokens: what `TextTower.forward` returns, for a
    transformers `BertModel` in eval mode (absolute positions, token type 0, GELU, no dropout)."""
    x = embed(bert, input_ids, inputs_embeds)
    x = run_layers(bert, x, attention_mask, 0, len(bert.encoder.layer))
    return mean_pool(x, attention_mask)


def embed(
    bert: Any, input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor | None = None
) -> torch.Tensor:
    """Word + position + token-type embeddings, normalised: the input of layer 0."""
    emb = bert.embeddings
    if inputs_embeds is None:
        assert input_ids is not None
        inputs_embeds = emb.word_embeddings(input_ids)
    length = inputs_embeds.shape[1]
    x = (
        inputs_embeds
        + emb.position_embeddings.weight[:length]
        + emb.token_type_embeddings.weight[0]
    )
    return _layer_norm(x, emb.LayerNorm)


def run_layers(
    bert: Any, x: torch.Tensor, attention_mask: torch.Tensor, start: int, end: int
) -> torch.Tensor:
    """Hidden states after layers `[start, end)` of `bert`, from the states before `start`.
    Training the top layers alone (`model/text_training.py`) runs the lower ones once, keeps
    their output, and calls this for the rest; gradients flow as through `BertModel`."""
    batch, length, hidden = x.shape
    heads = bert.config.num_attention_heads
    size = hidden // heads
    # True = attend; every row has at least its [CLS] token, so no row is all False (NaN).
    attend = (attention_mask > 0)[:, None, None, :]
    for layer in bert.encoder.layer[start:end]:
        att = layer.attention

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, length, heads, size).transpose(1, 2)

        q, k, v = split(att.self.query(x)), split(att.self.key(x)), split(att.self.value(x))
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=attend)
        ctx = ctx.transpose(1, 2).reshape(batch, length, hidden)
        x = _layer_norm(att.output.dense(ctx) + x, att.output.LayerNorm)
        inner = F.gelu(layer.intermediate.dense(x))
        x = _layer_norm(layer.output.dense(inner) + x, layer.output.LayerNorm)
    return x


def mean_pool(x: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over real tokens (sentence-transformers' pooling, what MiniLM was trained for)."""
    mask = attention_mask.unsqueeze(-1).to(x.dtype)
    return (x * mask).sum(1) / mask.sum(1).clamp_min(1.0)


def check_supported(bert: Any) -> str | None:
    """Why `bert_mean_pool` would not compute what `bert` computes (None: it would)."""
    config = bert.config
    if getattr(config, "hidden_act", "gelu") != "gelu":
        return f"activation {config.hidden_act!r}"
    if getattr(config, "position_embedding_type", "absolute") not in (None, "absolute"):
        return f"position embeddings {config.position_embedding_type!r}"
    if getattr(config, "is_decoder", False):
        return "a decoder"
    return None


class _MeanPool(torch.nn.Module):
    """`bert_mean_pool` as a module, so that a trace holds the weights as parameters."""

    def __init__(self, bert: Any) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return bert_mean_pool(self.bert, input_ids, attention_mask)


def traced(bert: Any) -> Encode | None:
    """`bert_mean_pool` for `bert` traced into a TorchScript graph (CPU), or None when tracing is
    not available here; callers then run the eager function, which gives the same result."""
    example_ids = torch.ones((2, 8), dtype=torch.long)
    example_mask = torch.ones((2, 8), dtype=torch.long)
    example_mask[1, 5:] = 0

    # The tracer reads every attribute of the module, `loss_function` included, on which
    # transformers warns that no loss type is set (we never train through it): not a warning
    # for the operator, at every start of every process.
    hf_log = logging.getLogger("transformers.modeling_utils")
    level = hf_log.level
    hf_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # TracerWarnings about shapes read as Python ints
            graph: Encode = torch.jit.trace(
                _MeanPool(bert), (example_ids, example_mask), check_trace=False
            )
    except Exception as exc:  # an old or a future torch without a working tracer
        log.info("text tower not traced (%s): eager inference path", exc)
        return None
    finally:
        hf_log.setLevel(level)
    return graph
