"""Wire records: the checks on text a person reads (the schema's `$defs/text`).

A length limit always; strict, also no control, zero-width or bidi characters (Trojan-source style
tricks) and no word mixing Latin with Greek or Cyrillic letters (homoglyph spoofing).
"""

from __future__ import annotations

import re

from fraudstream.records_json import DecodeError

# Characters refused in text a person reads (see $defs/text in the schema): control characters
# but tab and newline, zero-width and bidi controls (Trojan-source style tricks).
_BAD_TEXT_CHARS = re.compile(
    "[\u0000-\u0008\u000b-\u001f\u007f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
# A word mixing Latin with Greek or Cyrillic letters: homoglyph spoofing ("Pаypal").
_MIXED_SCRIPT = re.compile("[A-Za-z][^\\s]*[\u0370-\u04ff]|[\u0370-\u04ff][^\\s]*[A-Za-z]")
_NON_ASCII = re.compile("[^\x00-\x7f]")


def check_text(value: str, field: str, max_len: int, *, strict: bool = True) -> DecodeError | None:
    """The schema's `$defs/text`. Not strict (the processor's default): only the length; hidden
    characters and homoglyphs are then the model's to read through (`fraudstream/text.py`
    normalises them away and reports them as flags), not a way to skip screening."""
    if len(value) > max_len:
        return DecodeError("bad_value", f"longer than {max_len} characters", field)
    if not strict:
        return None
    if value.isascii():
        if not value.isprintable() and _BAD_TEXT_CHARS.search(value):
            return DecodeError("bad_value", "contains control characters", field)
        return None
    bad = _BAD_TEXT_CHARS.search(value)
    if bad:
        return DecodeError(
            "bad_value",
            f"contains the invisible or control character U+{ord(bad.group()):04X}",
            field,
        )
    if _MIXED_SCRIPT.search(value):
        return DecodeError(
            "bad_value", "a word mixes Latin with Greek or Cyrillic letters (homoglyphs)", field
        )
    return None
