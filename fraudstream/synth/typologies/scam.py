"""scam: authorised push payments of the classic kinds (tax, safe account, investment, family
impersonation, romance, advance fee, gift cards).

Signal: the victim's own device, but a new payee (a mule or an account abroad) or an exchange or
gift-card purchase, and scam wording in the memo unless the victim was coached what to write;
`benign_official`, `benign_urgent` and `benign_crypto` are its look-alikes."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from fraudstream.synth.clock import DAY
from fraudstream.synth.entities import payee_abroad
from fraudstream.synth.rng import money, recase
from fraudstream.synth.tables.merchants import CAT, CNP, CRYPTO_EXCHANGES
from fraudstream.synth.tables.places import FRAUD_CP
from fraudstream.synth.tables.scams import COACHED

if TYPE_CHECKING:
    from fraudstream.synth.engine import Episode, Simulator


MEAN_RECORDS = 1.8
"""Mean records per episode (calibrates the fraud rate): payments per episode, over the scam
kinds."""


def episode(sim: Simulator, t: float) -> Episode:
    """Authorised push payments: the victim pays, from their own phone, what a scammer says."""
    rng = sim.rng
    v = sim.pop.victim()
    kind = rng.weighted(
        (
            "tax",
            "safe_account",
            "investment",
            "family_impersonation",
            "romance",
            "advance_fee",
            "gift_card",
        ),
        (0.14, 0.18, 0.24, 0.12, 0.1, 0.1, 0.12),
    )
    t = sim.at_hours(t + rng.expovariate(1 / 3600.0), 7, 22)
    coached = rng.random() < 0.25
    device = sim.device(v, t)
    if kind == "gift_card":
        pool = sim.pop.by_cc[(v.country, CAT["gift_card"])]
        for _ in range(rng.randint(2, 4)):
            yield t
            m = rng.choice(pool)
            face = rng.choice((50, 100, 100, 150, 200, 250))  # in EUR-ish units
            amount = float(max(10, round(face * m.fx / 10) * 10))
            sim.record(
                t,
                v.id,
                amount,
                m.currency,
                sim.descriptor(m),
                CNP,
                dict(m.wire),
                1,
                "scam",
                card=v.card,
                device=device,
            )
            t += rng.uniform(120, 900)
        return
    if kind in ("tax", "safe_account", "family_impersonation"):
        payee = sim.pop.mule_payee(v.country)
        n = rng.choice((1, 1, 2, 2, 3)) if kind == "safe_account" else rng.choice((1, 1, 1, 2))
        median = {"tax": 900.0, "safe_account": 2500.0, "family_impersonation": 500.0}[kind]
        gap = (300.0, 1800.0)
    elif kind == "investment":
        if rng.random() < 0.5:  # to the "platform" through a real crypto exchange
            name, cc = rng.choice(CRYPTO_EXCHANGES)
            for _ in range(rng.randint(1, 4)):
                yield t
                amount = money(rng, math.exp(rng.gauss(math.log(1200.0), 0.7)) * v.fx, 0.2)
                sim.record(
                    t,
                    v.id,
                    amount,
                    v.currency,
                    f"{name} {rng.randrange(10**7, 10**8)}",
                    "wallet_topup",
                    {"name": name, "mcc": "6051", "country": cc},
                    1,
                    "scam",
                    device=sim.device(v, t),
                )
                t = sim.at_hours(t + rng.uniform(1, 6) * DAY, 7, 22)
            return
        payee = payee_abroad(rng, rng.choice(FRAUD_CP), company=True)
        n = rng.randint(1, 3)
        median = 1500.0
        gap = (DAY, 6 * DAY)
    else:  # romance, advance fee
        payee = payee_abroad(rng, rng.choice(FRAUD_CP), company=rng.random() < 0.2)
        n = rng.choice((1, 1, 2))
        median = 700.0
        gap = (DAY, 8 * DAY)
    for _ in range(n):
        yield t
        family = None
        if coached and rng.random() < 0.9:
            memo = recase(rng, sim.fill(rng.choice(COACHED), v.country))
        else:
            memo, family = sim.memo(kind, 1, v.country)
        amount = money(rng, math.exp(rng.gauss(math.log(median), 0.7)) * v.level * v.fx, 0.2)
        sim.transfer(t, v, payee, amount, memo, 1, "scam", sim.device(v, t), family=family)
        t = t + rng.uniform(*gap)
        if gap[0] >= DAY:
            t = sim.at_hours(t, 7, 22)
