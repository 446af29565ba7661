"""The simulator's random stream (`Rng`) and the small draws built on it."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from statistics import NormalDist
from typing import TypeVar

NQ = 8192
NORMALS: tuple[float, ...] = tuple(NormalDist().inv_cdf((i + 0.5) / NQ) for i in range(NQ))
JITTER: tuple[float, ...] = tuple(math.exp(0.7 * z) for z in NORMALS)  # log-normal, sd 0.7
_T = TypeVar("_T")


class Rng:
    """The few draws the simulator needs, built on `random.Random(seed).random` alone.

    Several times faster than `random.Random`'s own `choice`, `gauss` and `randint`, which
    matters at tens of thousands of records a second. Normal deviates come from a table of
    8,192 quantiles picked at random: plenty for amounts.
    """

    __slots__ = ("_bits", "random")

    def __init__(self, seed: int) -> None:
        r = random.Random(seed)
        self.random = r.random
        self._bits = r.getrandbits

    def getrandbits(self, k: int) -> int:
        return self._bits(k)

    def choice(self, seq: Sequence[_T]) -> _T:
        return seq[int(self.random() * len(seq))]

    def weighted(self, seq: Sequence[_T], weights: Sequence[float]) -> _T:
        x = self.random() * sum(weights)
        for item, w in zip(seq, weights, strict=True):
            x -= w
            if x < 0:
                return item
        return seq[-1]

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def randrange(self, a: int, b: int | None = None) -> int:
        if b is None:
            a, b = 0, a
        return a + int(self.random() * (b - a))

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.random()

    def gauss(self, mu: float, sigma: float) -> float:
        return mu + sigma * NORMALS[int(self.random() * NQ)]

    def expovariate(self, rate: float) -> float:
        return -math.log(1.0 - self.random()) / rate


def cumulate(weights: list[float]) -> list[float]:
    """Running sums, for `bisect_right(cum, random() * cum[-1])` draws."""
    out: list[float] = []
    total = 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


def money(rng: Rng, x: float, cents: float) -> float:
    """An amount as people choose it: exact to the cent with probability `cents`, else round."""
    if rng.random() < cents:
        return round(max(x, 0.01), 2)
    step = 1.0 if x < 20 else 5.0 if x < 200 else 10.0 if x < 2000 else 50.0
    return max(step, round(x / step) * step)


def recase(rng: Rng, text: str) -> str:
    """People type memos in every case."""
    r = rng.random()
    if r < 0.5:
        return text
    if r < 0.78:
        return text.lower()
    if r < 0.92:
        return text.upper()
    return text.capitalize()
