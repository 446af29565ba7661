"""Which feature groups and narrative words made a transaction score high (`Explainer`).

Theory of operation
-------------------
Two cheap attributions, both computed only for the rows that alert:

1. **Occlusion over feature groups on the fusion head.** A group is one statistic of one entity
   over all its windows (`account_count_1h` and `account_count_1d` form `account_count`), one
   categorical field, or the narrative. The text tower runs once; then, for every group, the
   group's inputs are replaced by a typical value (numeric: the training median, i.e. 0 after
   scaling; categorical: the most frequent training value) and only the metadata MLP and the
   head run again, all groups of all rows in one batched call. A group's weight is how much the
   logit drops without it. The narrative is measured against **the same payment without a
   memo** (the empty narrative's text vector): it is a reason only where the memo itself raised
   the score, by at least `NARRATIVE_MIN_WEIGHT` logit points. A statement descriptor that
   scores like no memo at all is never quoted as a reason.
2. **Gradient x input over narrative tokens**, only for rows where the narrative is among the top
   reasons: one forward and backward pass through the text tower gives each token's saliency,
   summed per word; the strongest adjacent words form the phrase that is quoted. The saliency is
   that of the text head's logit (the narrative's own risk) where the model has a text head:
   it depends on the narrative alone, so the phrases of a narrative are computed once and kept
   (`PHRASE_CACHE`, least recently used first out), and a memo seen before costs no backward
   pass. Without a text head, of the fused logit, per row.

Reasons are the groups that pushed the score up, strongest first; weights are logit points.

The words come from `reasons.py` (`Reason`, `describe_*`, `salient_phrases`), which stays
torch-free for the stream's pure core; this module imports torch only inside `Explainer` as well.
`fraudstream.model.loaded.LoadedModel.explain` is the way in.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from fraudstream.model.reasons import (
    NARRATIVE,
    NARRATIVE_MIN_WEIGHT,
    FeatureGroup,
    Reason,
    describe_categorical,
    describe_numeric,
    describe_phrases,
    feature_groups,
    salient_phrases,
)

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer

    from fraudstream.model.classifier import FraudClassifier
    from fraudstream.model.preprocess import Preprocessor, RowLike

PHRASE_CACHE = 10_000
"""Distinct narratives whose quoted phrases an `Explainer` keeps."""


class Explainer:
    """Occlusion + token saliency for a loaded model (see the module docstring)."""

    def __init__(
        self,
        module: FraudClassifier,
        preprocessor: Preprocessor,
        tokenizer: Tokenizer | None,
        device: torch.device,
        model_texts: Callable[[Sequence[str]], list[str]] = list,
        phrase_cache: int = PHRASE_CACHE,
    ) -> None:
        import torch

        self.module = module
        self.phrase_cache = phrase_cache
        self._phrases_of: OrderedDict[str, list[str]] = OrderedDict()
        self.pre = preprocessor
        self.tokenizer = tokenizer
        self.device = device
        self.model_texts = model_texts
        """The narratives as the model reads them (normalised); phrases are quoted from these."""
        self.groups = feature_groups(preprocessor.numeric_names, preprocessor.categorical_names)
        # Occluded categorical = the most frequent training value (id 1), or unknown if none.
        self.typical_category = torch.tensor(
            [1 if vocab else 0 for vocab in preprocessor.vocabs], dtype=torch.long, device=device
        )
        self.text_baseline: torch.Tensor | None = None
        if module.has_text:
            self.text_baseline = self._text_baseline()

    def _text_baseline(self) -> torch.Tensor:
        """The text vector of the empty narrative: the same payment without a memo. (Folders
        also store the mean vector of legitimate narratives, `Preprocessor.text_baseline`; an
        average of memos is no payment's memo, so a reason measured against it could name a
        memo that does not move the score.)"""
        import torch

        assert self.tokenizer is not None
        enc = self.tokenizer.encode("")
        ids = torch.tensor([enc.ids], device=self.device)
        with torch.inference_mode():
            return self.module.text_vector(ids, torch.ones_like(ids))[0].clone()

    def explain(
        self,
        rows: Sequence[RowLike],
        numeric: torch.Tensor,
        categorical: torch.Tensor,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        *,
        top_k: int = 3,
        vectors: tuple[torch.Tensor | None, torch.Tensor | None] | None = None,
    ) -> list[list[Reason]]:
        """Reasons for `rows`; the tensors are their prepared inputs (already on the device).
        `vectors`: their text and metadata vectors when the caller has them already (from the
        forward pass that scored them), so that the text tower does not run again."""
        import torch

        k = len(rows)
        if k == 0:
            return []
        module = self.module
        with torch.inference_mode():
            if vectors is not None:
                text_vec, meta_vec = vectors
            else:
                text_vec = (
                    module.text_vector(input_ids, attention_mask)
                    if module.has_text and input_ids is not None and attention_mask is not None
                    else None
                )
                meta_vec = module.meta_vector(numeric, categorical)
            full = module.fuse(text_vec, meta_vec)
            contributions: list[torch.Tensor] = []  # one [k] per group, in `codes` order
            codes: list[str] = []
            if self.groups:
                g = len(self.groups)
                num = numeric.repeat(g, 1)
                cat = categorical.repeat(g, 1)
                for i, group in enumerate(self.groups):
                    rows_i = slice(i * k, (i + 1) * k)
                    for j in group.numeric:
                        num[rows_i, j] = 0.0  # the training median
                    for j in group.categorical:
                        cat[rows_i, j] = self.typical_category[j]
                occ_meta = module.meta_vector(num, cat)
                occ_text = text_vec.repeat(g, 1) if text_vec is not None else None
                occluded = module.fuse(occ_text, occ_meta).view(g, k)
                contributions.extend(full - occluded)
                codes.extend(group.code for group in self.groups)
            if text_vec is not None and self.text_baseline is not None:
                base = self.text_baseline.to(text_vec.dtype).expand(k, -1)
                contributions.append(full - module.fuse(base, meta_vec))
                codes.append(NARRATIVE)
            weights = torch.stack(contributions, dim=1).float().cpu().numpy()  # [k, groups]

        chosen: list[list[tuple[str, float]]] = []
        for r in range(k):
            order = np.argsort(-weights[r], kind="stable")
            picks = [
                (codes[c], float(weights[r, c]))
                for c in order
                if weights[r, c] > (NARRATIVE_MIN_WEIGHT if codes[c] == NARRATIVE else 0.0)
            ]
            chosen.append(picks[:top_k])

        need_text = [r for r in range(k) if any(code == NARRATIVE for code, _ in chosen[r])]
        phrases = self._phrases(rows, need_text, meta_vec) if need_text else {}

        by_code = {group.code: group for group in self.groups}
        numeric_np = numeric.float().cpu().numpy()
        cat_np = categorical.cpu().numpy()
        out: list[list[Reason]] = []
        for r, picks in enumerate(chosen):
            reasons = []
            for code, w in picks:
                if code == NARRATIVE:
                    text = describe_phrases(phrases.get(r, []), rows[r].narrative)
                else:
                    text = self._describe_group(by_code[code], rows[r], numeric_np[r], cat_np[r])
                reasons.append(Reason(code, text, w))
            out.append(reasons)
        return out

    def _describe_group(
        self, group: FeatureGroup, row: RowLike, scaled: np.ndarray, cat_ids: np.ndarray
    ) -> str:
        if group.categorical:
            j = group.categorical[0]
            return describe_categorical(
                self.pre.categorical_names[j], str(row.categorical[j]), bool(cat_ids[j])
            )
        # Quote the member (window) that is furthest from usual.
        j = max(group.numeric, key=lambda i: abs(float(scaled[i])))
        names = self.pre.categorical_names
        currency = str(row.categorical[names.index("currency")]) if "currency" in names else ""
        return describe_numeric(
            self.pre.numeric_names[j],
            float(row.numeric[j]),
            float(self.pre.raw_medians[j]),
            currency,
        )

    def _phrases(
        self, rows: Sequence[RowLike], which: list[int], meta_vec: torch.Tensor | None
    ) -> dict[int, list[str]]:
        """Gradient x input on the word embeddings, for the rows in `which` only (see the
        module docstring: per narrative and cached where the model has a text head)."""
        narratives = self.model_texts([rows[r].narrative for r in which])
        if self.module.text_head is None:
            meta = meta_vec[which] if meta_vec is not None else None
            return dict(zip(which, self._saliency(narratives, meta, fused=True), strict=True))
        if self.phrase_cache <= 0:
            return dict(zip(which, self._saliency(narratives, None), strict=True))
        cache = self._phrases_of
        missing = [t for t in dict.fromkeys(narratives) if t not in cache]
        if missing:
            for text, phrases in zip(missing, self._saliency(missing, None), strict=True):
                cache[text] = phrases
                if len(cache) > self.phrase_cache:
                    cache.popitem(last=False)
        out: dict[int, list[str]] = {}
        for r, text in zip(which, narratives, strict=True):
            kept = cache.get(text)
            if kept is None:  # evicted by this very batch (a cache smaller than it)
                kept = self._saliency([text], None)[0]
            else:
                cache.move_to_end(text)
            out[r] = kept
        return out

    def _saliency(
        self, narratives: list[str], meta: torch.Tensor | None, *, fused: bool = False
    ) -> list[list[str]]:
        """The phrases of each narrative: of the text head's logit, or (`fused`) of the fused
        logit with these metadata vectors."""
        import torch

        assert self.tokenizer is not None and self.module.text is not None
        # Re-encoded here (a handful of rows) to get word ids and offsets that the hot-path
        # batch does not carry.
        encodings = self.tokenizer.encode_batch(narratives)
        ids = torch.tensor([e.ids for e in encodings], device=self.device)
        mask = torch.tensor([e.attention_mask for e in encodings], device=self.device)
        with torch.enable_grad():
            emb = self.module.text.word_embeddings(ids).detach().requires_grad_(True)
            vec = self.module.text_vector(None, mask, inputs_embeds=emb)
            if fused:
                logits = self.module.fuse(vec, None if meta is None else meta.clone())
            else:
                assert self.module.text_head is not None
                logits = self.module.text_head(vec.to(self.module.text_head.weight.dtype))
            (grad,) = torch.autograd.grad(logits.sum(), emb)
        saliency = (grad * emb.detach()).sum(-1).float().cpu().numpy()  # [n, L]
        out: list[list[str]] = []
        for n, enc in enumerate(encodings):
            spans: dict[int, list[int]] = {}
            scores: dict[int, float] = {}
            for t, word in enumerate(enc.word_ids):
                if word is None:
                    continue
                a, b = enc.offsets[t]
                span = spans.setdefault(word, [a, b])
                span[0], span[1] = min(span[0], a), max(span[1], b)
                scores[word] = scores.get(word, 0.0) + float(saliency[n, t])
            words = sorted(spans)
            out.append(
                salient_phrases(
                    narratives[n],
                    [(spans[w][0], spans[w][1]) for w in words],
                    np.array([scores[w] for w in words]),
                )
            )
        return out
