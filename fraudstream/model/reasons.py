"""Why a transaction scored high, in words an analyst reads.

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

This module imports torch only inside `Explainer`, so that `Reason` and the wording can be used by
code that must not import torch (the stream's pure core).
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudstream.model.mcc import mcc_words

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer

    from fraudstream.model.classifier import FraudClassifier
    from fraudstream.model.preprocess import Preprocessor, RowLike


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    """Stable, machine-readable: the feature group (e.g. `account_count`, `mcc`, `narrative`)."""
    text: str
    weight: float
    """Logit points this group added to the score (occlusion); larger is stronger."""

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "text": self.text, "weight": round(self.weight, 4)}


NARRATIVE = "narrative"
PHRASE_CACHE = 10_000
"""Distinct narratives whose quoted phrases an `Explainer` keeps."""
NARRATIVE_MIN_WEIGHT = 0.5
"""Logit points the memo must add over the same payment without one to be given as a reason
(x1.65 the odds): below that, changing the memo hardly changes the score."""
_WINDOW = re.compile(r"_(\d+(?:_\d+)?[smhd])$")
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "to",
        "of",
        "for",
        "and",
        "or",
        "in",
        "on",
        "at",
        "by",
        "from",
        "with",
        "via",
        "is",
        "was",
        "be",
        "this",
        "that",
        "it",
        "your",
        "you",
        "my",
        "our",
        "me",
        "we",
        "i",
        "as",
        "per",
        "re",
        "so",
    ]
)


@dataclass(frozen=True, slots=True)
class FeatureGroup:
    code: str
    numeric: tuple[int, ...] = ()
    categorical: tuple[int, ...] = ()


def feature_groups(
    numeric_names: Sequence[str], categorical_names: Sequence[str]
) -> list[FeatureGroup]:
    """Numeric features grouped by name without their window suffix; each categorical alone."""
    by_code: dict[str, list[int]] = {}
    for j, name in enumerate(numeric_names):
        by_code.setdefault(_WINDOW.sub("", name), []).append(j)
    groups = [FeatureGroup(code, numeric=tuple(idx)) for code, idx in by_code.items()]
    groups += [FeatureGroup(name, categorical=(j,)) for j, name in enumerate(categorical_names)]
    return groups


# ---- wording ---------------------------------------------------------------------------------


def _window_words(suffix: str) -> str:
    m = re.fullmatch(r"(\d+)([smhd])", suffix)
    if not m:
        return suffix.replace("_", ".")
    n, unit = int(m.group(1)), m.group(2)
    word = {"s": "second", "m": "minute", "h": "hour", "d": "day"}[unit]
    return word if n == 1 else f"{n} {word}s"


def _duration(seconds: float) -> str:
    s = abs(seconds)
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if s >= size:
            n = round(s / size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    n = round(s)
    return f"{n} second{'s' if n != 1 else ''}"


def _num(x: float) -> str:
    if not math.isfinite(x):
        return "unknown"
    if float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.2f}"


def _words(name: str) -> str:
    return name.replace("_", " ")


def describe_numeric(name: str, value: float, usual: float, currency: str = "") -> str:
    """One feature's value in words, with its usual (training median) value where that helps;
    `currency`: the payment's, said after its amounts."""
    money = f" {currency}" if currency else ""
    if name == "amount":
        return f"amount {_num(value)}{money} (usual: {_num(usual)})"
    if name == "hour":
        return f"at {int(value) % 24:02d}h (usual: {int(usual) % 24:02d}h)"
    if name == "is_night":
        return "at night" if value >= 0.5 else "during the day"
    if name == "is_weekend":
        return "on a weekend" if value >= 0.5 else "on a weekday"
    if m := re.fullmatch(r"([a-z0-9]+)_new_([a-z0-9_]+)", name):
        field = m.group(2)
        if value < 0.5:
            return f"known {_words(field)}"
        if field == "beneficiary":
            return f"first payment to this {_words(field)}"
        return f"new {_words(field)}"
    if m := re.fullmatch(r"([a-z0-9]+)_secs_since_last", name):
        return (
            f"{_duration(value)} since the previous payment on this {m.group(1)} "
            f"(usual: {_duration(usual)})"
        )
    m = _WINDOW.search(name)
    window = _window_words(m.group(1)) if m else ""
    base = _WINDOW.sub("", name)
    if m and (mm := re.fullmatch(r"([a-z0-9]+)_(count|sum|mean)", base)):
        role, agg = mm.groups()
        last = f"in the last {window}"
        if agg == "count":
            noun = "payment" if value == 1 else "payments"
            return f"{_num(value)} {noun} on this {role} {last} (usual: {_num(usual)})"
        if agg == "sum":
            return f"{_num(value)}{money} spent on this {role} {last} (usual: {_num(usual)})"
        return f"average payment {_num(value)}{money} on this {role} {last} (usual: {_num(usual)})"
    if m and (mm := re.fullmatch(r"([a-z0-9]+)_distinct_([a-z0-9_]+)", base)):
        role, field = mm.groups()
        thing = _plural(_words(_DISTINCT_WORDS.get(field, field)), value)
        return f"{_num(value)} {thing} on this {role} in the last {window} (usual: {_num(usual)})"
    if m and (mm := re.fullmatch(r"([a-z0-9]+)_delayed_risk", base)):
        return (
            f"{value:.0%} of this {mm.group(1)}'s labelled payments over {window} were fraud "
            f"(usual: {usual:.0%})"
        )
    if m and (mm := re.fullmatch(r"([a-z0-9]+)_(max_)?amount_ratio", base)):
        role, top = mm.groups()
        what = "largest" if top else "average"
        return (
            f"amount {value:.1f}x this {role}'s {what} payment over the last {window} "
            f"(usual: {usual:.1f}x)"
        )
    if mm := re.fullmatch(r"([a-z0-9]+)_fraud_streak", name):
        noun = "label" if value == 1 else "labels"
        return f"this {mm.group(1)}'s last {_num(value)} {noun} were all fraud"
    if mm := re.fullmatch(r"([a-z0-9]+)_streak_age_s", name):
        return f"this {mm.group(1)}'s run of fraud labels began {_duration(value)} ago"
    if m and (mm := re.fullmatch(r"([a-z0-9]+)_delayed_count", base)):
        return (
            f"{_num(value)} labelled payments on this {mm.group(1)} over {window} "
            f"(usual: {_num(usual)})"
        )
    return f"{_words(name)} {_num(value)} (usual: {_num(usual)})"


_CATEGORY_WORDS = {"mcc": "merchant category", "ip_country": "IP country"}
# a distinct-count field -> what one value of it is, in words
_DISTINCT_WORDS = {"mcc": "merchant category", "ip_country": "IP country", "country": "country"}


def _plural(noun: str, n: float) -> str:
    """`"merchant", 1` -> "merchant"; `"country", 3` -> "different countries"."""
    if n == 1:
        return noun
    head, _, last = noun.rpartition(" ")
    if last.endswith("y") and last[-2:-1] not in "aeiou":
        last = last[:-1] + "ies"
    elif not last.endswith("s"):
        last += "s"
    return f"different {head + ' ' if head else ''}{last}"


def describe_categorical(name: str, value: str, known: bool) -> str:
    if name.startswith("declared_new_"):
        field = _words(name.removeprefix("declared_new_"))
        return f"declared a new {field}" if value.lower() in ("true", "1") else f"known {field}"
    if not value:
        return f"no {_words(name)}"
    rare = "" if known else " (rarely seen)"
    if name == "mcc":
        return f"merchant category: {mcc_words(value)}{rare}"
    return f"{_CATEGORY_WORDS.get(name, _words(name))} {value}{rare}"


def describe_narrative(narrative: str) -> str:
    """Stage 1's narrative reason: the memo was read before and its risk is remembered."""
    quoted = narrative if len(narrative) <= 60 else narrative[:57] + "..."
    return f"narrative '{quoted}' read as risky"


def describe_phrases(phrases: Sequence[str], narrative: str) -> str:
    if phrases:
        return "narrative mentions " + " and ".join(f"'{p}'" for p in phrases)
    if not narrative.strip():
        # The absence of a memo is itself a signal (a takeover's transfer often has none).
        return "no narrative (empty memo)"
    # No single word stands out (the tower read the narrative as a whole): quote it if short.
    if len(narrative) <= 60:
        return f"narrative '{narrative}'"
    return f"narrative '{narrative[:57]}...'"


def salient_phrases(
    narrative: str,
    word_spans: Sequence[tuple[int, int]],
    word_scores: np.ndarray,
    *,
    max_phrases: int = 2,
    relative: float = 0.5,
) -> list[str]:
    """Runs of adjacent words whose saliency is at least `relative` x the best word's.

    Stop words and punctuation are never quoted on their own: a phrase an analyst reads should
    name something ("gift card", "urgent"), and an attention sink like "the" says nothing.
    """
    scores = np.asarray(word_scores, dtype=np.float64)
    words = [narrative[a:b] for a, b in word_spans]
    eligible = np.array(
        [any(c.isalnum() for c in w) and w.lower() not in _STOPWORDS for w in words], dtype=bool
    )
    if not eligible.any():
        return []
    best = scores[eligible].max()
    if best <= 0:
        return []
    keep = eligible & (scores >= relative * best)
    runs: list[tuple[float, int, int]] = []  # (score, first word, last word)
    i = 0
    while i < len(words):
        if keep[i]:
            j = i
            while j + 1 < len(words) and keep[j + 1]:
                j += 1
            runs.append((float(scores[i : j + 1].sum()), i, j))
            i = j + 1
        else:
            i += 1
    runs.sort(key=lambda r: -r[0])
    return [narrative[word_spans[a][0] : word_spans[b][1]] for _, a, b in runs[:max_phrases]]


# ---- attribution -------------------------------------------------------------------------------


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
