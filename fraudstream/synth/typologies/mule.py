"""mule: an account of this bank that launders money: many payments in, then out again.

Signal: fan-in from many accounts (each sender's record is labelled too), then fan-out within hours
to new beneficiaries, exchanges and cash machines, sometimes from a handler's device."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from fraudstream.synth.entities import Payee, hex_id, payee_abroad
from fraudstream.synth.rng import money, recase
from fraudstream.synth.tables.merchants import ATM, ATM_BANKS, CRYPTO_EXCHANGES
from fraudstream.synth.tables.narratives import MULE_IN, MULE_OUT
from fraudstream.synth.tables.places import COUNTRIES, FRAUD_CP, FRAUD_IP

if TYPE_CHECKING:
    from fraudstream.synth.engine import Episode, Simulator


MEAN_RECORDS = 6.0 + 3.5
"""Mean records per episode (calibrates the fraud rate): 3 to 9 payments in (6 on average), then
2 to 5 out (3.5)."""


def episode(sim: Simulator, t: float) -> Episode:
    """Money in from many accounts, then out again within hours to new beneficiaries."""
    rng = sim.rng
    mule = rng.choice(sim.pop.mules)
    me = Payee(mule.name, mule.id, mule.country, "mule")
    received = 0.0  # in EUR
    for _ in range(rng.randint(3, 9)):
        t += rng.expovariate(1 / 2400.0)
        yield t
        sender = sim.pop.victim()
        eur = math.exp(rng.gauss(math.log(350.0), 0.7))
        received += eur
        memo = sim.fill(rng.choice(MULE_IN), mule.country)
        sim.transfer(
            t,
            sender,
            me,
            money(rng, eur * sender.fx, 0.3),
            recase(rng, memo),
            1,
            "mule",
            sim.device(sender, t),
        )
    t += rng.uniform(600, 3 * 3600) if rng.random() < 0.5 else rng.uniform(3, 18) * 3600
    handler = (
        {"id": hex_id(rng, "dev-"), "ip_country": rng.choice((mule.country, *FRAUD_IP))}
        if rng.random() < 0.3
        else None
    )
    j = rng.randint(2, 5)
    remaining = received * rng.uniform(0.85, 0.95)
    for k in range(j):
        yield t
        part = remaining / (j - k) * (rng.uniform(0.7, 1.3) if k < j - 1 else 1.0)
        remaining -= part
        device = handler or sim.device(mule, t)
        r = rng.random()
        if r < 0.6:
            country = rng.choice(FRAUD_CP) if rng.random() < 0.6 else mule.country
            payee = payee_abroad(rng, country, company=rng.random() < 0.3)
            memo = sim.fill(rng.choice(MULE_OUT), country)
            sim.transfer(
                t,
                mule,
                payee,
                money(rng, part * mule.fx, 0.3),
                recase(rng, memo),
                1,
                "mule",
                device,
            )
        elif r < 0.8:
            name, cc = rng.choice(CRYPTO_EXCHANGES)
            sim.record(
                t,
                mule.id,
                round(part * mule.fx, 2),
                mule.currency,
                f"{name} {rng.randrange(10**7, 10**8)}",
                "wallet_topup",
                {"name": name, "mcc": "6051", "country": cc},
                1,
                "mule",
                device=device,
            )
        else:
            amount = float(min(500, max(20, round(part / 20) * 20))) * mule.fx
            bank = rng.choice(ATM_BANKS)
            city = rng.choice(COUNTRIES[mule.country][3])
            name = f"{bank} {city}"
            sim.record(
                t,
                mule.id,
                round(amount, 0),
                mule.currency,
                f"ATM WDL {name} {rng.randrange(1000, 10000)}",
                ATM,
                {"name": name, "mcc": "6011", "country": mule.country},
                1,
                "mule",
                card=mule.card,
            )
        t += rng.uniform(120, 2400)
