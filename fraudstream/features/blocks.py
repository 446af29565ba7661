"""The blocks of a feature spec: per-entity velocity (`VelocityBlock`) and delayed label risk
(`DelayedRiskBlock`), each checked when built and naming its own features; and `window_name`,
how a window reads in a feature name (3600 s -> `1h`).

The order of the names each block gives is part of the spec's contract (see `spec.py`): a model
and the stream that scores with it agree column by column.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final

AGGREGATES: Final = ("count", "sum", "mean")
_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
DAY: Final = 86400.0
HOUR: Final = 3600.0


class FeatureSpecError(ValueError):
    """An invalid feature spec; the message names the field."""


def window_name(seconds: float) -> str:
    """3600 -> '1h', 86400 -> '1d', 90 -> '90s', 1.5 -> '1.5s'."""
    if float(seconds).is_integer():
        s = int(seconds)
        if s % 86400 == 0:
            return f"{s // 86400}d"
        if s % 3600 == 0:
            return f"{s // 3600}h"
        if s % 60 == 0:
            return f"{s // 60}m"
        return f"{s}s"
    return f"{seconds:g}s".replace(".", "_")


def check_name(where: str, name: object) -> str:
    """`name`, if it is a valid feature or role name (`where` names the field for the error)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise FeatureSpecError(f"{where}: {name!r} must be lower-case letters, digits and '_'")
    return name


def _check_windows(where: str, windows: tuple[float, ...]) -> None:
    for w in windows:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0:
            raise FeatureSpecError(f"{where}: windows are positive seconds, got {w!r}")
    if len(set(windows)) != len(windows):
        raise FeatureSpecError(f"{where}: duplicate window in {windows!r}")


@dataclass(frozen=True)
class VelocityBlock:
    """Behaviour of one entity role (account, card...) from its own recent events.

    Windows count the events of this entity with timestamp in (t - W, t], the current one
    included (as the handbook's pandas `rolling('Wd')`); see `state.py` for the exact semantics.
    """

    role: str
    windows: tuple[float, ...] = ()
    aggregates: tuple[str, ...] = ("count", "sum")
    distinct: tuple[str, ...] = ()
    """Categorical (or entity-role) fields whose distinct values are counted per window."""
    distinct_windows: tuple[float, ...] = ()
    since_last: bool = False
    since_last_cap_s: float = 30 * DAY
    """Seconds since the previous event, at most this; an entity's first event gets the cap."""
    novelty: tuple[str, ...] = ()
    """Fields whose value this entity has never used before (1.0) or has (0.0), e.g. device."""
    ratio_windows: tuple[float, ...] = ()
    """`R_amount_ratio_W`: the amount over the mean amount of this entity's *earlier* events in
    (t - W, t] (1.0 when there are none). Each W must be one of `windows` (same buckets). A
    stolen card's inflated amounts stand out against the card's own habit, not a global one."""
    max_ratio_windows: tuple[float, ...] = ()
    """`R_max_amount_ratio_W`: the amount over the largest amount of this entity's earlier events
    in (t - W, t] (1.0 when there are none); kept as a monotone queue of (time, amount)."""

    def __post_init__(self) -> None:
        for name in (
            "windows",
            "aggregates",
            "distinct",
            "distinct_windows",
            "novelty",
            "ratio_windows",
            "max_ratio_windows",
        ):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        where = f"velocity[{self.role}]"
        check_name(f"{where}.role", self.role)
        _check_windows(f"{where}.windows", self.windows)
        _check_windows(f"{where}.distinct_windows", self.distinct_windows)
        _check_windows(f"{where}.ratio_windows", self.ratio_windows)
        _check_windows(f"{where}.max_ratio_windows", self.max_ratio_windows)
        for w in self.ratio_windows:
            if w not in self.windows:
                raise FeatureSpecError(
                    f"{where}.ratio_windows: {w!r} is not one of windows {self.windows!r}; "
                    "add it to windows (the ratio reads the same buckets)"
                )
        for agg in self.aggregates:
            if agg not in AGGREGATES:
                raise FeatureSpecError(f"{where}.aggregates: {agg!r} is not one of {AGGREGATES}")
        if self.windows and not self.aggregates:
            raise FeatureSpecError(f"{where}.aggregates: windows given but no aggregate")
        if self.distinct and not self.distinct_windows:
            raise FeatureSpecError(f"{where}.distinct_windows: needed for distinct fields")
        for f in (*self.distinct, *self.novelty):
            check_name(f"{where}.distinct/novelty", f)
        if not self.since_last_cap_s > 0:
            raise FeatureSpecError(f"{where}.since_last_cap_s: must be positive")

    def names(self) -> list[str]:
        r = self.role
        out = [f"{r}_{agg}_{window_name(w)}" for w in self.windows for agg in self.aggregates]
        out += [
            f"{r}_distinct_{f}_{window_name(w)}"
            for f in self.distinct
            for w in self.distinct_windows
        ]
        if self.since_last:
            out.append(f"{r}_secs_since_last")
        out += [f"{r}_new_{f}" for f in self.novelty]
        out += [f"{r}_amount_ratio_{window_name(w)}" for w in self.ratio_windows]
        out += [f"{r}_max_amount_ratio_{window_name(w)}" for w in self.max_ratio_windows]
        return out


@dataclass(frozen=True)
class DelayedRiskBlock:
    """Risk of one entity role (e.g. terminal) learned from fraud labels that arrive late.

    For an event at t and window W: the number of labelled transactions of this entity with
    transaction time in (t - delay - W, t - delay], and the share of them that were fraud (0 when
    there are none). Fed only by `FeatureState.apply_label`.

    With `streak`: `R_fraud_streak` is how many of this entity's latest labels (in the order they
    were applied) were all fraud, and `R_streak_age_s` is t minus the transaction time of the first
    fraud of that run (0 when the run is empty). A compromised terminal turns every one of its
    transactions into fraud for weeks; a run of fraud labels, and how long ago it began, says so
    more sharply than a share over a fixed window. These count every label applied before the
    event, whatever its transaction time (in `build_features` each label is applied exactly
    `delay_s` after its transaction, as in the windows).
    """

    role: str
    delay_s: float
    windows: tuple[float, ...]
    streak: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "windows", tuple(self.windows))
        where = f"delayed[{self.role}]"
        check_name(f"{where}.role", self.role)
        _check_windows(f"{where}.windows", self.windows)
        if not self.windows:
            raise FeatureSpecError(f"{where}.windows: give at least one window")
        d = self.delay_s
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not math.isfinite(d) or d < 0:
            raise FeatureSpecError(f"{where}.delay_s: must be >= 0 seconds, got {d!r}")

    def names(self) -> list[str]:
        r = self.role
        return [
            name
            for w in self.windows
            for name in (
                f"{r}_delayed_count_{window_name(w)}",
                f"{r}_delayed_risk_{window_name(w)}",
            )
        ] + ([f"{r}_fraud_streak", f"{r}_streak_age_s"] if self.streak else [])
