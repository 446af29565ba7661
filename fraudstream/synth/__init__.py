"""Synthetic, labelled transactions in the native wire schema (`schemas/transaction.schema.json`).

Theory of operation
-------------------
A population of accounts with stable personas (home country and currency, usual devices, usual
merchants, spend level, employer and pay day, rent, direct debits, subscriptions, family and
friends they pay) is simulated forward in time by a discrete-event loop:

* **Organic activity** is one Poisson process for the whole population, warped by a weekly
  diurnal profile (quiet nights, lunch and evening peaks, busy Saturdays). Each arrival picks an
  account in proportion to its activity and draws one ordinary record for it: a card payment at
  one of its usual merchants (or a new one), a cash withdrawal, a transfer to someone it knows, a
  wallet top-up, and now and then something that *looks* alarming but is not (an "urgent" note to
  a friend, a crypto hobbyist's exchange top-up, a first rent to a new landlord, a tax bill, a new
  phone, a trip abroad with a big purchase, a burst of in-app purchases).
* **Calendar activity** (payroll bursts from employer accounts, rent, direct debits,
  subscriptions) is put on the event heap when the clock enters each day.
* **Fraud episodes** start at organic arrivals with a probability chosen so that the share of
  fraudulent records is `fraud_rate` on average. An episode is a generator that yields the times
  at which it wants to act; at each of them it appends records to the output. Episodes carry the
  signal where a real one does: in the narrative (scam memos), in the metadata (tiny
  card-not-present amounts, new beneficiaries abroad, foreign IP addresses) and, mostly, in the
  account's and the merchant's history (bursts, a never-seen device, fan-in then fan-out).

The invariant: records come out in non-decreasing time. Everything that wants to happen later is
on one heap keyed by time, and the loop always emits the earliest of the heap's top, the next
organic arrival and the next midnight. Memory is the personas plus one heap entry per pending
calendar item or live episode: nothing grows with the number of records generated (the sets of
known beneficiaries and devices per account are capped).

The label lives in `metadata` (`{"is_fraud": 0|1, "typology": name}`) and must never be a model
input. Same seed and config, same records, byte for byte.

How a record is made, and where the code lives
----------------------------------------------
Everything draws from one random stream (`rng.Rng`, seeded by `SynthConfig.seed`), so the output
depends on the *order* of the draws: code may move between modules, but a draw may not move
relative to another one (`tests/unit/test_synth.py` pins the output's digest).

* `config.py`: `SynthConfig`, the typology names and the default fraud mix.
* `tables/`: reference data, pure tables (countries and currencies, names, MCCs and merchant
  names, memo vocabularies, the scam memo grammar).
* `clock.py`: the weekly activity profile and the warp of the organic clock; pay days.
* `rng.py`: the random stream and its small draws (`money`, `recase`); `writer.py` fills
  templates (`fill_template`) and holds `MemoWriter`; `memos.py` is the memo catalogue.
* `entities.py` and `population.py`: merchants, payees and personas, and the `Population` built
  from them once, before the clock starts (its draws come first).
* `engine.py`: the `Simulator`, which owns the random stream, the population, the event heap and
  the output buffer. `Simulator.records` is the loop; `Simulator.record` and
  `Simulator.transfer` write a record (a transfer also keeps the account's known beneficiaries);
  `device`, `descriptor`, `memo`, `fill` and `at_hours` are the draws that need the simulator.
* `organic.py`: what an organic arrival does (`arrival`), including the legitimate look-alikes'
  dispatch (`_lookalike`); `calendar_activity.py`: rent, direct debits, subscriptions, payroll.
* `typologies/<name>.py`: one module per fraud typology (`card_testing`, `account_takeover`,
  `scam`, `quiet_scam`, `mule`, `compromised_merchant`), each an `episode(sim, t)` generator and
  its `MEAN_RECORDS`; and one per legitimate look-alike with a code path of its own
  (`benign_burst`, `benign_new_payee`, `benign_official`, `benign_urgent`). The other benign
  labels are set inside organic activity where the record turns out to look like that:
  `benign_travel` (a trip abroad), `benign_new_device` (a new phone, started by `_lookalike`),
  `benign_crypto` (exchange top-ups and transfers), `benign_alarming` (alarming memo families);
  `benign_urgent` comes from there too. A `compromised_merchant` episode writes its planned
  payments and marks the terminal, and the ordinary card payments that meet it while it is
  compromised are labelled too (`organic._card`). `payroll` is calendar activity.

Typologies are functions of the simulator rather than classes: an episode's state is its
generator's local variables, so a class would add only a constructor, and the functions read
like the simulation they describe (`sim.record(...)`, `sim.pop.victim()`).
"""

from fraudstream.synth.config import (
    BENIGN_TYPOLOGIES,
    DEFAULT_FRAUD_MIX,
    FRAUD_TYPOLOGIES,
    SynthConfig,
)
from fraudstream.synth.engine import generate, to_json_line
from fraudstream.synth.tables.scams import SCAM_TEMPLATES, scam_paraphrase_count
from fraudstream.synth.writer import MemoWriter, fill_template

__all__ = [
    "BENIGN_TYPOLOGIES",
    "DEFAULT_FRAUD_MIX",
    "FRAUD_TYPOLOGIES",
    "SCAM_TEMPLATES",
    "MemoWriter",
    "SynthConfig",
    "fill_template",
    "generate",
    "scam_paraphrase_count",
    "to_json_line",
]
