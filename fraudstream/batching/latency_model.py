"""An online model of how long the inference engine takes to run one batch.

Theory of operation
-------------------
The cost of a padded batch of ``size`` sequences, each ``padded_len`` tokens long, is modelled as

    t(size, padded_len) = a + b·size + c·size·padded_len        with a, b, c >= 0

(a: fixed cost per call, b: per sequence, c: per padded token). The coefficients are the
non-negative least-squares fit to the observed batch times, each observation weighted by
``forgetting ** age`` (age counted in observations), so the fit follows a machine that gets slower
or faster (thermal throttling, a neighbour on a shared GPU, a new model). The prior from the
configuration enters as ``prior_weight`` pseudo-observations that fade like real ones, plus a tiny
permanent ridge towards it, so directions the data never excites (say, one batch shape only) stay
at the prior instead of drifting.

The scheduler needs a time it can trust at a high quantile, not a mean, so :meth:`estimate`
returns ``fit · (1 + k·spread)`` where ``spread`` is an exponentially weighted mean of the relative
prediction error ``|t - fit| / fit``, measured on each observation *before* it is learned from
(honest, out of sample). For Gaussian noise the mean absolute deviation is about 0.8σ, so the
default ``k = 3`` sits near 2.4σ: about 99 % of batches finish within the estimate.

Robustness: before it is learned from, an observation is clipped to ``fit · (1 ± clip·spread)``
(winsorised). One 2-second GC pause therefore moves the fit by at most ``clip`` spreads of one
observation's weight, and the spread by as little. A lasting change is told apart from outliers by
its persistence: each further observation beyond the clip *on the same side* doubles the clip, and
from the third in a row on, old observations are forgotten faster (``forgetting · 0.7`` per
observation), so a machine that became twice as slow is covered again within about ten batches,
while a lone pause, or two, stays clipped. The spread keeps its own slow rate (after starting as
a plain mean of the first observations), so a change does not inflate the estimate for long.

Invariants, each with a test:

1. ``a, b, c >= 0`` always, so :meth:`estimate` is non-decreasing in ``size`` and in
   ``padded_len``, and positive.
2. Deterministic: the same observations in the same order give the same estimates.
3. :meth:`estimate` is O(1) and allocation-free; :meth:`observe` is O(1) (a 3×3 problem).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

__all__ = ["LatencyModel", "LatencyPrior"]

# Features are scaled so that a typical batch has features of order one; this keeps the 3×3 normal
# equations well conditioned and makes the ridge mean roughly the same thing for every coefficient.
_SIZE_SCALE = 64.0
_TOKEN_SCALE = 4096.0
_RIDGE = 1e-3
_TINY = 1e-12
_SINGULAR = 1e-18
_MAX_WIDENING = 30
_SHIFT_RUN = 2
_SHIFT_FORGETTING = 0.7


@dataclass(frozen=True, slots=True)
class LatencyPrior:
    """What the model believes before it has seen a batch (from configuration).

    ``spread`` is the relative error one expects of this prior (0.25: right within about 25 %).
    """

    base: float = 0.002
    """Seconds per call, whatever the batch."""
    per_item: float = 0.0
    """Seconds per sequence in the batch."""
    per_token: float = 2e-6
    """Seconds per padded token (``size · padded_len`` of them)."""
    spread: float = 0.25

    def __post_init__(self) -> None:
        values = (self.base, self.per_item, self.per_token, self.spread)
        if not all(math.isfinite(v) and v >= 0.0 for v in values):
            raise ValueError(f"latency prior values must be finite and >= 0: {self!r}")
        if self.base + self.per_item + self.per_token <= 0.0:
            raise ValueError("latency prior must give a positive time for every batch")


class LatencyModel:
    """Online estimate of batch service time; see the module docstring."""

    __slots__ = (
        "_a",
        "_b",
        "_c",
        "_clip",
        "_forgetting",
        "_k",
        "_min_spread",
        "_moment_b",
        "_moment_m",
        "_observations",
        "_prior_theta",
        "_prior_weight",
        "_run",
        "_spread",
    )

    def __init__(
        self,
        prior: LatencyPrior | None = None,
        *,
        forgetting: float = 0.98,
        k: float = 3.0,
        clip: float = 3.0,
        min_spread: float = 0.02,
        prior_weight: float = 2.0,
    ) -> None:
        prior = prior if prior is not None else LatencyPrior()
        if not 0.0 < forgetting <= 1.0:
            raise ValueError(f"forgetting must be in (0, 1], got {forgetting}")
        if not (k >= 0.0 and clip > 0.0 and min_spread > 0.0 and prior_weight > 0.0):
            raise ValueError("k must be >= 0; clip, min_spread and prior_weight must be > 0")
        self._forgetting = forgetting
        self._k = k
        self._clip = clip
        self._min_spread = min_spread
        self._prior_weight = prior_weight
        theta = (prior.base, prior.per_item * _SIZE_SCALE, prior.per_token * _TOKEN_SCALE)
        self._prior_theta = theta
        # Weighted normal equations M·θ = B in scaled coordinates; the prior as pseudo-observations.
        self._moment_m = [[prior_weight if i == j else 0.0 for j in range(3)] for i in range(3)]
        self._moment_b = [prior_weight * t for t in theta]
        self._a, self._b, self._c = prior.base, prior.per_item, prior.per_token
        self._spread = prior.spread
        self._observations = 0
        self._run = 0
        """Signed count of consecutive clipped observations (+ above the fit, - below)."""

    # -- reading ---------------------------------------------------------------------------------

    def fit(self, size: int, padded_len: int) -> float:
        """The fitted (mean) time in seconds for a batch of this shape."""
        return self._a + (self._b + self._c * padded_len) * size

    def estimate(self, size: int, padded_len: int) -> float:
        """A conservative time in seconds (fit plus ``k`` spreads): what deadlines are planned on."""
        fit = self._a + (self._b + self._c * padded_len) * size
        return fit * (1.0 + self._k * max(self._spread, self._min_spread))

    @property
    def coefficients(self) -> tuple[float, float, float]:
        """``(a, b, c)``: seconds per call, per sequence, per padded token."""
        return (self._a, self._b, self._c)

    @property
    def spread(self) -> float:
        """Mean relative prediction error (before the ``min_spread`` floor)."""
        return self._spread

    @property
    def observations(self) -> int:
        return self._observations

    # -- learning --------------------------------------------------------------------------------

    def observe(self, size: int, padded_len: int, seconds: float) -> None:
        """Learn from one batch of ``size`` sequences padded to ``padded_len`` that took ``seconds``."""
        if size < 1 or padded_len < 1:
            raise ValueError(f"batch shape must be positive, got ({size}, {padded_len})")
        if not (math.isfinite(seconds) and seconds >= 0.0):
            raise ValueError(f"observed time must be finite and >= 0, got {seconds!r}")
        predicted = max(self.fit(size, padded_len), _TINY)
        error = seconds - predicted
        # A run of errors of one sign beyond the clip is evidence of a level shift, not of
        # outliers: each one in a row doubles the clip (and, from the third on, old observations
        # are forgotten faster), so a lasting change is followed within a few batches while a lone
        # pause stays clipped.
        base = self._clip * max(self._spread, self._min_spread) * predicted
        run = self._run if error * self._run > 0.0 else 0
        if error > base:
            self._run = run + 1
        elif error < -base:
            self._run = run - 1
        else:
            self._run = 0
        limit = base * 2.0 ** min(abs(run), _MAX_WIDENING)
        residual = min(max(error, -limit), limit)
        clipped = predicted + residual

        x = (1.0, size / _SIZE_SCALE, size * padded_len / _TOKEN_SCALE)
        lam = self._forgetting
        if abs(run) >= _SHIFT_RUN and self._run:
            lam *= (
                _SHIFT_FORGETTING  # a third exceedance in a row: the machine changed, forget faster
            )
        m, b = self._moment_m, self._moment_b
        for i in range(3):
            row, xi = m[i], x[i]
            for j in range(3):
                row[j] = lam * row[j] + xi * x[j]
            b[i] = lam * b[i] + xi * clipped

        self._observations += 1
        alpha = max(1.0 / (self._observations + self._prior_weight), 1.0 - self._forgetting)
        self._spread = (1.0 - alpha) * self._spread + alpha * abs(residual) / predicted
        a, b_scaled, c_scaled = self._solve()
        self._a, self._b, self._c = a, b_scaled / _SIZE_SCALE, c_scaled / _TOKEN_SCALE

    def _solve(self) -> tuple[float, float, float]:
        """Non-negative least squares on the 3×3 normal equations, by trying every support.

        With three unknowns there are seven non-empty supports; the constrained optimum of a convex
        quadratic is the unconstrained optimum over its own support, so the best feasible one is
        exact. Usually the full support is feasible and is the answer at once.
        """
        prior = self._prior_theta
        m = [
            [v + (_RIDGE if i == j else 0.0) for j, v in enumerate(row)]
            for i, row in enumerate(self._moment_m)
        ]
        b = [v + _RIDGE * prior[i] for i, v in enumerate(self._moment_b)]
        full = _solve_small(m, b)
        if full is not None and min(full) >= 0.0:
            return (full[0], full[1], full[2])
        best = (0.0, 0.0, 0.0)
        best_cost = 0.0  # the empty support: θ = 0, cost 0
        for r in (2, 1):
            for support in combinations(range(3), r):
                sub = _solve_small(
                    [[m[i][j] for j in support] for i in support], [b[i] for i in support]
                )
                if sub is None or min(sub) < 0.0:
                    continue
                theta = [0.0, 0.0, 0.0]
                for i, v in zip(support, sub, strict=True):
                    theta[i] = v
                # J(θ) = θᵀMθ - 2bᵀθ; at a support's optimum Mθ = b there, so J = -bᵀθ.
                cost = -sum(b[i] * theta[i] for i in range(3))
                if cost < best_cost:
                    best, best_cost = (theta[0], theta[1], theta[2]), cost
        return best


def _solve_small(m: list[list[float]], b: list[float]) -> list[float] | None:
    """Solve a 1×1, 2×2 or 3×3 system by Cramer's rule (None if singular)."""
    n = len(b)
    if n == 1:
        return [b[0] / m[0][0]] if m[0][0] > 0.0 else None
    if n == 2:
        (p, q), (r, s) = m
        det = p * s - q * r
        if abs(det) < _SINGULAR:
            return None
        return [(b[0] * s - q * b[1]) / det, (p * b[1] - r * b[0]) / det]
    (a11, a12, a13), (a21, a22, a23), (a31, a32, a33) = m
    c11 = a22 * a33 - a23 * a32
    c12 = a23 * a31 - a21 * a33
    c13 = a21 * a32 - a22 * a31
    det = a11 * c11 + a12 * c12 + a13 * c13
    if abs(det) < _SINGULAR:
        return None
    b1, b2, b3 = b
    x1 = (b1 * c11 + a12 * (a23 * b3 - b2 * a33) + a13 * (b2 * a32 - a22 * b3)) / det
    x2 = (a11 * (b2 * a33 - a23 * b3) + b1 * c12 + a13 * (a21 * b3 - b2 * a31)) / det
    x3 = (a11 * (a22 * b3 - b2 * a32) + a12 * (b2 * a31 - a21 * b3) + b1 * c13) / det
    return [x1, x2, x3]
