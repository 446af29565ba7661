"""Fraud typologies, one module each, and the legitimate look-alikes that have code of their own.

A fraud typology module has `episode(sim, t)`, a generator started at an organic arrival
(`Simulator.start_fraud`): it picks its victim, merchant or mule, then yields the times at which
it acts and writes its records through the simulator at each of them. `MEAN_RECORDS` is its mean
number of records, which calibrates how often episodes start. The look-alikes (`benign_*.py`) are
started by `organic._lookalike`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fraudstream.synth.typologies import (
    account_takeover,
    card_testing,
    compromised_merchant,
    mule,
    quiet_scam,
    scam,
)

if TYPE_CHECKING:
    from fraudstream.synth.engine import Episode, Simulator

EPISODES: dict[str, Callable[[Simulator, float], Episode]] = {
    "card_testing": card_testing.episode,
    "account_takeover": account_takeover.episode,
    "scam": scam.episode,
    "quiet_scam": quiet_scam.episode,
    "mule": mule.episode,
    "compromised_merchant": compromised_merchant.episode,
}
"""Each fraud typology's episode, by name (the names of `FRAUD_TYPOLOGIES`)."""

MEAN_RECORDS: dict[str, float] = {
    "card_testing": card_testing.MEAN_RECORDS,
    "account_takeover": account_takeover.MEAN_RECORDS,
    "scam": scam.MEAN_RECORDS,
    "quiet_scam": quiet_scam.MEAN_RECORDS,
    "mule": mule.MEAN_RECORDS,
    "compromised_merchant": compromised_merchant.MEAN_RECORDS,
}
"""Mean records per episode of each fraud typology (used to calibrate the fraud rate)."""
