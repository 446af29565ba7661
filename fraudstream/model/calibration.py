"""Turn the network's logits into probabilities that mean what they say.

Training up-weights the rare fraud class (pos_weight), so raw sigmoid outputs overstate risk; and
analysts read "0.8" as "8 in 10 of these are fraud". Calibration is fitted on the validation split:

- `platt` (default): p = sigmoid(a * logit + b), two parameters fitted by Newton's method on the
  log-loss with Platt's smoothed targets. Strictly monotone, so the ranking (and AP) is unchanged,
  and with two parameters it cannot overfit a small validation set.
- `isotonic`: a monotone step function of the logit (pool-adjacent-violators), interpolated
  linearly between steps; more flexible, needs more validation positives, may tie scores.

Stored as `calibration.json`; applying it is a few numpy operations per batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Method = Literal["platt", "isotonic", "identity"]


@dataclass(frozen=True, slots=True)
class Calibration:
    method: Method = "identity"
    a: float = 1.0
    b: float = 0.0
    x: tuple[float, ...] = field(default_factory=tuple)
    """isotonic: logits at the knots (increasing)."""
    y: tuple[float, ...] = field(default_factory=tuple)
    """isotonic: probabilities at the knots (non-decreasing)."""

    def apply(self, logits: np.ndarray) -> np.ndarray:
        z = np.asarray(logits, dtype=np.float64)
        if self.method == "isotonic":
            result: np.ndarray = np.interp(z, self.x, self.y)
            return result
        return _sigmoid(self.a * z + self.b)

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "a": self.a,
            "b": self.b,
            "x": list(self.x),
            "y": list(self.y),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        method = data.get("method", "identity")
        if method not in ("platt", "isotonic", "identity"):
            raise ValueError(f"unknown calibration method {method!r}")
        x = tuple(float(v) for v in data.get("x", ()))
        y = tuple(float(v) for v in data.get("y", ()))
        if method == "isotonic" and (len(x) != len(y) or len(x) < 2):
            raise ValueError("isotonic calibration needs at least two knots")
        return cls(
            method=method, a=float(data.get("a", 1.0)), b=float(data.get("b", 0.0)), x=x, y=y
        )


def fit_calibration(
    logits: np.ndarray, labels: np.ndarray, method: Method = "platt"
) -> Calibration:
    if method == "platt":
        return fit_platt(logits, labels)
    if method == "isotonic":
        return fit_isotonic(logits, labels)
    return Calibration()


def fit_platt(logits: np.ndarray, labels: np.ndarray, *, iterations: int = 100) -> Calibration:
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    n_pos, n_neg = float(y.sum()), float(len(y) - y.sum())
    if n_pos == 0 or n_neg == 0:
        return Calibration()
    # Platt's targets: never exactly 0 or 1, which keeps the fit finite on separable data.
    t = np.where(y > 0, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    a, b = 1.0, 0.0
    for _ in range(iterations):
        p = _sigmoid(a * z + b)
        w = np.maximum(p * (1 - p), 1e-12)
        g = np.array([np.dot(p - t, z), np.sum(p - t)])
        h = np.array([[np.dot(w, z * z), np.dot(w, z)], [np.dot(w, z), w.sum()]])
        h += np.eye(2) * 1e-9 * len(z)
        step = np.linalg.solve(h, g)
        # Backtrack on the loss: plain Newton can overshoot when the logits are far apart.
        loss = _log_loss(a * z + b, t)
        scale = 1.0
        while (
            scale > 1e-6 and _log_loss((a - scale * step[0]) * z + (b - scale * step[1]), t) > loss
        ):
            scale /= 2
        a, b = a - scale * step[0], b - scale * step[1]
        if np.abs(scale * step).max() < 1e-10:
            break
    if a <= 0:
        # A non-positive slope would invert the ranking; only possible if the model is useless
        # on validation. Keep the ranking and fit the intercept alone.
        return Calibration(method="platt", a=1.0, b=float(np.log(n_pos / n_neg)))
    return Calibration(method="platt", a=float(a), b=float(b))


def fit_isotonic(logits: np.ndarray, labels: np.ndarray, *, max_knots: int = 512) -> Calibration:
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    order = np.argsort(z, kind="stable")
    z, y = z[order], y[order]
    # Pool adjacent violators over blocks of equal logits.
    values: list[float] = []
    weights: list[float] = []
    xs: list[float] = []
    for zi, yi in zip(z, y, strict=True):
        values.append(yi)
        weights.append(1.0)
        xs.append(zi)
        while len(values) > 1 and values[-2] >= values[-1]:
            v2, w2 = values.pop(), weights.pop()
            x2 = xs.pop()
            v1, w1 = values[-1], weights[-1]
            values[-1] = (v1 * w1 + v2 * w2) / (w1 + w2)
            weights[-1] = w1 + w2
            xs[-1] = (xs[-1] * w1 + x2 * w2) / (w1 + w2)
    knots_x = np.array(xs)
    knots_y = np.array(values)
    if len(knots_x) > max_knots:
        keep = np.unique(np.linspace(0, len(knots_x) - 1, max_knots).round().astype(int))
        knots_x, knots_y = knots_x[keep], knots_y[keep]
    if len(knots_x) < 2:
        return fit_platt(logits, labels)
    return Calibration(
        method="isotonic", x=tuple(float(v) for v in knots_x), y=tuple(float(v) for v in knots_y)
    )


def _sigmoid(z: np.ndarray) -> np.ndarray:
    result: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * z))
    return result


def _log_loss(z: np.ndarray, t: np.ndarray) -> float:
    # log(1 + e^z) - t z, computed stably
    return float(np.mean(np.logaddexp(0.0, z) - t * z))
