"""The alert table tells payments apart: ids and masked accounts are cut at the front."""

from __future__ import annotations

from typing import Any

from fraudstream.alerts_cli import header, row
from fraudstream.records import mask


def alert(tx_id: str, account: str) -> dict[str, Any]:
    return {
        "score_record": {
            "score": 0.991,
            "band": "block",
            "reasons": [{"code": "narrative", "text": "memo says 'safe account'", "weight": 2.0}],
        },
        "transaction": {
            "transaction_id": tx_id,
            "account": mask(account),
            "timestamp": "2026-01-15T10:30:00Z",
            "amount": 950.0,
            "currency": "GBP",
            "merchant": "Faster Payments",
        },
    }


def test_two_alerts_of_one_long_prefix_are_told_apart() -> None:
    a = row(alert("tx-4242-000000000000017", "GB29NWBK60161331926819"))
    b = row(alert("tx-4242-000000000000018", "GB29NWBK60161331926820"))
    assert a != b
    assert "000017" in a and "000018" in b
    assert "6819" in a and "6820" in b  # the masked account's last four
    assert "Faster Payments" in a and "950.00 GBP" in a and "block" in a
    assert "memo says 'safe account'" in a
    assert len(header().split()) == 8  # seven columns and the reasons


def test_short_values_are_not_cut() -> None:
    line = row(alert("tx-1", "acc-0001"))
    assert "tx-1 " in line and "****0001" in line
