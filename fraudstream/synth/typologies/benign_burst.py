"""benign_burst: a burst of tiny online purchases (in-app purchases, parking, tickets, a small web
shop): what card testing looks like, and legitimate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fraudstream.synth.entities import Persona
from fraudstream.synth.tables.merchants import CAT, CATEGORIES, CNP, CP

if TYPE_CHECKING:
    from fraudstream.synth.engine import Episode, Simulator


def episode(sim: Simulator, t: float, p: Persona) -> Episode:
    rng = sim.rng
    kind = rng.random()
    if kind < 0.5:
        pool = (
            sim.pop.by_cc.get((p.country, CAT["digital"])) or sim.pop.by_cc[("GB", CAT["digital"])]
        )
        cat_amounts = (0.79, 0.99, 1.99, 2.49, 2.99, 4.99)
    elif kind < 0.8:
        pool = (
            sim.pop.by_cc.get((p.country, CAT["parking"])) or sim.pop.by_cc[("GB", CAT["parking"])]
        )
        pool = pool + (sim.pop.by_cc.get((p.country, CAT["transit"])) or [])
        cat_amounts = (1.2, 1.8, 2.5, 3.4, 0.9, 2.0)
    else:
        pool = sim.pop.weak[:] + sim.pop.niche[: len(sim.pop.weak)]
        cat_amounts = (3.5, 5.0, 8.9, 12.0, 1.5, 6.0)
    m = rng.choice(pool)
    n = rng.randint(3, 8)
    device = sim.device(p, t)
    for _ in range(n):
        yield t
        amount = round(rng.choice(cat_amounts) * p.fx, 2)
        sim.record(
            t,
            p.id,
            amount,
            m.currency,
            sim.descriptor(m),
            CNP if CATEGORIES[m.cat][2] == CNP else CP,
            dict(m.wire),
            0,
            "benign_burst",
            card=p.card,
            device=device if CATEGORIES[m.cat][2] == CNP else None,
        )
        t += rng.expovariate(1 / 90.0)
        if rng.random() < 0.3:
            m = rng.choice(pool)
