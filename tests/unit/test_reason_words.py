"""Reasons in words a person can act on: categories named, counts with the right grammar."""

from __future__ import annotations

import pytest

from fraudstream.model.mcc import MCC_NAMES, mcc_words
from fraudstream.model.reasons import describe_categorical, describe_numeric


@pytest.mark.parametrize(
    ("name", "value", "usual", "text"),
    [
        (
            "account_distinct_merchant_1d",
            1,
            4,
            "1 merchant on this account in the last day (usual: 4)",
        ),
        (
            "account_distinct_country_7d",
            3,
            1,
            "3 different countries on this account in the last 7 days (usual: 1)",
        ),
        (
            "card_distinct_mcc_1d",
            2,
            1,
            "2 different merchant categories on this card in the last day (usual: 1)",
        ),
        (
            "account_distinct_device_1d",
            0,
            1,
            "0 different devices on this account in the last day (usual: 1)",
        ),
    ],
)
def test_distinct_counts_read_as_english(name: str, value: float, usual: float, text: str) -> None:
    assert describe_numeric(name, value, usual) == text


def test_merchant_categories_are_named() -> None:
    assert describe_categorical("mcc", "4829", True) == "merchant category: money transfer (4829)"
    assert describe_categorical("mcc", "5999", False) == (
        "merchant category: specialty retail (5999) (rarely seen)"
    )
    assert mcc_words("0001") == "0001"  # unknown: the code, never a wrong name


def test_every_category_the_generator_writes_has_a_name() -> None:
    from fraudstream.synth import SynthConfig, generate

    codes = {r["merchant"]["mcc"] for r in generate(20_000, SynthConfig(seed=3))}
    assert codes and codes <= MCC_NAMES.keys(), sorted(codes - MCC_NAMES.keys())


def test_amounts_are_said_with_the_payments_currency() -> None:
    assert describe_numeric("amount", 950.0, 42.0, "EUR") == "amount 950 EUR (usual: 42)"
    assert describe_numeric("account_sum_1d", 1200.0, 80.0, "GBP") == (
        "1,200 GBP spent on this account in the last day (usual: 80)"
    )
    assert describe_numeric("amount", 950.0, 42.0) == "amount 950 (usual: 42)"
