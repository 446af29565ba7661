"""What the generator is asked for: `SynthConfig` and the names of the typologies it labels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fraudstream.synth.memos import MemoSplit

FRAUD_TYPOLOGIES: tuple[str, ...] = (
    "card_testing",
    "account_takeover",
    "scam",
    "quiet_scam",
    "mule",
    "compromised_merchant",
)
BENIGN_TYPOLOGIES: tuple[str, ...] = (
    "ordinary",
    "payroll",
    "benign_urgent",
    "benign_crypto",
    "benign_official",
    "benign_new_payee",
    "benign_new_device",
    "benign_travel",
    "benign_burst",
    "benign_alarming",
)

# Share of the fraudulent *records* that each typology should produce.
# `quiet_scam` is the authorised push payment whose metadata is that of the account's own
# ordinary payments: only its memo tells (what the language model is for).
DEFAULT_FRAUD_MIX: tuple[tuple[str, float], ...] = (
    ("card_testing", 0.24),
    ("account_takeover", 0.14),
    ("scam", 0.20),
    ("quiet_scam", 0.16),
    ("mule", 0.16),
    ("compromised_merchant", 0.10),
)


@dataclass(frozen=True)
class SynthConfig:
    seed: int = 0
    fraud_rate: float = 0.02
    """Approximate share of fraudulent records in the stream."""
    accounts: int = 2000
    start: datetime = datetime(2024, 3, 1, tzinfo=UTC)
    merchants: int = 800
    """Size of the merchant catalogue (obscure web shops included)."""
    employers: int = 40
    tx_per_account_day: float = 2.5
    """Mean organic records per account per day (calendar items and fraud come on top)."""
    fraud_mix: tuple[tuple[str, float], ...] = DEFAULT_FRAUD_MIX
    memo_split: MemoSplit = "train"
    """Which memo families (`synth/memos.py`) write the memos: `train` (the default: what models
    are trained on), `heldout` (wording no training file has, for evaluation) or `all`."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraud_rate <= 0.5:
            raise ValueError("fraud_rate must be within [0, 0.5]")
        if self.accounts < 20:
            raise ValueError("accounts must be at least 20")
        if self.merchants < 100:
            raise ValueError("merchants must be at least 100")
        if self.employers < 1:
            raise ValueError("employers must be at least 1")
        if not self.tx_per_account_day > 0:
            raise ValueError("tx_per_account_day must be positive")
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        names = [name for name, _ in self.fraud_mix]
        if len(set(names)) != len(names) or not set(names) <= set(FRAUD_TYPOLOGIES):
            raise ValueError(f"fraud_mix names must be distinct and among {FRAUD_TYPOLOGIES}")
        if any(w < 0 for _, w in self.fraud_mix) or sum(w for _, w in self.fraud_mix) <= 0:
            raise ValueError("fraud_mix weights must be non-negative with a positive sum")
        if self.memo_split not in ("train", "heldout", "all"):
            raise ValueError("memo_split must be 'train', 'heldout' or 'all'")
