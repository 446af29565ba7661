"""The text tower's inference path (`model/encoder.py`) against transformers' BertModel."""

from __future__ import annotations

import copy

import pytest
import torch

from fraudstream.model.classifier import TextTower
from fraudstream.model.encoder import bert_mean_pool, check_supported
from fraudstream.model.presets import PRESETS


def _tower(seed: int = 0) -> TextTower:
    torch.manual_seed(seed)
    tower = TextTower(PRESETS["tiny"].text)  # type: ignore[arg-type]
    # Random weights everywhere, LayerNorms included, so no term can hide behind a 1 or a 0.
    with torch.no_grad():
        for p in tower.parameters():
            p.normal_(0.0, 0.2)
    return tower.eval()


def _reference(tower: TextTower, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """What the tower computes through transformers (its training path), mean-pooled."""
    out = tower.bert(input_ids=ids, attention_mask=mask).last_hidden_state
    m = mask.unsqueeze(-1).to(out.dtype)
    return (out * m).sum(1) / m.sum(1).clamp_min(1.0)


def _padded(batch: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 2000, (batch, length), generator=g)
    lengths = torch.randint(1, length + 1, (batch,), generator=g)
    lengths[0] = length  # one row fills the batch, as the longest row always does
    mask = (torch.arange(length)[None, :] < lengths[:, None]).long()
    return ids * mask, mask


SHAPES = [(1, 1), (1, 12), (3, 7), (8, 24), (17, 40)]


@pytest.mark.parametrize(("batch", "length"), SHAPES)
def test_plain_forward_computes_what_bert_computes(batch: int, length: int) -> None:
    tower = _tower()
    assert check_supported(tower.bert) is None
    ids, mask = _padded(batch, length, seed=batch * 100 + length)
    with torch.no_grad():
        want = _reference(tower, ids, mask)
        got = bert_mean_pool(tower.bert, ids, mask)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_traced_path_serves_every_shape_and_only_in_eval() -> None:
    tower = _tower(seed=1)
    assert tower.trace_for_inference()  # traced at one shape (2 x 8) ...
    for batch, length in SHAPES:  # ... right at every other
        ids, mask = _padded(batch, length, seed=length)
        with torch.inference_mode():
            torch.testing.assert_close(
                tower(ids, mask), _reference(tower, ids, mask), rtol=1e-5, atol=1e-5
            )
    assert tower._graph.fn is not None
    # a copy (bench-model's bf16 copy) does not inherit a trace of the original's weights
    assert copy.deepcopy(tower)._graph.fn is None
    tower.train()
    assert tower._graph.fn is None  # training changes the weights: the trace is dropped


def test_gradients_flow_through_the_plain_path() -> None:
    """Explain's narrative phrases need d(score)/d(embeddings) through the inference path."""
    tower = _tower(seed=2)
    tower.trace_for_inference()
    ids, mask = _padded(2, 9, seed=3)
    mask[1, 5:] = 0
    emb = tower.word_embeddings(ids).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(tower(None, mask, inputs_embeds=emb).sum(), emb)
    ref_emb = emb.detach().clone().requires_grad_(True)
    out = tower.bert(inputs_embeds=ref_emb, attention_mask=mask).last_hidden_state
    m = mask.unsqueeze(-1).to(out.dtype)
    (want,) = torch.autograd.grad(((out * m).sum(1) / m.sum(1)).sum(), ref_emb)
    torch.testing.assert_close(grad, want, rtol=1e-4, atol=1e-5)
    assert grad[1, mask[1] == 0].abs().max() == 0  # padding has no say
