"""Filling templates (memos, merchant names, payees) and `MemoWriter`, which writes memos the way
the generator does from a random stream of its own."""

from __future__ import annotations

import re

from fraudstream.synth import memos
from fraudstream.synth.memos import MemoSplit
from fraudstream.synth.rng import Rng, recase
from fraudstream.synth.tables.merchants import WORDS
from fraudstream.synth.tables.narratives import (
    BENIGN_STORIES,
    BENIGN_WEIGHTS,
    QUIET_STORIES,
    QUIET_WEIGHTS,
)
from fraudstream.synth.tables.places import COUNTRIES, FIRST, LAST, MON3, MONTHS, STREETS
from fraudstream.synth.tables.scams import SCAM_SLOTS, SCAM_SLOTS_LOCAL

_ANY_SLOT_RE = re.compile(r"\{([^{}]+)\}")  # also inline alternatives, {a|b}, innermost first


def fill_template(rng: Rng, template: str, country: str = "GB") -> str:
    """Fill the slots of a template (names from `country`) with `rng`'s numbers."""
    if "{" not in template:
        return template

    def slot(m: re.Match[str]) -> str:
        key = m.group(1)
        if key[0] == "n" and key[1:].isdigit():
            k = int(key[1:])
            return str(rng.randrange(10 ** (k - 1), 10**k))
        if key == "city":
            return rng.choice(COUNTRIES.get(country, COUNTRIES["GB"])[3])
        if key == "first":
            return rng.choice(FIRST.get(country, FIRST["GB"])).title()
        if key == "last":
            return rng.choice(LAST.get(country, LAST["GB"])).title()
        if key == "month":
            return rng.choice(MONTHS)
        if key == "mon":
            return rng.choice(MON3)
        if key == "year":
            return str(rng.choice((2022, 2023, 2024)))
        if key == "yy":
            return str(rng.choice((23, 24)))
        if key == "street":
            return rng.choice(STREETS)
        if key == "word":
            return rng.choice(WORDS)
        if key == "cc":
            return country if country != "GB" else "UK"
        if key == "L2":
            return chr(65 + rng.randrange(26)) + chr(65 + rng.randrange(26))
        if key in SCAM_SLOTS:
            local = SCAM_SLOTS_LOCAL.get(key, {}).get(country)
            pool = local if local is not None and rng.random() < 0.7 else SCAM_SLOTS[key]
            return fill_template(rng, rng.choice(pool), country)
        if "|" in key:
            return rng.choice(key.split("|"))
        extra = memos.HELDOUT_SLOTS.get(key) or memos.EXTRA_SLOTS.get(key)
        if extra is not None:
            return rng.choice(extra)
        return key

    text = _ANY_SLOT_RE.sub(slot, template)
    while "{" in text:  # alternatives that held slots: the inner ones were filled first
        filled = _ANY_SLOT_RE.sub(slot, text)
        if filled == text:
            break
        text = filled
    return text


class MemoWriter:
    """Memos written the way the generator writes them (its slots, its casing), from a seeded
    random stream of its own: the narrative probe's twins (`fraudstream/model/probe.py`)."""

    def __init__(self, seed: int) -> None:
        self.rng = Rng(seed)

    def write(self, family: memos.MemoFamily, country: str) -> str:
        template = self.rng.choice(family.templates)
        return recase(self.rng, fill_template(self.rng, template, country))

    def memo(self, label: int, country: str, split: MemoSplit) -> tuple[str, memos.MemoFamily]:
        """A memo of a story of this label, drawn as often as the generator tells it (quiet
        scams' stories; benign memos to friends and family), in the language an account holder
        of `country` would write it in (their own or English, as the generator does)."""
        rng = self.rng
        stories, weights = (
            (QUIET_STORIES, QUIET_WEIGHTS) if label else (BENIGN_STORIES, BENIGN_WEIGHTS)
        )
        story = rng.weighted(stories, weights)
        lang = memos.COUNTRY_LANGUAGE.get(country, "en")
        if lang != "en" and rng.random() < 0.5:
            lang = "en"
        family = rng.choice(memos.for_story(story, lang, split, label))
        return self.write(family, country), family
