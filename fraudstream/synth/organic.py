"""Organic activity: one ordinary record per arrival of the population's Poisson process (a card
payment, a cash withdrawal, a transfer to someone the account knows, a wallet top-up) and, now and
then, a legitimate look-alike (`typologies/benign_*.py`)."""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import TYPE_CHECKING, Any

from fraudstream.synth.clock import DAY
from fraudstream.synth.entities import Persona, hex_id
from fraudstream.synth.rng import NORMALS, NQ, money, recase
from fraudstream.synth.tables.merchants import (
    ATM,
    ATM_BANKS,
    CATEGORIES,
    CNP,
    CRYPTO_EXCHANGES,
    LOCAL_CATS,
    NICHE,
    WALLETS,
)
from fraudstream.synth.tables.narratives import (
    ALARMING,
    BENIGN_STORIES,
    BENIGN_WEIGHTS,
    BLAND,
    CRYPTO_BENIGN,
    DIASPORA_MEMOS,
    FAMILY,
    LOCAL_FAMILY,
    SAVINGS_BENIGN,
    URGENT_BENIGN,
)
from fraudstream.synth.tables.places import COUNTRIES, TRAVEL, currency_of
from fraudstream.synth.typologies import (
    benign_burst,
    benign_new_payee,
    benign_official,
    benign_urgent,
)

if TYPE_CHECKING:
    from fraudstream.synth.engine import Simulator


SPECIAL = 0.02  # share of organic arrivals that are a legitimate look-alike (see _lookalike)
P_BURST = 0.2  # ... of which a burst of small online payments


def arrival(sim: Simulator, t: float) -> None:
    """One organic arrival at `t`: maybe a fraud episode starts, then an account, chosen in
    proportion to its activity, makes one ordinary payment (or a look-alike)."""
    rng = sim.rng
    rnd = rng.random
    if rnd() < sim.p_fraud:
        sim.start_fraud(t)
    cum = sim.pop.activity_cum
    p = sim.pop.personas[bisect_right(cum, rnd() * cum[-1])]
    travelling = False
    if p.travel_country:
        if t < p.travel_until:
            travelling = True
        else:
            p.travel_country = ""
    elif rng.random() < p.p_trip:
        p.travel_country = rng.choice([c for c in TRAVEL if c != p.country])
        p.travel_until = t + rng.uniform(3, 14) * DAY
        travelling = True
    typ = "benign_travel" if travelling else "ordinary"
    if p.new_device and rng.random() < 0.08:
        p.new_device = ""  # the new phone is now just one of the usual devices
    u = rng.random()
    card, atm, transfer, wallet = p.split
    if u < card:
        _card(sim, t, p, travelling, typ)
    elif u < atm:
        _atm(sim, t, p, travelling, typ)
    elif u < transfer:
        _transfer(sim, t, p, typ)
    elif u < wallet:
        _wallet(sim, t, p, typ)
    else:
        _lookalike(sim, t, p, typ)


def _card(sim: Simulator, t: float, p: Persona, travelling: bool, typ: str) -> None:
    """A card payment at a usual merchant (or a new one, or a local one when abroad)."""
    # The hot path (four records in five): plain indexing instead of helper calls.
    rng = sim.rng
    rnd = rng.random
    cum = p.cat_cum
    ci = bisect_right(cum, rnd() * cum[-1])
    cat = CATEGORIES[ci]
    level = p.level
    if ci == NICHE:
        pool = sim.pop.weak if rnd() < 0.3 else sim.pop.niche
        m = pool[int(rnd() * len(pool))]
    elif travelling and ci in LOCAL_CATS and rnd() < 0.85:
        pool = sim.pop.by_cc[(p.travel_country, ci)]
        m = pool[int(rnd() * len(pool))]
        if rnd() < 0.05:  # the big legitimate purchase abroad
            level *= rng.uniform(4, 12)
    else:
        typ = "ordinary"
        favs = p.favourites.get(ci)
        if favs is None:
            pool = sim.pop.by_cc[(p.country, ci)]
            favs = [rng.choice(pool) for _ in range(rng.choice((1, 2, 3)))]
            p.favourites[ci] = favs
        u = rnd()
        if u < 0.375:
            m = favs[0]
        elif u < 0.75:
            m = favs[int(rnd() * len(favs))]
        else:
            pool = sim.pop.by_cc[(p.country, ci)]
            m = pool[int(rnd() * len(pool))]
    amount = round(cat[3] * level * math.exp(cat[4] * NORMALS[int(rnd() * NQ)]) * m.fx, 2)
    channel = cat[2]
    rec: dict[str, Any] = {
        "transaction_id": "",
        "account_id": p.id,
        "card_id": p.card,
        "timestamp": sim.stamp(t),
        "amount": amount,
        "currency": m.currency,
        "narrative": sim.descriptor(m) if m.ref else m.descriptor,
        "channel": channel,
        "merchant": dict(m.wire),
    }
    fraud = 0
    if channel == CNP:
        if rnd() < 0.8:
            device = sim.device(p, t)
            rec["device"] = device
            if p.new_device and device["id"] == p.new_device:
                typ = "benign_new_device"
    elif sim.compromised:
        window = sim.compromised.get(m.id)
        if window is not None:
            if t > window[1]:
                del sim.compromised[m.id]
            elif t >= window[0]:
                fraud, typ = 1, "compromised_merchant"
    rec["metadata"] = {"is_fraud": fraud, "typology": typ}
    sim.out.append(rec)


def _atm(sim: Simulator, t: float, p: Persona, travelling: bool, typ: str) -> None:
    """A cash withdrawal, at home or abroad."""
    rng = sim.rng
    country = p.travel_country if travelling and rng.random() < 0.8 else p.country
    if country == p.country:
        typ = "ordinary"
    currency, fx = currency_of(country)
    amount = float(round(math.exp(rng.gauss(math.log(60.0), 0.6)) * p.level * fx / 10) * 10) or 10.0
    bank = rng.choice(ATM_BANKS)
    city = rng.choice(COUNTRIES[country][3])
    name = f"{bank} {city}"
    sim.record(
        t,
        p.id,
        amount,
        currency,
        f"ATM WDL {name} {rng.randrange(1000, 10000)}",
        ATM,
        {"name": name, "mcc": "6011", "country": country},
        0,
        typ,
        card=p.card,
    )


def _transfer(sim: Simulator, t: float, p: Persona, typ: str) -> None:
    """A transfer to one of the account's payees: itself, an exchange, family abroad, a friend."""
    rng = sim.rng
    payee = rng.choice(p.payees)
    kind = payee.kind
    typ = "benign_travel" if typ == "benign_travel" else "ordinary"
    family = None
    if kind == "self":
        r = rng.random()
        if r < 0.35:
            memo, family = sim.memo("savings", 0, p.country)
            if family in ALARMING:
                typ = "benign_alarming"
        else:
            memo = rng.choice(SAVINGS_BENIGN) if r < 0.65 else rng.choice(BLAND)
        amount = money(rng, math.exp(rng.gauss(math.log(150.0), 0.9)) * p.level * p.fx, 0.2)
    elif kind == "exchange":
        memo = sim.fill(rng.choice(CRYPTO_BENIGN), p.country)
        amount = money(rng, math.exp(rng.gauss(math.log(120.0), 0.8)) * p.level * p.fx, 0.3)
        typ = "benign_crypto"
    elif kind == "family_abroad":
        memo = sim.fill(rng.choice(DIASPORA_MEMOS), payee.country)
        amount = money(rng, math.exp(rng.gauss(math.log(200.0), 0.6)) * p.level * p.fx, 0.15)
        if "urgent" in memo or "hospital" in memo:
            typ = "benign_urgent"
    else:
        r = rng.random()
        if r < 0.25:
            story = rng.weighted(BENIGN_STORIES, BENIGN_WEIGHTS)
            memo, family = sim.memo(story, 0, p.country)
            if story == "urgent":
                typ = "benign_urgent"
            elif family in ALARMING:
                typ = "benign_alarming"
        elif r < 0.30:
            memo = sim.fill(rng.choice(URGENT_BENIGN), p.country)
            typ = "benign_urgent"
        elif r < 0.70:
            local = LOCAL_FAMILY.get(p.country)
            pool = local if local is not None and rng.random() < 0.5 else FAMILY
            memo = sim.fill(rng.choice(pool), p.country)
        else:
            memo = sim.fill(rng.choice(BLAND), p.country)
        amount = money(rng, math.exp(rng.gauss(math.log(40.0), 0.9)) * p.level * p.fx, 0.45)
    device = sim.device(p, t)
    if p.new_device and device["id"] == p.new_device:
        typ = "benign_new_device"
    if family is None:
        memo = recase(rng, memo)
    sim.transfer(t, p, payee, max(amount, 1.0), memo, 0, typ, device, family=family)


def _wallet(sim: Simulator, t: float, p: Persona, typ: str) -> None:
    """A wallet or crypto exchange top-up."""
    rng = sim.rng
    if p.crypto and rng.random() < 0.7:
        name, cc = rng.choice(CRYPTO_EXCHANGES)
        mcc = "6051"
        typ = "benign_crypto"
        amount = money(rng, math.exp(rng.gauss(math.log(100.0), 0.9)) * p.level * p.fx, 0.3)
    elif rng.random() < 0.04:  # a one-off crypto purchase by a non-hobbyist
        name, cc = rng.choice(CRYPTO_EXCHANGES)
        mcc = "6051"
        typ = "benign_crypto"
        amount = money(rng, math.exp(rng.gauss(math.log(80.0), 0.7)) * p.fx, 0.3)
    else:
        name, cc = rng.choice(WALLETS)
        mcc = "6540"
        amount = money(rng, math.exp(rng.gauss(math.log(50.0), 0.8)) * p.level * p.fx, 0.1)
    device = sim.device(p, t)
    if p.new_device and device["id"] == p.new_device:
        typ = "benign_new_device"
    sim.record(
        t,
        p.id,
        amount,
        p.currency,
        f"{name} {rng.randrange(10**7, 10**8)}",
        "wallet_topup",
        {"name": name, "mcc": mcc, "country": cc},
        0,
        typ,
        device=device,
    )


def _lookalike(sim: Simulator, t: float, p: Persona, typ: str) -> None:
    """Rare legitimate events that look like fraud (`typologies/benign_*.py`)."""
    rng = sim.rng
    r = rng.random()
    if r < P_BURST:  # a burst of tiny online purchases (in-app, parking, tickets)
        sim.start(benign_burst.episode(sim, t, p))
    elif r < 0.30:  # a new phone (benign_new_device while it is new)
        if not p.new_device:
            dev = hex_id(rng, "dev-")
            p.new_device = dev
            p.devices.append(dev)
            if len(p.devices) > 6:
                del p.devices[0]
        _transfer(sim, t, p, typ)
    elif r < 0.75:  # a new payee: landlord, tradesman, marketplace seller, family abroad
        benign_new_payee.payment(sim, t, p)
    elif r < 0.90:  # tax office, council, investments, savings: official-sounding and legit
        benign_official.payment(sim, t, p)
    else:  # an "urgent" note to someone they know
        benign_urgent.payment(sim, t, p)
