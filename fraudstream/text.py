"""The narrative as the model reads it: one normalisation for training and serving.

Theory of operation
-------------------
Whoever types a memo controls its characters, so the text the language model reads is
normalised first, and what was removed is kept as a signal rather than silently dropped:

1. **Compatibility forms** are folded (Unicode NFKC): fullwidth `ＵＲＧＥＮＴ`, ligatures, superscripts.
2. **Hidden characters** are removed: zero-width spaces and joiners, soft hyphens, bidirectional
   controls, other format (Cf) and control (Cc) characters; tabs and newlines become spaces.
3. **Confusable letters** are folded to the Latin letters they imitate (Cyrillic `а` for `a`,
   Greek `ο` for `o`), so that `sаfe аccount` reads as `safe account`. The narratives the
   generator and the banks we know write are Latin-script; a narrative entirely in another
   script is left alone (folding it would turn words into nonsense).
4. **Combining marks** that NFKC could not compose (strike-throughs, stacked diacritics) are
   removed.
5. **Case and spacing**: lower case (the presets' tokenizers are uncased anyway) and single spaces.
6. **Numbers and references**: every run of three or more digits, and every word of five or more
   letters and digits that has both (`2k4hj7`), becomes zeros of the same length. References,
   invoice and phone numbers carry no meaning a model can learn, but they make nearly every memo
   unique; masked, "invoice 4821" and "invoice 7310" are one narrative, which the narrative
   cache then reads once. Short numbers ("20%", "2x", "ps5") stay.

`normalise` returns the text and the set of anomalies found (`hidden_characters`,
`confusable_letters`, `compatibility_forms`, `combining_marks`); the stream reports them as
reasons and flags. The function is pure and deterministic; its output for a given input is part
of a model's contract (a model folder records `text_normalisation` in its config).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

VERSION = 1
"""Bumped whenever `normalise` changes what it returns: a model trained on one version must not
be served with another (the model folder records it)."""

HIDDEN = "hidden_characters"
CONFUSABLE = "confusable_letters"
COMPATIBILITY = "compatibility_forms"
COMBINING = "combining_marks"
ANOMALIES = (HIDDEN, CONFUSABLE, COMPATIBILITY, COMBINING)

# Cyrillic and Greek letters that render like Latin ones (Unicode's confusables, the common
# subset), lower and upper case.
_CONFUSABLE_PAIRS = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d",
    "ԛ": "q", "ԝ": "w", "һ": "h", "ɡ": "g", "ɑ": "a", "ο": "o", "α": "a", "ν": "v", "ρ": "p",
    "τ": "t", "υ": "u", "ι": "i", "κ": "k", "χ": "x", "ε": "e", "А": "A", "В": "B", "Е": "E",
    "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "Х": "X", "І": "I",
    "Ј": "J", "Ѕ": "S", "Α": "A", "Β": "B", "Ε": "E", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
    "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "Ζ": "Z",
}  # fmt: skip
_CONFUSABLES = str.maketrans(_CONFUSABLE_PAIRS)
_SPACES = re.compile(r"\s+")
_LONG_NUMBER = re.compile(r"\d{3,}")
# a word of five or more letters and digits with at least one of each: a reference (2K4HJ7)
_REFERENCE = re.compile(r"(?<![a-z0-9])(?=[a-z0-9]*\d)(?=[a-z0-9]*[a-z])[a-z0-9]{5,}(?![a-z0-9])")
_LATIN_LETTER = re.compile(r"[a-zA-Z]")


@dataclass(frozen=True, slots=True)
class Normalised:
    text: str
    anomalies: frozenset[str]


def _mask_number(m: re.Match[str]) -> str:
    return "0" * len(m.group(0))


def _mask(text: str) -> str:
    return _LONG_NUMBER.sub(_mask_number, _REFERENCE.sub(_mask_number, text))


def normalise(text: str) -> Normalised:
    """The narrative as the model reads it, and what had to be removed to get there."""
    if not text:
        return Normalised("", frozenset())
    if text.isascii():  # the common case: only case, spacing and numbers to do
        return Normalised(_mask(_SPACES.sub(" ", text).strip().lower()), frozenset())
    found: set[str] = set()
    folded = unicodedata.normalize("NFKC", text)
    if folded != unicodedata.normalize("NFC", text):
        found.add(COMPATIBILITY)
    kept: list[str] = []
    for ch in folded:
        cat = unicodedata.category(ch)
        if cat == "Cf" or (cat == "Cc" and ch not in "\t\n\r"):
            found.add(HIDDEN)
            continue
        # NFKC has composed every mark that forms a letter; one left over on a Latin letter is
        # decoration (strike-through, stacked accents). Other scripts need theirs: kept.
        if cat == "Mn" and (not kept or kept[-1].isascii()):
            found.add(COMBINING)
            continue
        kept.append(ch)
    out = "".join(kept)
    if _LATIN_LETTER.search(out):
        swapped = out.translate(_CONFUSABLES)
        if swapped != out:
            found.add(CONFUSABLE)
            out = swapped
    return Normalised(_mask(_SPACES.sub(" ", out).strip().lower()), frozenset(found))


def model_text(text: str) -> str:
    """`normalise(text).text`: what the tokenizer and the narrative cache see."""
    return normalise(text).text
