"""benign_new_payee: a first payment to someone new (a landlord, a tradesman, a marketplace seller,
family abroad), sometimes a big one: what an account takeover's or a scam's new beneficiary looks
like, and legitimate."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from fraudstream.synth.entities import Payee, Persona, iban, person_name
from fraudstream.synth.rng import money, recase
from fraudstream.synth.tables.merchants import COMPANY_SUFFIX, WORDS
from fraudstream.synth.tables.narratives import BIG_PAYEE_BENIGN, DIASPORA_MEMOS, NEW_PAYEE_BENIGN
from fraudstream.synth.tables.places import DIASPORA

if TYPE_CHECKING:
    from fraudstream.synth.engine import Simulator


def payment(sim: Simulator, t: float, p: Persona) -> None:
    """A payment to a new payee (kept among the account's payees half the time)."""
    rng = sim.rng
    abroad = rng.random() < 0.15
    country = rng.choice(DIASPORA) if abroad else p.country
    if rng.random() < 0.3:
        name = f"{rng.choice(WORDS)} {rng.choice(('BUILDERS', 'PLUMBING', 'LETTINGS', 'PROPERTY', 'ELECTRICAL', 'MOTORS'))} {COMPANY_SUFFIX.get(country, 'LTD')}"
    else:
        name = " ".join(person_name(rng, country))
    payee = Payee(name, iban(rng, country), country, "new")
    if rng.random() < 0.5:
        p.payees.append(payee)
        if len(p.payees) > 12:
            del p.payees[0]
    pool: tuple[str, ...]
    if abroad:
        pool, median = DIASPORA_MEMOS, 400.0
    elif rng.random() < 0.25:  # a car, a deposit, a builder: big sums to strangers
        pool, median = BIG_PAYEE_BENIGN, 2500.0
    else:
        pool, median = NEW_PAYEE_BENIGN, 500.0
    family = None
    if not abroad and pool is NEW_PAYEE_BENIGN and rng.random() < 0.3:
        memo, family = sim.memo("purchase", 0, p.country)
    else:
        memo = recase(rng, sim.fill(rng.choice(pool), country))
    amount = money(rng, math.exp(rng.gauss(math.log(median), 0.8)) * p.level * p.fx, 0.25)
    sim.transfer(
        t,
        p,
        payee,
        max(amount, 5.0),
        memo,
        0,
        "benign_new_payee",
        sim.device(p, t),
        family=family,
    )
