"""Calendar activity: what goes on the event heap when the clock enters a day (rent, direct
debits and subscriptions as one-shot items, payroll bursts from employer accounts as episodes)."""

from __future__ import annotations

import calendar
import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fraudstream.synth.clock import payday
from fraudstream.synth.entities import Persona
from fraudstream.synth.tables.merchants import CNP
from fraudstream.synth.tables.narratives import LOCAL_RENT, PAYROLL, RENT
from fraudstream.synth.tables.places import MON3, currency_of

if TYPE_CHECKING:
    from fraudstream.synth.engine import Episode, Simulator


def start_day(sim: Simulator, midnight: float, not_before: float) -> None:
    """Put the day's calendar items on the heap (the month's remaining days on its last day) and
    start the payroll of employers paying today; nothing before `not_before`."""
    rng = sim.rng
    d = datetime.fromtimestamp(midnight, UTC)
    last = calendar.monthrange(d.year, d.month)[1]
    days = [d.day] if d.day < last else list(range(d.day, 32))
    for dom in days:
        for kind, p, payload in sim.pop.monthly[dom]:
            if kind == "rent":
                t = midnight + rng.uniform(6, 10) * 3600.0
            elif kind == "dd":
                t = midnight + rng.uniform(0.1, 6) * 3600.0
            else:
                t = midnight + rng.uniform(0, 24) * 3600.0
            if t >= not_before:
                sim.push(t, None, (calendar_item, (kind, p, payload)))
    for e, employer in enumerate(sim.pop.employers):
        if employer[5] and payday(d.year, d.month, employer[4]) == d.day:
            t = midnight + rng.uniform(1, 5) * 3600.0
            if t >= not_before:
                sim.start(payroll(sim, t, e, d))


def calendar_item(sim: Simulator, t: float, kind: str, p: Persona, payload: Any) -> None:
    """A one-shot item: rent (`payload` unused), a direct debit or a subscription payment."""
    rng = sim.rng
    if kind == "rent":
        assert p.rent is not None
        landlord, amount = p.rent
        pool = LOCAL_RENT.get(p.country, RENT) if rng.random() < 0.6 else RENT
        memo = sim.fill(rng.choice(pool), p.country) if rng.random() < 0.9 else ""
        device = sim.device(p, t) if rng.random() < 0.5 else None  # standing order or app
        sim.transfer(t, p, landlord, amount, memo, 0, "ordinary", device, mcc="6513")
    elif kind == "dd":
        payee, amount, mcc = payload
        amount = round(amount * math.exp(rng.gauss(0, 0.1)), 2)
        memo = f"{payee.name} DD {rng.randrange(10**5, 10**6)}"
        sim.transfer(t, p, payee, amount, memo, 0, "ordinary", None, mcc=mcc)
    else:
        m, amount = payload
        sim.record(
            t,
            p.id,
            amount,
            m.currency,
            sim.descriptor(m),
            CNP,
            dict(m.wire),
            0,
            "ordinary",
            card=p.card,
        )


def payroll(sim: Simulator, t: float, e: int, d: datetime) -> Episode:
    """Employer `e` pays its staff, one transfer every few seconds."""
    rng = sim.rng
    account, name, country, device, _, staff = sim.pop.employers[e]
    short = name.split()[0]
    mon, yy = MON3[d.month - 1], f"{d.year % 100:02d}"
    currency, fx = currency_of(country)
    template = PAYROLL[e % len(PAYROLL)]  # each employer has its own format
    for p in staff:
        yield t
        memo = template.format(employer=short, mon=mon, yy=yy, n6=rng.randrange(10**5, 10**6))
        amount = round(p.salary * math.exp(rng.gauss(0, 0.03)) / p.fx * fx, 2)
        new = rng.random() < 0.01  # a new hire
        sim.record(
            t,
            account,
            amount,
            currency,
            memo,
            "transfer",
            {"name": p.name, "mcc": "4829", "country": p.country},
            0,
            "payroll",
            counterparty={
                "name": p.name,
                "account": p.id,
                "country": p.country,
                "new_beneficiary": new,
            },
            device={"id": device, "ip_country": country},
        )
        t += rng.uniform(0.2, 3.0)
