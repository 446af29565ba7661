"""What features to compute: a frozen, JSON-serialisable spec saved in every model folder.

The spec fixes the feature names and their order (`numeric_names`, `categorical_names`), so a
model trained on a `FeatureTable` and the stream that scores with it agree column by column.

Numeric feature names, in this order:
1. `amount` (when `amount` is true);
2. time of day in local time (`utc_offset_s`): `hour` (0-23), `is_weekend` (Sat/Sun),
   `is_night` (hour within `night_hours`, inclusive; the handbook's night is 0-6);
3. per velocity block (entity role R, window W such as `1h`, `1d`, `30d`):
   `R_count_W`, `R_sum_W`, `R_mean_W` (each window, in the block's aggregate order), then
   `R_distinct_F_W` for each distinct field F and distinct window, then `R_secs_since_last`, then
   `R_new_F` for each novelty field F, then `R_amount_ratio_W` for each ratio window, then
   `R_max_amount_ratio_W` for each max-ratio window;
4. per delayed-risk block: `R_delayed_count_W`, `R_delayed_risk_W` for each window, then
   `R_fraud_streak`, `R_streak_age_s` when the block has `streak`;
5. the mapping's numeric fields passed through (missing = NaN).
Categorical names: the mapping's categorical fields passed through (missing = "").
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Final

import orjson

AGGREGATES: Final = ("count", "sum", "mean")
TIME_FEATURES: Final = ("hour", "weekend", "night")
_TIME_NAMES: Final = {"hour": "hour", "weekend": "is_weekend", "night": "is_night"}
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


def _check_name(where: str, name: object) -> str:
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
        _check_name(f"{where}.role", self.role)
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
            _check_name(f"{where}.distinct/novelty", f)
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
        _check_name(f"{where}.role", self.role)
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


@dataclass(frozen=True)
class FeatureSpec:
    key_role: str = "account"
    """The entity role that keys the stream's partitions (the mapping's `key`)."""
    amount: bool = True
    time: tuple[str, ...] = TIME_FEATURES
    night_hours: tuple[int, int] = (0, 6)
    """Inclusive local hours; (22, 5) wraps around midnight."""
    utc_offset_s: float = 0.0
    """Local time = UTC + this, for hour/weekend/night."""
    velocity: tuple[VelocityBlock, ...] = ()
    delayed: tuple[DelayedRiskBlock, ...] = ()
    numeric_fields: tuple[str, ...] = ()
    categorical_fields: tuple[str, ...] = ()
    resolution_s: float = 1.0
    """Width of a time bucket in the windows (events within one bucket share its start time)."""
    max_buckets: int = 1024
    """Per entity and block; a busier entity gets coarser buckets (see state.py)."""
    max_distinct: int = 256
    """Values remembered per entity and distinct field (least recently seen dropped first)."""
    max_novelty: int = 256
    """Values remembered per entity and novelty field (least recently seen dropped first)."""
    version: int = 1
    _numeric_names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _categorical_names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("time", "velocity", "delayed", "numeric_fields", "categorical_fields"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "night_hours", tuple(self.night_hours))
        _check_name("key_role", self.key_role)
        for t in self.time:
            if t not in TIME_FEATURES:
                raise FeatureSpecError(f"time: {t!r} is not one of {TIME_FEATURES}")
        if len(self.night_hours) != 2 or not all(
            isinstance(h, int) and 0 <= h <= 23 for h in self.night_hours
        ):
            raise FeatureSpecError(f"night_hours: two hours 0-23, got {self.night_hours!r}")
        if not (isinstance(self.resolution_s, (int, float)) and self.resolution_s > 0):
            raise FeatureSpecError("resolution_s: must be positive")
        for name in ("max_buckets", "max_distinct", "max_novelty"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 4:
                raise FeatureSpecError(f"{name}: must be an integer >= 4, got {v!r}")
        for b in self.velocity:
            if not isinstance(b, VelocityBlock):
                raise FeatureSpecError("velocity: expected VelocityBlock items")
        for d in self.delayed:
            if not isinstance(d, DelayedRiskBlock):
                raise FeatureSpecError("delayed: expected DelayedRiskBlock items")
        for kind, roles in (
            ("velocity", [b.role for b in self.velocity]),
            ("delayed", [d.role for d in self.delayed]),
        ):
            if len(set(roles)) != len(roles):
                raise FeatureSpecError(f"{kind}: one block per entity role, got {roles}")
        for f in (*self.numeric_fields, *self.categorical_fields):
            _check_name("numeric_fields/categorical_fields", f)

        numeric: list[str] = ["amount"] if self.amount else []
        numeric += [_TIME_NAMES[t] for t in TIME_FEATURES if t in self.time]
        for b in self.velocity:
            numeric += b.names()
        for d in self.delayed:
            numeric += d.names()
        numeric += list(self.numeric_fields)
        seen: set[str] = set()
        for name in [*numeric, *self.categorical_fields]:
            if name in seen:
                raise FeatureSpecError(f"feature name {name!r} appears twice; rename a field")
            seen.add(name)
        object.__setattr__(self, "_numeric_names", tuple(numeric))
        object.__setattr__(self, "_categorical_names", tuple(self.categorical_fields))

    # -- names --

    @property
    def numeric_names(self) -> list[str]:
        return list(self._numeric_names)

    @property
    def categorical_names(self) -> list[str]:
        return list(self._categorical_names)

    def horizon_s(self) -> float:
        """How far back any feature reads: the longest velocity window, or the longest delayed
        window plus its label delay. An entity idle for longer contributes nothing to any
        feature (an empty entity reads the same), so it can be forgotten."""
        spans = [0.0]
        for b in self.velocity:
            spans += [*b.windows, *b.distinct_windows, *b.ratio_windows, *b.max_ratio_windows]
        for d in self.delayed:
            spans += [d.delay_s + w for w in d.windows]
        return float(max(spans))

    def roles(self) -> list[str]:
        """Entity roles the spec reads (key role first)."""
        out = [self.key_role]
        for r in [b.role for b in self.velocity] + [d.role for d in self.delayed]:
            if r not in out:
                out.append(r)
        return out

    def label_roles(self) -> list[str]:
        """Roles whose state comes from labels alone (delayed blocks, no velocity block, not the
        key): the stream shares them across partitions, fed by the whole labels topic."""
        velocity = {b.role for b in self.velocity} | {self.key_role}
        return [r for r in dict.fromkeys(d.role for d in self.delayed) if r not in velocity]

    def source_fields(self) -> list[str]:
        """Categorical/entity fields read by distinct and novelty features."""
        out: list[str] = []
        for b in self.velocity:
            for f in (*b.distinct, *b.novelty):
                if f not in out:
                    out.append(f)
        return out

    # -- presets --

    @classmethod
    def native(cls) -> FeatureSpec:
        """For the native schema (mappings/native.yaml): per-account velocity and novelty."""
        return cls(
            key_role="account",
            amount=True,
            time=TIME_FEATURES,
            velocity=(
                VelocityBlock(
                    role="account",
                    windows=(HOUR, DAY),
                    aggregates=("count", "sum"),
                    distinct=("merchant", "merchant_country"),
                    distinct_windows=(DAY,),
                    since_last=True,
                    novelty=("device", "beneficiary"),
                ),
            ),
            categorical_fields=(
                "channel",
                "mcc",
                "merchant_country",
                "currency",
                "counterparty_country",
                "ip_country",
                "declared_new_beneficiary",
            ),
        )

    @classmethod
    def handbook(cls, delay_days: float = 7) -> FeatureSpec:
        """The handbook's baseline features (chapter 3.4), computed by the stream's state, plus
        four that the handbook's own scenarios call for: the amount against the card's 30-day
        mean and 14-day maximum (a stolen card's amounts are multiplied), and the terminal's run
        of fraud labels and its age (a compromised terminal's transactions are all fraud for 28
        days). See docs/model.md for what each adds."""
        return cls(
            key_role="account",
            amount=True,
            time=("weekend", "night"),
            night_hours=(0, 6),
            velocity=(
                VelocityBlock(
                    role="card",
                    windows=(DAY, 7 * DAY, 30 * DAY),
                    aggregates=("count", "mean"),
                    ratio_windows=(30 * DAY,),
                    max_ratio_windows=(14 * DAY,),
                ),
            ),
            delayed=(
                DelayedRiskBlock(
                    role="terminal",
                    delay_s=delay_days * DAY,
                    windows=(DAY, 7 * DAY, 30 * DAY),
                    streak=True,
                ),
            ),
        )

    # -- JSON --

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            if not f.init:
                continue
            v = getattr(self, f.name)
            if f.name == "velocity":
                v = [asdict(b) for b in v]
            elif f.name == "delayed":
                v = [asdict(d) for d in v]
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        if not isinstance(d, dict):
            raise FeatureSpecError("a feature spec is a JSON object")
        known = {f.name for f in fields(cls) if f.init}
        unknown = set(d) - known
        if unknown:
            raise FeatureSpecError(f"unknown key {sorted(unknown)[0]!r}; known: {sorted(known)}")
        if d.get("version", 1) != 1:
            raise FeatureSpecError(f"version {d.get('version')!r} is not supported (1)")
        kw = dict(d)
        try:
            kw["velocity"] = tuple(VelocityBlock(**b) for b in d.get("velocity", ()))
            kw["delayed"] = tuple(DelayedRiskBlock(**b) for b in d.get("delayed", ()))
        except TypeError as exc:
            raise FeatureSpecError(f"bad block: {exc}") from None
        return cls(**kw)

    @classmethod
    def from_json(cls, data: bytes | str) -> FeatureSpec:
        return cls.from_dict(orjson.loads(data))
