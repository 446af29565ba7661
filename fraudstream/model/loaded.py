"""The inference API over a loaded model folder: `Batch` and `LoadedModel`.

`fraudstream.model.folder.load_model` verifies a folder and returns a `LoadedModel`; this module
holds what the stream does with one: `prepare` a batch on CPU (tokens padded to the batch's
longest, scaled numeric features, category ids), then `predict`, `logits`, `text_logits`,
`explain` or `predict_explain` on the model's device. A repeated narrative's text vector can come
from the narrative cache instead of the text tower. `throughput` is a quick speed figure.
Kept apart from the folder format so that each reads on its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fraudstream.cascade import LRU
from fraudstream.model.attribution import Explainer
from fraudstream.model.calibration import Calibration
from fraudstream.model.classifier import FraudClassifier
from fraudstream.model.preprocess import Preprocessor, RowLike
from fraudstream.model.presets import ModelConfig
from fraudstream.model.reasons import Reason
from fraudstream.model.thresholds import Bands, Thresholds


@dataclass(slots=True)
class Batch:
    """Prepared inputs for one batch, on CPU (pinned when the model runs on CUDA)."""

    rows: Sequence[RowLike]
    numeric: torch.Tensor
    categorical: torch.Tensor
    input_ids: torch.Tensor | None
    attention_mask: torch.Tensor | None
    texts: list[str] | None = None
    """Each row's narrative as the model reads it (`fraudstream.text`): the narrative cache's
    keys. None: no cache lookups for this batch."""

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def num_tokens(self) -> int:
        """Padded token slots (rows x longest), what the text tower pays for."""
        return 0 if self.input_ids is None else int(self.input_ids.numel())


@dataclass
class LoadedModel:
    """A verified model folder in memory, ready to score (`fraudstream.model.folder.load_model`)."""

    config: ModelConfig
    module: FraudClassifier
    tokenizer: Any
    """`tokenizers.Tokenizer`, or None without a text tower."""
    preprocessor: Preprocessor
    calibration: Calibration
    thresholds: Thresholds
    spec: Any
    """`fraudstream.features.FeatureSpec` the stream must compute for this model."""
    card: dict[str, Any]
    version: str
    device: torch.device
    path: Path | None = None
    narrative_cache_size: int = 0
    """Distinct narratives whose text vectors are kept (0: none). The text tower's output
    depends on the normalised narrative alone, so a repeated one costs a lookup."""

    def __post_init__(self) -> None:
        self.module.eval()
        # Inference never needs parameter gradients; explain's token saliency asks for the
        # gradient of the input embeddings only.
        for p in self.module.parameters():
            p.requires_grad_(False)
        if self.module.text is not None:
            self.module.text.trace_for_inference()
        self._explainer = Explainer(
            self.module, self.preprocessor, self.tokenizer, self.device, self.model_texts
        )
        self._pad_id = 0
        self._unpadded: Any = None
        if self.tokenizer is not None:
            pad = self.tokenizer.padding
            self._pad_id = int(pad["pad_id"]) if pad else 0
            # A second instance without padding for `tokenize`: toggling padding on the shared
            # one would race with `prepare` in its worker thread.
            self._unpadded = type(self.tokenizer).from_str(self.tokenizer.to_str())
            self._unpadded.no_padding()
        self.narrative_cache: LRU[tuple[torch.Tensor, float | None]] | None = None
        if self.module.text is not None and self.narrative_cache_size > 0:
            self.narrative_cache = LRU(self.narrative_cache_size)

    def model_texts(self, narratives: Sequence[str]) -> list[str]:
        """The narratives as this model reads them (`ModelConfig.model_texts`)."""
        return self.config.model_texts(narratives)

    @property
    def threshold(self) -> float:
        """Alert when the calibrated probability is at least this."""
        return self.thresholds.alert

    @property
    def bands(self) -> Bands:
        return self.thresholds.bands

    @property
    def preset(self) -> str:
        return self.config.preset

    @property
    def has_text(self) -> bool:
        return self.module.has_text

    def tokenize(self, narratives: Sequence[str]) -> list[list[int]]:
        """Truncated, unpadded token ids, e.g. for a scheduler that batches by token budget;
        pass them to `prepare` to avoid tokenising twice."""
        if self._unpadded is None:
            return [[] for _ in narratives]
        return [e.ids for e in self._unpadded.encode_batch_fast(self.model_texts(narratives))]

    def prepare(
        self, rows: Sequence[RowLike], token_ids: Sequence[Sequence[int]] | None = None
    ) -> Batch:
        """CPU work for one batch (meant for a worker thread): tokens padded to the batch's
        longest, scaled numeric features, category ids."""
        numeric = self.preprocessor.numeric_tensor(rows)
        categorical = self.preprocessor.categorical_tensor(rows)
        input_ids = attention_mask = None
        texts = None
        if self.tokenizer is not None:
            texts = self.model_texts([r.narrative for r in rows])
            if not rows:
                ids = mask = np.zeros((0, 0), dtype=np.int64)
            elif token_ids is None:
                # With padding enabled in the tokenizer, encode_batch pads to the longest row.
                encodings = self.tokenizer.encode_batch_fast(texts)
                ids = np.array([e.ids for e in encodings], dtype=np.int64)
                mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            else:
                ids, mask = _pad(token_ids, self._pad_id)
            input_ids = torch.from_numpy(ids)
            attention_mask = torch.from_numpy(mask)
        if self.device.type == "cuda":
            # Pinned host memory lets predict's copy to the GPU run asynchronously.
            numeric, categorical = numeric.pin_memory(), categorical.pin_memory()
            if input_ids is not None and attention_mask is not None:
                input_ids, attention_mask = input_ids.pin_memory(), attention_mask.pin_memory()
        return Batch(rows, numeric, categorical, input_ids, attention_mask, texts)

    def _inputs(
        self, batch: Batch
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor, torch.Tensor]:
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(self.device, non_blocking=True)

        numeric = move(batch.numeric)
        categorical = move(batch.categorical)
        assert numeric is not None and categorical is not None
        return move(batch.input_ids), move(batch.attention_mask), numeric, categorical

    def _text_vectors(
        self, batch: Batch, ids: torch.Tensor | None, mask: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(text vectors [B, H], text-head logits [B] or None): from the narrative cache where it
        holds a row's narrative, from the tower (once per distinct narrative) elsewhere."""
        module = self.module
        if module.text is None:
            return None, None
        assert ids is not None and mask is not None
        cache = self.narrative_cache
        if cache is None or batch.texts is None:
            vec = module.text_vector(ids, mask)
            return vec, module.text_logit(vec)
        found: dict[str, tuple[torch.Tensor, float | None]] = {}
        missing: dict[str, int] = {}  # narrative -> first row that holds it
        for i, text in enumerate(batch.texts):
            if text in found or text in missing:
                cache.hits += 1  # a repeat within the batch: read once, like a cached one
                continue
            hit = cache.get(text)
            if hit is None:
                missing[text] = i
            else:
                found[text] = hit
        if missing:
            rows = torch.tensor(list(missing.values()), device=ids.device)
            sub_mask = mask[rows]
            width = max(int(sub_mask.sum(1).max()), 1)
            vec = module.text_vector(ids[rows, :width], sub_mask[:, :width])
            logit = module.text_logit(vec)
            for j, text in enumerate(missing):
                # a copy: a view would keep the whole batch's tensor alive in the cache
                entry = (vec[j].clone(), None if logit is None else float(logit[j]))
                found[text] = entry
                cache.put(text, entry)
        vectors = torch.stack([found[t][0] for t in batch.texts])
        logits = [found[t][1] for t in batch.texts]
        if any(v is None for v in logits):
            return vectors, None
        return vectors, torch.tensor(logits, dtype=torch.float32)

    def _forward(self, batch: Batch) -> tuple[torch.Tensor, tuple[Any, Any], np.ndarray | None]:
        """(fused logits, (text vectors, metadata vectors), text-head logits) for a batch."""
        ids, mask, numeric, categorical = self._inputs(batch)
        module = self.module
        with torch.inference_mode():
            autocast = (
                torch.autocast("cuda", dtype=torch.bfloat16)
                if self.device.type == "cuda"
                else contextlib.nullcontext()
            )
            with autocast:
                text_vec, text_logit = self._text_vectors(batch, ids, mask)
                meta_vec = module.meta_vector(numeric, categorical)
                if text_vec is not None and meta_vec is not None:
                    meta_vec = meta_vec.to(text_vec.dtype)
                out = module.fuse(text_vec, meta_vec)
        logits = None if text_logit is None else text_logit.float().cpu().numpy()
        return out, (text_vec, meta_vec), logits

    def logits(self, batch: Batch) -> np.ndarray:
        """Uncalibrated logits (evaluation and cascades that calibrate their own way)."""
        if len(batch) == 0:
            return np.zeros(0, dtype=np.float32)
        out, _, _ = self._forward(batch)
        result: np.ndarray = out.float().cpu().numpy()
        return result

    def text_logits(self, batch: Batch) -> np.ndarray | None:
        """The text head's logit per row: the narrative's own risk (None without a text head)."""
        if len(batch) == 0 or self.module.text_head is None:
            return None if self.module.text_head is None else np.zeros(0, dtype=np.float32)
        return self._forward(batch)[2]

    def predict(self, batch: Batch) -> np.ndarray:
        """Calibrated fraud probabilities, one per row."""
        return self.calibration.apply(self.logits(batch))

    def predict_explain(
        self, batch: Batch, threshold: float, *, top_k: int = 3
    ) -> tuple[np.ndarray, dict[int, list[Reason]], np.ndarray | None]:
        """`predict`, then reasons for the rows at or above `threshold`, in one pass: the text
        and metadata vectors of the forward pass are the explainer's starting point, so an
        alerting batch runs the text tower once more only for its narrative phrases. The third
        value is the text head's logit per row (None without one), which the cascade remembers."""
        if len(batch) == 0:
            empty = np.zeros(0, dtype=np.float64)
            return empty, {}, None if self.module.text_head is None else empty
        out, vectors, text_logits = self._forward(batch)
        probs = self.calibration.apply(out.float().cpu().numpy())
        alerts = [i for i, p in enumerate(probs) if p >= threshold]
        # CUDA scores under bf16 autocast; its vectors are not the explainer's fp32 ones.
        start = None if self.device.type == "cuda" else vectors
        reasons = self.explain(batch, alerts, top_k=top_k, vectors=start)
        return probs, dict(zip(alerts, reasons, strict=True)), text_logits

    def explain(
        self,
        batch: Batch,
        indices: Sequence[int],
        *,
        top_k: int = 3,
        vectors: tuple[torch.Tensor | None, torch.Tensor | None] | None = None,
    ) -> list[list[Reason]]:
        """Top reasons (strongest first) for the given rows of a batch. `vectors`: the batch's
        text and metadata vectors when a forward pass has computed them already."""
        idx = list(indices)
        if not idx:
            return []
        ids, mask, numeric, categorical = self._inputs(batch)
        sel = torch.tensor(idx, device=self.device)

        def pick(t: torch.Tensor | None) -> torch.Tensor | None:
            return t[sel] if t is not None else None

        return self._explainer.explain(
            [batch.rows[i] for i in idx],
            numeric[sel],
            categorical[sel],
            pick(ids),
            pick(mask),
            top_k=top_k,
            vectors=None if vectors is None else (pick(vectors[0]), pick(vectors[1])),
        )


def _pad(token_ids: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    longest = max((len(t) for t in token_ids), default=0)
    ids = np.full((len(token_ids), longest), pad_id, dtype=np.int64)
    mask = np.zeros((len(token_ids), longest), dtype=np.int64)
    for i, t in enumerate(token_ids):
        ids[i, : len(t)] = t
        mask[i, : len(t)] = 1
    return ids, mask


def throughput(
    model: LoadedModel, rows: Sequence[RowLike], *, batch_size: int = 64, seconds: float = 5.0
) -> dict[str, float]:
    """Transactions per second of `prepare` + `predict` and of `predict` alone, over `rows` in
    consecutive batches, after one warm-up pass (a quick figure; `fraudstream bench-model` is the
    full benchmark)."""
    import time

    batches = [rows[i : i + batch_size] for i in range(0, len(rows) - batch_size + 1, batch_size)]
    if not batches:
        raise ValueError(f"need at least {batch_size} rows")
    prepared = [model.prepare(b) for b in batches]
    for b in prepared:
        model.predict(b)
    results: dict[str, float] = {
        "batch_size": float(batch_size),
        "threads": torch.get_num_threads(),
    }
    for name, run in (
        ("prepare_predict_tx_s", lambda i: model.predict(model.prepare(batches[i]))),
        ("predict_tx_s", lambda i: model.predict(prepared[i])),
        ("prepare_tx_s", lambda i: model.prepare(batches[i])),
    ):
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            run(done % len(batches))
            done += 1
        results[name] = done * batch_size / (time.perf_counter() - start)
    return results
