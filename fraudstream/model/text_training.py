"""Fine-tuning a pretrained text tower on a CPU: its top layers, over the distinct narratives.

Theory of operation
-------------------
A stream of payments repeats its narratives: 100,000 synthetic payments hold about 4,000
distinct normalised narratives (`fraudstream/text.py` masks references and numbers), a bank's
statement descriptors far fewer per payment. What the text tower computes depends on the
narrative alone, so training works on the distinct ones:

1. **Distinct narratives** (`Narratives`): each with the number of fraudulent and legitimate
   training rows that carry it. Summing a row-level log loss over rows that share a narrative
   is the same as weighting that narrative's loss by its counts, so the text head learns
   P(fraud | narrative) exactly as if it saw every row, for the price of one pass per narrative.
2. **Lower layers once.** The word embeddings, and the bottom `layers - top` layers, stay as
   pretrained; their output for every distinct narrative is computed once and kept. The default
   (`TrainOptions.text_top_layers`) tunes all six layers above the frozen embeddings: an unseen
   word keeps its pretrained vector, while every layer adapts to the fraud task. Measured on
   held-out memo families, text head alone, two seeds (`fraudstream evaluate-text`,
   docs/model.md): ROC AUC 0.994 / 0.994 and 97% / 96% of scam memos above the 97th percentile
   of benign ones, against 0.985 / 0.984 and 85% / 84% with the top three layers only and 0.89
   with the head on the frozen tower.
3. **Top layers and a text head** are trained on those states for a few epochs (AdamW,
   `Preset.distinct_learning_rate`, `pos_weight` for the imbalance), with the plain-torch layers
   of `model/encoder.py`, which compute what transformers' `BertModel` computes, gradients
   included.
4. **Text vectors**: the tuned tower's pooled output for every distinct narrative of the table;
   the fusion model (metadata + text) then trains on them as fixed inputs (`model/train.py`), and
   the text head's logit is the narrative risk the cascade routes on.

On a GPU the whole tower can be trained end to end instead (`TrainOptions.text_training`).
Deterministic for a seed: the batch order comes from a seeded numpy generator, torch is seeded
and the caller enables deterministic algorithms.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from fraudstream.model.encoder import embed, mean_pool, run_layers

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from fraudstream.model.classifier import FraudClassifier


@dataclass
class Narratives:
    """The distinct narratives of a table (already normalised) and which row holds which."""

    texts: list[str]
    index: np.ndarray
    """Per table row: its position in `texts`."""

    @classmethod
    def of(cls, narratives: Sequence[str]) -> Narratives:
        position: dict[str, int] = {}
        index = np.fromiter(
            (position.setdefault(n, len(position)) for n in narratives),
            dtype=np.int64,
            count=len(narratives),
        )
        return cls(list(position), index)

    def counts(self, rows: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(frauds, legitimate) per distinct narrative over `rows`."""
        n = len(self.texts)
        y = labels[rows]
        pos = np.bincount(self.index[rows[y == 1]], minlength=n).astype(np.float64)
        neg = np.bincount(self.index[rows[y == 0]], minlength=n).astype(np.float64)
        return pos, neg


@dataclass(frozen=True)
class TextTrainOptions:
    top_layers: int = 2
    epochs: int = 4
    learning_rate: float = 5e-5
    head_learning_rate: float = 1e-3
    batch_size: int = 32
    weight_decay: float = 0.01
    seed: int = 0


class _States:
    """Hidden states after the frozen layers, one [length, hidden] tensor per narrative."""

    def __init__(self, states: list[torch.Tensor]) -> None:
        self.states = states
        self.lengths = np.array([s.shape[0] for s in states], dtype=np.int64)

    def batch(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [self.states[i] for i in idx]
        x = nn.utils.rnn.pad_sequence(parts, batch_first=True)
        mask = torch.zeros(x.shape[:2], dtype=torch.long)
        for j, p in enumerate(parts):
            mask[j, : p.shape[0]] = 1
        return x, mask


def _token_ids(tokenizer: Tokenizer, texts: Sequence[str]) -> list[list[int]]:
    padding = tokenizer.padding
    tokenizer.no_padding()
    try:
        return [e.ids for e in tokenizer.encode_batch(list(texts))]
    finally:
        if padding is not None:
            tokenizer.enable_padding(pad_id=padding["pad_id"], pad_token=padding["pad_token"])


def _by_length(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, order.size, batch_size)]


def _pad(ids: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(len(t) for t in ids)
    out = torch.zeros((len(ids), longest), dtype=torch.long)
    mask = torch.zeros((len(ids), longest), dtype=torch.long)
    for j, t in enumerate(ids):
        out[j, : len(t)] = torch.tensor(t, dtype=torch.long)
        mask[j, : len(t)] = 1
    return out, mask


def lower_states(
    module: FraudClassifier, tokenizer: Tokenizer, texts: Sequence[str], frozen: int
) -> _States:
    """The output of the first `frozen` layers for every text (no gradients)."""
    assert module.text is not None
    bert = module.text.bert
    ids = _token_ids(tokenizer, texts)
    lengths = np.array([len(t) for t in ids], dtype=np.int64)
    states: list[torch.Tensor | None] = [None] * len(ids)
    with torch.no_grad():
        for idx in _by_length(lengths, 256):
            tokens, mask = _pad([ids[i] for i in idx])
            x = run_layers(bert, embed(bert, tokens), mask, 0, frozen)
            for j, i in enumerate(idx):
                states[i] = x[j, : lengths[i]].clone()
    return _States([s for s in states if s is not None])


def _prefixed(log: Callable[[str], None], prefix: str, msg: str) -> None:
    log(prefix + msg)


def _trainable(module: FraudClassifier, frozen: int) -> list[nn.Parameter]:
    assert module.text is not None and module.text_head is not None
    tuned = [p for layer in module.text.bert.encoder.layer[frozen:] for p in layer.parameters()]
    return tuned + list(module.text_head.parameters())


def train_top_layers(
    module: FraudClassifier,
    tokenizer: Tokenizer,
    narratives: Narratives,
    pos: np.ndarray,
    neg: np.ndarray,
    options: TextTrainOptions,
    *,
    log: Callable[[str], None],
    states: _States | None = None,
) -> dict[str, float]:
    """Train the text tower's top layers and the text head on the distinct narratives; the
    module is modified in place. `states`: the frozen layers' output for every narrative of
    `narratives` (computed here when not given). Returns timing figures for the model card."""
    assert module.text is not None and module.text_head is not None
    bert = module.text.bert
    layers = len(bert.encoder.layer)
    top = max(0, min(options.top_layers, layers))
    frozen = layers - top
    seen = np.flatnonzero(pos + neg > 0)
    t0 = time.perf_counter()
    if states is None:
        states = lower_states(module, tokenizer, narratives.texts, frozen)
    lower_s = time.perf_counter() - t0

    for p in module.text.parameters():
        p.requires_grad_(False)
    head = module.text_head
    tuned = [p for layer in bert.encoder.layer[frozen:] for p in layer.parameters()]
    for p in (*tuned, *head.parameters()):
        p.requires_grad_(True)
    groups = [{"params": list(head.parameters()), "lr": options.head_learning_rate}]
    if tuned:
        groups.insert(0, {"params": tuned, "lr": options.learning_rate})
    optimizer = torch.optim.AdamW(groups, weight_decay=options.weight_decay)
    p_w, n_w = torch.from_numpy(pos).float(), torch.from_numpy(neg).float()
    total_pos, total_neg = float(p_w[seen].sum()), float(n_w[seen].sum())
    # The same softened weight as the fusion model's loss (see train.py): ranking, not base rate.
    pos_weight = math.sqrt(total_neg / max(total_pos, 1.0))
    norm = total_pos * pos_weight + total_neg
    rng = np.random.default_rng([options.seed, 11])
    t1 = time.perf_counter()
    for epoch in range(options.epochs):
        order = seen[rng.permutation(seen.size)]
        # length buckets inside chunks (as train.py's batches): little padding
        batches: list[np.ndarray] = []
        chunk = 16 * options.batch_size
        for c in range(0, order.size, chunk):
            part = order[c : c + chunk]
            part = part[np.argsort(states.lengths[part], kind="stable")]
            batches += [
                part[i : i + options.batch_size] for i in range(0, part.size, options.batch_size)
            ]
        total = 0.0
        for b in rng.permutation(len(batches)):
            idx = batches[b]
            x, mask = states.batch(idx)
            vec = mean_pool(run_layers(bert, x, mask, frozen, layers), mask)
            logit = head(vec).squeeze(-1)
            sel = torch.from_numpy(idx)
            # row-level log loss summed over the rows that share each narrative
            loss = (
                (
                    -(p_w[sel] * pos_weight * nn.functional.logsigmoid(logit))
                    - n_w[sel] * nn.functional.logsigmoid(-logit)
                ).sum()
                / norm
                * seen.size
                / max(idx.size, 1)
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(tuned + list(head.parameters()), 1.0)
            optimizer.step()
            total += float(loss.detach())
        log(
            f"text tower: epoch {epoch + 1}/{options.epochs}, "
            f"loss {total / max(len(batches), 1):.4f}"
        )
    for p in (*module.text.parameters(), *head.parameters()):
        p.requires_grad_(False)
    return {
        "distinct_narratives": float(seen.size),
        "lower_layers_seconds": round(lower_s, 2),
        "top_layers_seconds": round(time.perf_counter() - t1, 2),
        "top_layers": float(top),
    }


def top_vectors(
    module: FraudClassifier, states: _States, frozen: int, idx: np.ndarray, batch_size: int = 256
) -> tuple[torch.Tensor, torch.Tensor]:
    """Vectors and text logits of narratives `idx` from their frozen-layer states."""
    assert module.text is not None and module.text_head is not None
    bert = module.text.bert
    layers = len(bert.encoder.layer)
    vec = torch.zeros((idx.size, module.text.hidden_size))
    order = np.argsort(states.lengths[idx], kind="stable")
    with torch.no_grad():
        for start in range(0, idx.size, batch_size):
            part = order[start : start + batch_size]
            x, mask = states.batch(idx[part])
            vec[torch.from_numpy(part)] = mean_pool(run_layers(bert, x, mask, frozen, layers), mask)
        logits = module.text_head(vec).squeeze(-1)
    return vec, logits


@dataclass
class TextFeatures:
    vectors: torch.Tensor
    """[distinct, hidden]: what the trained tower computes (validation, serving)."""
    logits: torch.Tensor
    """[distinct]: the text head's logit, likewise."""
    fitted_vectors: torch.Tensor
    """For training rows: a narrative met in training gets the output of a tower trained
    without it (cross-fitting), so that a name the tower memorised (a merchant that had frauds)
    does not look risky to the models trained on top of it; others as `vectors`."""
    fitted_logits: torch.Tensor
    info: dict[str, float]


def train_text(
    module: FraudClassifier,
    tokenizer: Tokenizer,
    narratives: Narratives,
    pos: np.ndarray,
    neg: np.ndarray,
    options: TextTrainOptions,
    *,
    folds: int,
    log: Callable[[str], None],
) -> TextFeatures:
    """The text tower trained on every training narrative (the module, in place), and its
    features with cross-fitted ones for the training rows (`folds` >= 2; 1: no cross-fitting).

    Why cross-fit: the fusion head and stage 1 learn how much to trust the text from the
    training rows. Without it, the text of a training row comes from a tower trained on that
    very row: a statement descriptor of a merchant that had frauds then reads as risky, and the
    models downstream learn to trust names that mean nothing on new merchants (measured on a
    held-out file: card testing AP 0.62 instead of 0.92 with the tower's features uncrossed)."""
    assert module.text is not None and module.text_head is not None
    layers = len(module.text.bert.encoder.layer)
    frozen = layers - max(0, min(options.top_layers, layers))
    t0 = time.perf_counter()
    states = lower_states(module, tokenizer, narratives.texts, frozen)
    lower_s = time.perf_counter() - t0
    initial = [p.detach().clone() for p in _trainable(module, frozen)]
    n = len(narratives.texts)
    seen = pos + neg > 0
    fitted_vec = torch.zeros((n, module.text.hidden_size))
    fitted_logit = torch.zeros(n)
    t1 = time.perf_counter()
    if folds >= 2:
        fold = np.random.default_rng([options.seed, 13]).integers(0, folds, n)
        for k in range(folds):
            held = np.flatnonzero(seen & (fold == k))
            keep = np.where(fold == k, 0.0, 1.0)
            train_top_layers(
                module, tokenizer, narratives, pos * keep, neg * keep, options,
                log=functools.partial(_prefixed, log, f"fold {k + 1}/{folds}: "), states=states,
            )  # fmt: skip
            if held.size:
                v, lg = top_vectors(module, states, frozen, held)
                fitted_vec[torch.from_numpy(held)] = v
                fitted_logit[torch.from_numpy(held)] = lg
            with torch.no_grad():
                for p, p0 in zip(_trainable(module, frozen), initial, strict=True):
                    p.copy_(p0)
    folds_s = time.perf_counter() - t1
    info = train_top_layers(
        module, tokenizer, narratives, pos, neg, options, log=log, states=states
    )
    vectors, logits = top_vectors(module, states, frozen, np.arange(n))
    if folds >= 2:
        unseen = torch.from_numpy(~seen)
        fitted_vec[unseen] = vectors[unseen]
        fitted_logit[unseen] = logits[unseen]
    else:
        fitted_vec, fitted_logit = vectors, logits
    info.update(
        lower_layers_seconds=round(lower_s, 2),
        cross_fit_seconds=round(folds_s, 2),
        cross_fit_folds=float(folds if folds >= 2 else 0),
    )
    return TextFeatures(vectors, logits, fitted_vec, fitted_logit, info)


def text_vectors(
    module: FraudClassifier, tokenizer: Tokenizer, texts: Sequence[str], batch_size: int = 256
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled text vectors [N, hidden] and text-head logits [N] of the module as it is now."""
    assert module.text is not None and module.text_head is not None
    bert = module.text.bert
    ids = _token_ids(tokenizer, texts)
    lengths = np.array([len(t) for t in ids], dtype=np.int64)
    out = torch.zeros((len(ids), module.text.hidden_size))
    with torch.no_grad():
        for idx in _by_length(lengths, batch_size):
            tokens, mask = _pad([ids[i] for i in idx])
            vec = mean_pool(
                run_layers(bert, embed(bert, tokens), mask, 0, len(bert.encoder.layer)), mask
            )
            out[torch.from_numpy(idx)] = vec
        logits = module.text_head(out).squeeze(-1)
    return out, logits
