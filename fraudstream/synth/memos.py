"""Memo families: scam and benign narratives in paraphrase families, split for training and evaluation.

Theory of operation
-------------------
A *family* is one way of telling one story: a handful of templates that share their wording
("safe account transfer per the fraud team", "moving funds to a secure account as advised"), in
one language. A *story* is what the memo is about (`safe_account`, `rent`, ...); each story is
told by several families. Every family belongs to one split:

* `train`: the generator uses it when it makes training data (the default);
* `heldout`: only in evaluation data (`SynthConfig(memo_split="heldout")`) and in the narrative
  probe (`fraudstream evaluate --probe`): wording that no model trained on `train` data has seen.
  Held-out families tell the same stories in other words, and avoid the slot lists that carry
  the training families' key phrases ("{safe_acc}", "{sec_team}"...); their own entity names
  ({platform2}) are not in any training family either.

A memo is made by picking a family of the story (in the account holder's language or in
English), one of its templates, and filling its slots (`{first}`, `{n4}`, `{bank}` ..., and
inline alternatives `{to my|into the}`) with the generator's own random numbers.

Scam stories carry label 1 wherever they are written; benign families carry 0. Benign families
marked `alarming` use the words scams use ("urgent", "police", "safe", "crypto", "tax") in a
harmless story, so that no single word separates the two.

The families themselves are data, in `synth/tables/memo_families.py`; this module looks them up
and checks them. Pure data and lookups: no randomness here (the generator draws), no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Literal

from fraudstream.synth.tables.memo_families import (
    BENIGN_FAMILIES,
    SCAM_FAMILIES,
    MemoFamily,
)

MemoSplit = Literal["train", "heldout", "all"]
LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pl", "pt")
COUNTRY_LANGUAGE = {
    "GB": "en",
    "IE": "en",
    "US": "en",
    "DE": "de",
    "FR": "fr",
    "ES": "es",
    "IT": "it",
    "NL": "nl",
    "PL": "pl",
    "PT": "pt",
}


ALL_FAMILIES: tuple[MemoFamily, ...] = SCAM_FAMILIES + BENIGN_FAMILIES

# Slot values for the held-out families only (no training family names these platforms).
HELDOUT_SLOTS: dict[str, tuple[str, ...]] = {
    "platform2": (
        "Veltrix Capital",
        "NovaYield",
        "Aurum Markets",
        "CoinSphere",
        "Zentrix AI",
        "Orbis Trade",
    ),
}
EXTRA_SLOTS: dict[str, tuple[str, ...]] = {
    "vendor": ("Microsoft", "Amazon", "Apple", "BT", "Sky", "PayPal", "Norton", "McAfee"),
}


def _included(family: MemoFamily, split: MemoSplit) -> bool:
    return split == "all" or family.split == split


@lru_cache(maxsize=64)
def families(
    *, label: int | None = None, split: MemoSplit = "all", story: str | None = None
) -> tuple[MemoFamily, ...]:
    """Families matching every given filter, in the order above (a stable order: the generator
    draws from these tuples by index)."""
    return tuple(
        f
        for f in ALL_FAMILIES
        if _included(f, split)
        and (label is None or f.label == label)
        and (story is None or f.story == story)
    )


def stories(label: int) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for f in ALL_FAMILIES:
        if f.label == label:
            seen.setdefault(f.story, None)
    return tuple(seen)


@lru_cache(maxsize=512)
def for_story(story: str, lang: str, split: MemoSplit, label: int) -> tuple[MemoFamily, ...]:
    """The story's families in `lang` (English when it has none in that language)."""
    pool = families(label=label, split=split, story=story)
    local = tuple(f for f in pool if f.lang == lang)
    return local or tuple(f for f in pool if f.lang == "en")


def by_id(family_id: str) -> MemoFamily:
    for f in ALL_FAMILIES:
        if f.id == family_id:
            return f
    raise KeyError(family_id)


_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_ANY_SLOT = re.compile(r"\{[^{}]*\}")


def _grams(template: str, n: int = 3) -> set[tuple[str, ...]]:
    """The template's word 3-grams, slots left out: what "the same wording" means here."""
    words = _WORD.findall(_ANY_SLOT.sub(" ", template.lower()))
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def check(families_: Iterable[MemoFamily] = ALL_FAMILIES) -> list[str]:
    """Problems with the catalogue (tests assert there are none): duplicate ids, a template in
    two families, a held-out template that shares three words in a row with a training one,
    a story without a held-out or a training family in English."""
    problems: list[str] = []
    seen_ids: set[str] = set()
    seen_templates: dict[str, str] = {}
    fams = list(families_)
    for f in fams:
        if f.id in seen_ids:
            problems.append(f"duplicate family id {f.id}")
        seen_ids.add(f.id)
        if f.lang not in LANGUAGES:
            problems.append(f"{f.id}: unknown language {f.lang}")
        for t in f.templates:
            key = t.lower()
            if key in seen_templates and seen_templates[key] != f.id:
                problems.append(f"template {t!r} in {seen_templates[key]} and {f.id}")
            seen_templates.setdefault(key, f.id)
    train_grams = {
        g: f.id for f in fams if f.split == "train" for t in f.templates for g in _grams(t)
    }
    for f in fams:
        if f.split == "heldout":
            for t in f.templates:
                for g in _grams(t):
                    if g in train_grams:
                        problems.append(
                            f"{f.id} shares {' '.join(g)!r} with training family {train_grams[g]}"
                        )
    for label in (0, 1):
        for story in {f.story for f in fams if f.label == label}:
            en = [f for f in fams if f.label == label and f.story == story and f.lang == "en"]
            if not any(f.split == "train" for f in en):
                problems.append(f"story {story}: no English training family")
            if not any(f.split == "heldout" for f in en):
                problems.append(f"story {story}: no English held-out family")
    return problems
