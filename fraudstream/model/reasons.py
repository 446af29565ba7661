"""Why a transaction scored high, in words an analyst reads.

What is here: `Reason` (a feature group's code, its words and its weight in logit points), the
feature groups (`feature_groups`: a statistic over all its windows, a categorical field, the
narrative), the wording of each (`describe_numeric`, `describe_categorical`, `describe_phrases`,
`describe_narrative`) and the choice of the phrases quoted from a narrative (`salient_phrases`).
Which groups and words are the reasons, the attribution on the model, is `attribution.py`
(`Explainer`); stage 1's reasons (`fraudstream.runtime.loader`) use the same wording.

This module does not import torch, so that `Reason` and the wording can be used by code that must
not import torch (the stream's pure core).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fraudstream.model.mcc import mcc_words


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
