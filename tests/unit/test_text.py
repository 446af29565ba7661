"""The narrative normalisation shared by training and serving (`fraudstream/text.py`)."""

from __future__ import annotations

from fraudstream.text import (
    COMBINING,
    COMPATIBILITY,
    CONFUSABLE,
    HIDDEN,
    model_text,
    normalise,
)


def test_plain_ascii_is_lowercased_and_spaced() -> None:
    got = normalise("  Rent   for\tMARCH ")
    assert got.text == "rent for march"
    assert not got.anomalies


def test_numbers_and_references_are_masked_but_short_numbers_stay() -> None:
    assert model_text("Invoice 4821") == model_text("invoice 7310") == "invoice 0000"
    assert model_text("ref 2K4HJ7 thanks") == "ref 000000 thanks"
    assert model_text("20% off 2x ps5") == "20% off 2x ps5"
    assert model_text("call 0800 123 456") == "call 0000 000 000"


def test_hidden_characters_are_removed_and_reported() -> None:
    got = normalise("safe\u200b acc\u00adount\u202e")
    assert got.text == "safe account"
    assert HIDDEN in got.anomalies


def test_confusable_letters_fold_to_latin() -> None:
    got = normalise("s\u0430fe \u0430ccount")  # Cyrillic a
    assert got.text == "safe account"
    assert CONFUSABLE in got.anomalies


def test_a_narrative_in_another_script_is_left_alone() -> None:
    got = normalise("Перевод маме")
    assert got.text == "перевод маме"
    assert CONFUSABLE not in got.anomalies


def test_compatibility_forms_and_combining_marks() -> None:
    full = normalise("ＵＲＧＥＮＴ")
    assert full.text == "urgent" and COMPATIBILITY in full.anomalies
    struck = normalise("s\u0336a\u0336f\u0336e\u0336")
    assert struck.text == "safe" and COMBINING in struck.anomalies
    # composed accents are letters, not decoration
    assert normalise("café").text == "café" and not normalise("café").anomalies


def test_empty_and_idempotent() -> None:
    assert normalise("").text == "" and not normalise("").anomalies
    for memo in ["Safe ACCOUNT 12345", "ｍｏｖｅ\u200b ｓａｖｉｎｇｓ", "перевод 77"]:
        once = model_text(memo)
        assert model_text(once) == once
