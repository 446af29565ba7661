"""card_testing: a stolen card checked with tiny card-not-present payments before it is used.

Signal: bursts of sub-euro to few-euro payments at weak web shops, obscure new shops or donation
pages, often at night, sometimes from a new device abroad; `benign_burst` is its look-alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fraudstream.synth.entities import Merchant, hex_id, obscure_name
from fraudstream.synth.tables.merchants import CAT, CNP, OBSCURE_CC
from fraudstream.synth.tables.places import FRAUD_IP, HOME

if TYPE_CHECKING:
    from fraudstream.synth.engine import Episode, Simulator


MEAN_RECORDS = 12.0 + 0.35
"""Mean records per episode (calibrates the fraud rate): 5 to 19 tests (12 on average), then a
cash-out purchase one time in three."""


def episode(sim: Simulator, t: float) -> Episode:
    """Many tiny card-not-present payments within minutes (or, low and slow, within hours)
    at weakly protected web shops or donation pages, then maybe one big cash-out purchase."""
    rng = sim.rng
    v = sim.pop.victim()
    t += rng.expovariate(1 / 1200.0)
    if rng.random() < 0.55:
        t = sim.at_hours(t, 0, 6)
    r = rng.random()
    if r < 0.6:
        shops = [rng.choice(sim.pop.weak) for _ in range(rng.choice((1, 1, 2)))]
    elif r < 0.8:
        shops = []
        for _ in range(rng.choice((1, 2))):
            name = obscure_name(rng)
            shops.append(
                Merchant(
                    f"M{sim.pop.next_mid:06d}",
                    name,
                    "5999",
                    rng.choice(OBSCURE_CC),
                    CAT["niche_web"],
                    name,
                    False,
                )
            )
            sim.pop.next_mid += 1
    else:
        shops = [rng.choice(sim.pop.by_cc[(rng.choice(HOME), CAT["charity"])])]
    device: dict[str, str] | None = None
    if rng.random() < 0.5:
        ip = v.country if rng.random() < 0.35 else rng.choice(FRAUD_IP)
        device = {"id": hex_id(rng, "dev-"), "ip_country": ip}
    gap = 25.0 if rng.random() < 0.75 else 900.0  # a burst, or "low and slow" testing
    for _ in range(rng.randint(5, 19)):
        yield t
        m = rng.choice(shops)
        u = rng.random()
        if u < 0.3:
            base = rng.randint(1, 99) / 100.0
        elif u < 0.5:
            base = 1.0
        else:
            base = round(rng.uniform(0.5, 3.0), 2)
        sim.record(
            t,
            v.id,
            round(base * m.fx, 2) or 0.01,
            m.currency,
            sim.descriptor(m),
            CNP,
            dict(m.wire),
            1,
            "card_testing",
            card=v.card,
            device=device,
        )
        t += rng.expovariate(1 / gap) + 1.0
    if rng.random() < 0.35:
        t += rng.uniform(600, 3600)
        yield t
        ci = CAT["gift_card"] if rng.random() < 0.5 else CAT["electronics"]
        cc = rng.choice(HOME)
        m = rng.choice(sim.pop.by_cc[(cc, ci)])
        amount = round(rng.uniform(150, 900) * m.fx, 2)
        sim.record(
            t,
            v.id,
            amount,
            m.currency,
            sim.descriptor(m),
            CNP,
            dict(m.wire),
            1,
            "card_testing",
            card=v.card,
            device=device,
        )
