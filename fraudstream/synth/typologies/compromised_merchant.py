"""compromised_merchant: a skimmed or cloned card-present terminal.

The episode marks the merchant compromised for a window (`Simulator.compromised`) and writes its
planned fraudulent payments there; ordinary card payments that meet the merchant inside the window
are labelled too (`organic._card`). Signal: the merchant's history, not the account's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fraudstream.synth.tables.merchants import CP

if TYPE_CHECKING:
    from fraudstream.synth.engine import Episode, Simulator


MEAN_RECORDS = 10.0 + 5.5
"""Mean records per episode (calibrates the fraud rate): 4 to 16 planned payments (10 on average)
and the ordinary ones caught in the window."""


def episode(sim: Simulator, t: float) -> Episode:
    """A terminal whose card payments are fraudulent (skimmed or cloned) for a while."""
    rng = sim.rng
    m = rng.choice(sim.pop.cp_merchants)
    start = t + rng.uniform(0, 6 * 3600.0)
    end = start + rng.uniform(6, 36) * 3600.0
    sim.compromised[m.id] = (start, end)
    customers = sim.pop.by_country.get(m.country) or sim.pop.personas
    n = rng.randint(4, 16)
    times = sorted(rng.uniform(start, end) for _ in range(n))
    for tt in times:
        yield tt
        p = rng.choice(customers)
        amount = sim.amount(m.cat, p.level * rng.uniform(1.0, 1.8), m.fx)
        sim.record(
            tt,
            p.id,
            amount,
            m.currency,
            sim.descriptor(m),
            CP,
            dict(m.wire),
            1,
            "compromised_merchant",
            card=p.card,
        )
