"""account_takeover: someone else in the account (or remote access to the victim's own phone).

Signal: a new device and IP country, a small wallet probe, then transfers to a new beneficiary,
often abroad and often at night; `benign_new_payee` and `benign_new_device` are its look-alikes."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from fraudstream.synth.entities import hex_id, payee_abroad
from fraudstream.synth.rng import money, recase
from fraudstream.synth.tables.merchants import WALLETS
from fraudstream.synth.tables.narratives import ATO_MEMOS
from fraudstream.synth.tables.places import FRAUD_CP, FRAUD_IP

if TYPE_CHECKING:
    from fraudstream.synth.engine import Episode, Simulator


MEAN_RECORDS = 0.4 + 1.8
"""Mean records per episode (calibrates the fraud rate): a probe 40 % of the time, then 1.8
transfers on average."""


def episode(sim: Simulator, t: float) -> Episode:
    """A new device and IP country (or remote access to the victim's own phone), maybe a small
    probe, then transfers to a new beneficiary, often abroad."""
    rng = sim.rng
    v = sim.pop.victim()
    t += rng.expovariate(1 / 1800.0)
    if rng.random() < 0.4:
        t = sim.at_hours(t, 0, 6)
    if rng.random() < 0.2:  # remote access to the victim's own phone: a known device
        device = {"id": v.devices[0], "ip_country": v.country}
    else:
        ip = v.country if rng.random() < 0.35 else rng.choice(FRAUD_IP)
        device = {"id": hex_id(rng, "dev-"), "ip_country": ip}
    if rng.random() < 0.4:  # a small probe first
        yield t
        name, cc = rng.choice(WALLETS)
        sim.record(
            t,
            v.id,
            money(rng, rng.uniform(1, 30) * v.fx, 0.4),
            v.currency,
            f"{name} {rng.randrange(10**7, 10**8)}",
            "wallet_topup",
            {"name": name, "mcc": "6540", "country": cc},
            1,
            "account_takeover",
            device=device,
        )
        t += rng.uniform(120, 1800)
    abroad = rng.random() < 0.65
    country = rng.choice(FRAUD_CP) if abroad else v.country
    payee = payee_abroad(rng, country, company=rng.random() < 0.35)
    for _ in range(rng.choice((1, 1, 2, 2, 3))):
        yield t
        amount = money(rng, math.exp(rng.gauss(math.log(1400.0), 0.6)) * v.level * v.fx, 0.25)
        memo = sim.fill(rng.choice(ATO_MEMOS), country)
        sim.transfer(t, v, payee, amount, recase(rng, memo), 1, "account_takeover", device)
        t += rng.uniform(60, 1500)
