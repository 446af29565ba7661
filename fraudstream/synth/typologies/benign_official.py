"""benign_official: a payment to the tax office, the council or a broker, with official-sounding
wording: what a tax or investment scam says, and legitimate."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from fraudstream.synth.entities import Payee, Persona, gov_account
from fraudstream.synth.rng import money, recase
from fraudstream.synth.tables.merchants import BROKERS
from fraudstream.synth.tables.narratives import INVEST_BENIGN, OFFICIAL_BENIGN

if TYPE_CHECKING:
    from fraudstream.synth.engine import Simulator


def payment(sim: Simulator, t: float, p: Persona) -> None:
    """A payment to an authority (with its own memo wording) or to a broker."""
    rng = sim.rng
    device = sim.device(p, t)
    u = rng.random()
    if u < 0.6:
        memo_t, payee_t, mcc = rng.choice(OFFICIAL_BENIGN.get(p.country) or OFFICIAL_BENIGN["*"])
        payee = Payee(
            sim.fill(payee_t, p.country),
            gov_account(payee_t, p.country),
            p.country,
            "gov",
        )
        amount = money(rng, math.exp(rng.gauss(math.log(600.0), 1.0)) * p.fx, 0.8)
        memo = sim.fill(memo_t, p.country)
    else:
        name, cc = rng.choice(BROKERS)
        payee = Payee(name, gov_account(name, cc), cc, "broker")
        mcc = "6211"
        amount = money(rng, math.exp(rng.gauss(math.log(300.0), 0.8)) * p.level * p.fx, 0.1)
        memo = sim.fill(rng.choice(INVEST_BENIGN), p.country)
    sim.transfer(t, p, payee, amount, recase(rng, memo), 0, "benign_official", device, mcc=mcc)
