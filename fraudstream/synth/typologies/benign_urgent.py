"""benign_urgent: an "urgent" note to someone the account knows (organic transfers write some too,
`organic._transfer`): urgency is what scams are made of, and this is legitimate."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from fraudstream.synth.entities import Persona
from fraudstream.synth.rng import money, recase
from fraudstream.synth.tables.narratives import URGENT_BENIGN

if TYPE_CHECKING:
    from fraudstream.synth.engine import Simulator


def payment(sim: Simulator, t: float, p: Persona) -> None:
    """An urgent-sounding transfer to a known payee."""
    rng = sim.rng
    payee = rng.choice(p.payees)
    memo = sim.fill(rng.choice(URGENT_BENIGN), p.country)
    amount = money(rng, math.exp(rng.gauss(math.log(80.0), 0.8)) * p.level * p.fx, 0.4)
    sim.transfer(t, p, payee, amount, recase(rng, memo), 0, "benign_urgent", sim.device(p, t))
