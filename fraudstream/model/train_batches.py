"""The training loop's plumbing: every row's model inputs as tensors (`_Tensors`, `_tensors`),
shuffled length-bucketed batches (`_batches`), the forward pass on a batch (`_forward`), the
optimiser's parameter groups (`_param_groups`), logits and text vectors over a set of rows
(`_logits`, `_text_logits`, `_mean_text_vector`) and the progress bar (`_progress`).

Split from `train.py` so that `fit` reads as the recipe it is: nothing here chooses anything,
every choice is `fit`'s or `TrainOptions`'.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from fraudstream.model.tokenizer import encode

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from fraudstream.features.dataset import FeatureTable
    from fraudstream.model.classifier import FraudClassifier
    from fraudstream.model.preprocess import Preprocessor
    from fraudstream.model.presets import Preset
    from fraudstream.model.text_training import Narratives, TextFeatures
    from fraudstream.model.train import TrainOptions


@dataclass
class _Tensors:
    numeric: torch.Tensor
    categorical: torch.Tensor
    input_ids: torch.Tensor | None
    attention_mask: torch.Tensor | None
    labels: torch.Tensor
    lengths: np.ndarray | None
    """Real tokens per row, for length bucketing."""
    vectors: torch.Tensor | None = None
    """Precomputed text vectors of the distinct narratives (`top_layers`, `frozen`)."""
    fitted_vectors: torch.Tensor | None = None
    """The same, cross-fitted: what training rows see (`TextFeatures.fitted_vectors`)."""
    vector_index: torch.Tensor | None = None
    """Per row: its narrative's row in `vectors`."""

    def batch(self, idx: np.ndarray, device: torch.device, *, fitted: bool = False) -> _Batch:
        sel = torch.from_numpy(idx)
        ids = mask = vec = None
        table = self.fitted_vectors if fitted else self.vectors
        if table is not None and self.vector_index is not None:
            vec = table[self.vector_index[sel]].to(device)
        elif self.input_ids is not None and self.attention_mask is not None:
            mask = self.attention_mask[sel]
            # Trim to the longest narrative of this batch: attention costs grow with length.
            width = max(int(mask.sum(1).max()), 1)
            ids = self.input_ids[sel, :width].to(device)
            mask = mask[:, :width].to(device)
        return _Batch(
            ids,
            mask,
            vec,
            self.numeric[sel].to(device),
            self.categorical[sel].to(device),
            self.labels[sel].to(device),
        )


@dataclass
class _Batch:
    input_ids: torch.Tensor | None
    attention_mask: torch.Tensor | None
    text_vec: torch.Tensor | None
    numeric: torch.Tensor
    categorical: torch.Tensor
    labels: torch.Tensor


def _forward(module: FraudClassifier, b: _Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(fused logits, text vectors): the tower runs here unless its vectors were precomputed."""
    vec = b.text_vec
    if vec is None and module.has_text:
        assert b.input_ids is not None and b.attention_mask is not None
        vec = module.text_vector(b.input_ids, b.attention_mask)
    return module.forward_vectors(vec, b.numeric, b.categorical), vec


def _tensors(
    table: FeatureTable,
    pre: Preprocessor,
    tokenizer: Tokenizer | None,
    texts: Sequence[str],
    *,
    features: TextFeatures | None = None,
    narratives: Narratives | None = None,
) -> _Tensors:
    """Model inputs for every row: token ids for a tower trained in the loop (`tokenizer`), or
    the precomputed vectors of the distinct narratives (`features`, `narratives`)."""
    ids = mask = None
    if tokenizer is not None:
        # Tokenised once for all epochs, padded to the longest; batches trim the padding.
        ids_np, mask_np, _ = encode(tokenizer, texts)
        ids, mask = torch.from_numpy(ids_np), torch.from_numpy(mask_np)
    return _Tensors(
        numeric=torch.from_numpy(pre.transform_numeric(table.numeric)),
        categorical=torch.from_numpy(pre.transform_categorical(table.categorical)),
        input_ids=ids,
        attention_mask=mask,
        labels=torch.from_numpy(np.clip(table.labels, 0, 1).astype(np.float32)),
        lengths=mask.sum(1).numpy() if mask is not None else None,
        vectors=None if features is None else features.vectors,
        fitted_vectors=None if features is None else features.fitted_vectors,
        vector_index=(
            torch.from_numpy(narratives.index) if features is not None and narratives else None
        ),
    )


def _batches(
    rng: np.random.Generator, rows: np.ndarray, lengths: np.ndarray | None, batch_size: int
) -> list[np.ndarray]:
    """Shuffled batches; with narratives, rows of similar token length share a batch.

    Rows are shuffled, cut into chunks of 32 batches, sorted by length inside each chunk, batched,
    and the batches shuffled again: every batch is a random sample of its chunk's length range,
    and padding (most of the text tower's cost on short narratives) nearly vanishes.
    """
    order = rng.permutation(rows)
    if lengths is None:
        return [order[i : i + batch_size] for i in range(0, order.size, batch_size)]
    chunk = 32 * batch_size
    batches: list[np.ndarray] = []
    for c in range(0, order.size, chunk):
        part = order[c : c + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[i : i + batch_size] for i in range(0, part.size, batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def _param_groups(
    module: FraudClassifier, options: TrainOptions, preset: Preset
) -> list[dict[str, Any]]:
    """Text tower and head at their own rates; no weight decay on biases, norms or embeddings
    (decaying them only shrinks what they represent)."""
    lr = options.learning_rate or preset.learning_rate
    text_lr = options.text_learning_rate or preset.text_learning_rate
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, p in module.named_parameters():
        is_text = name.startswith("text.")
        decay = p.ndim >= 2 and "embeddings" not in name
        groups.setdefault((is_text, decay), []).append(p)
    return [
        {
            "params": params,
            "lr": text_lr if is_text else lr,
            "weight_decay": options.weight_decay if decay else 0.0,
        }
        for (is_text, decay), params in sorted(groups.items())
    ]


def _logits(
    module: FraudClassifier, tensors: _Tensors, idx: np.ndarray, device: torch.device, batch: int
) -> np.ndarray:
    module.eval()
    out: list[np.ndarray] = []
    with torch.inference_mode():
        for b in range(0, idx.size, batch):
            logits, _ = _forward(module, tensors.batch(idx[b : b + batch], device))
            out.append(logits.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def _text_logits(
    module: FraudClassifier, tensors: _Tensors, idx: np.ndarray, device: torch.device
) -> np.ndarray | None:
    """The text head's logit per row (None without a text head)."""
    if module.text_head is None:
        return None
    out: list[np.ndarray] = []
    with torch.inference_mode():
        for b in range(0, idx.size, 512):
            _, vec = _forward(module, tensors.batch(idx[b : b + 512], device))
            assert vec is not None
            logit = module.text_logit(vec)
            assert logit is not None
            out.append(logit.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def _mean_text_vector(
    module: FraudClassifier, tensors: _Tensors, idx: np.ndarray, device: torch.device
) -> list[float] | None:
    if idx.size == 0:
        return None
    idx = idx[:5000]
    total: torch.Tensor | None = None
    with torch.inference_mode():
        for b in range(0, idx.size, 512):
            _, vec = _forward(module, tensors.batch(idx[b : b + 512], device))
            assert vec is not None
            part = vec.float().sum(0)
            total = part if total is None else total + part
    assert total is not None
    return [round(float(v), 6) for v in (total / idx.size).cpu()]


class _Bar:
    """tqdm on stderr with loss and validation AP, or nothing."""

    def __init__(self, total: int, enabled: bool) -> None:
        self._bar: Any = None
        self._last = 0.0
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, file=sys.stderr, unit="step", dynamic_ncols=True)

    def update(self, loss: float, valid_ap: float, *, force: bool = False) -> None:
        if self._bar is None:
            return
        if not force:
            self._bar.update(1)
        now = time.monotonic()
        if force or now - self._last > 0.5:
            self._last = now
            ap = "-" if valid_ap < 0 else f"{valid_ap:.4f}"
            self._bar.set_postfix_str(f"loss {loss:.4f} valid AP {ap}", refresh=force)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _progress(total: int, *, enabled: bool) -> _Bar:
    return _Bar(total, enabled)
