"""quiet_scam: an authorised push payment that looks like the account's own.

Signal: only the memo (what the language model is for): device, country, amount, time of day and,
often, the payee are those of the account's ordinary payments."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from fraudstream.synth.clock import DAY
from fraudstream.synth.entities import Payee, iban, person_name
from fraudstream.synth.rng import money
from fraudstream.synth.tables.merchants import COMPANY_SUFFIX, EMPLOYER_KIND, WORDS
from fraudstream.synth.tables.narratives import QUIET_STORIES, QUIET_WEIGHTS

if TYPE_CHECKING:
    from fraudstream.synth.engine import Episode, Simulator


MEAN_RECORDS = 1.6
"""Mean records per episode (calibrates the fraud rate): one payment, sometimes two or three (1.6
on average)."""


def episode(sim: Simulator, t: float) -> Episode:
    """An authorised push payment that looks like the account's own: its usual device and
    country, an amount in its usual range, by day, to a domestic personal account (one it has
    paid before in one case in three, and a repeat payment to the same payee is known by then).
    Only the memo tells."""
    rng = sim.rng
    v = sim.pop.victim()
    story = rng.weighted(QUIET_STORIES, QUIET_WEIGHTS)
    if rng.random() < 0.35 and any(q.kind == "friend" for q in v.payees):
        payee = rng.choice([q for q in v.payees if q.kind == "friend"])
    elif story == "invoice_redirect":
        name = f"{rng.choice(WORDS)} {rng.choice(EMPLOYER_KIND)} {COMPANY_SUFFIX.get(v.country, 'LTD')}"
        payee = Payee(name, iban(rng, v.country), v.country, "fraud")
    else:
        payee = Payee(
            " ".join(person_name(rng, v.country)), iban(rng, v.country), v.country, "fraud"
        )
    t = sim.at_hours(t + rng.expovariate(1 / 3600.0), 8, 21)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        yield t
        memo, family = sim.memo(story, 1, v.country)
        amount = money(rng, math.exp(rng.gauss(math.log(60.0), 0.9)) * v.level * v.fx, 0.45)
        device = {"id": v.devices[0], "ip_country": v.country}
        sim.transfer(t, v, payee, max(amount, 1.0), memo, 1, "quiet_scam", device, family=family)
        t = sim.at_hours(t + rng.uniform(0.5, 5) * DAY, 8, 21)
