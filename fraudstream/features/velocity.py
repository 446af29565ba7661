"""Velocity blocks compiled for the hot path: the plan, and how an event is folded into it.

A `VelocityBlock` of the spec (`features/spec.py`) names windows, aggregates, distinct and
novelty fields, seconds-since-last and amount ratios for one role. `_VelocityPlan` is that block
turned into what the per-event code reads without further work: float windows, aggregate codes,
the defaults of an event without that entity, the caps of the spec (bucket count, distinct and
novelty memories) and the entity table of the role.

Reading a plan's features is unrolled inside `FeatureState.compute` (`features/state.py`), the
per-event hot path, so that it costs no call per block. Folding an event into an entity is
`_VelocityPlan.fold`, called once per block and event that is folded, as the state's own
`_fold` method was before: the same single call, now next to the data it reads. The window
semantics and approximations are in `features/state.py`'s header.
"""

from __future__ import annotations

from bisect import bisect_right

from fraudstream.features.entity import EntityTable, _Buckets, _Entity
from fraudstream.features.spec import FeatureSpec, VelocityBlock


def _count_distinct(
    d: dict[str, float] | None, v: str | None, t: float, lo: float, in_order: bool, include: bool
) -> float:
    """Distinct values in d last seen in (lo, t], plus the current value v when `include`."""
    n = 0
    has_v = False
    if d:
        if in_order:  # every value was last seen at or before t: skip the stale head
            stale = 0
            for ts in d.values():
                if ts > lo:
                    break
                stale += 1
            n = len(d) - stale
            if v is not None:
                seen = d.get(v)
                has_v = seen is not None and seen > lo
        else:
            for val, ts in d.items():
                if lo < ts <= t:
                    n += 1
                    if val == v:
                        has_v = True
    if include and v is not None and not has_v:
        n += 1
    return float(n)


class _VelocityPlan:
    """A velocity block compiled for the hot path."""

    __slots__ = (
        "aggs",
        "cap",
        "defaults",
        "dfields",
        "dwindows",
        "max_distinct",
        "max_dw",
        "max_mw",
        "max_novelty",
        "max_w",
        "mode",
        "mwindows",
        "nfields",
        "ratio_idx",
        "res",
        "role",
        "since_cap",
        "since_last",
        "table",
        "windows",
        "zeros",
    )

    def __init__(self, b: VelocityBlock, table: EntityTable, spec: FeatureSpec) -> None:
        self.role = b.role
        self.table = table
        self.windows = tuple(float(w) for w in b.windows)
        self.aggs = tuple(("count", "sum", "mean").index(a) for a in b.aggregates)
        # the two common shapes are unrolled in compute(): 1 = count, sum; 2 = count, mean
        self.mode = 1 if self.aggs == (0, 1) else 2 if self.aggs == (0, 2) else 0
        self.zeros = [0.0] * len(b.windows)
        self.dfields = b.distinct
        self.dwindows = tuple(float(w) for w in b.distinct_windows)
        self.since_last = b.since_last
        self.since_cap = float(b.since_last_cap_s)
        self.nfields = b.novelty
        self.max_w = max(self.windows, default=0.0)
        self.max_dw = max(self.dwindows, default=0.0)
        self.cap = spec.max_buckets
        self.res = float(spec.resolution_s)
        self.max_distinct = spec.max_distinct
        self.max_novelty = spec.max_novelty
        self.ratio_idx = tuple(b.windows.index(w) for w in b.ratio_windows)
        self.mwindows = tuple(float(w) for w in b.max_ratio_windows)
        self.max_mw = max(self.mwindows, default=0.0)
        defaults = [0.0] * (len(b.windows) * len(b.aggregates))
        defaults += [0.0] * (len(b.distinct) * len(b.distinct_windows))
        defaults += [self.since_cap] if b.since_last else []
        defaults += [0.0] * len(b.novelty)
        defaults += [1.0] * (len(b.ratio_windows) + len(b.max_ratio_windows))
        self.defaults = defaults

    def fold(
        self,
        ent: _Entity,
        t: float,
        amount: float,
        dvals: list[str | None],
        nvals: list[str | None],
    ) -> None:
        """Fold one event (time, amount, its distinct and novelty values) into `ent`."""
        if self.windows:
            b = ent.vb
            if b is None:
                b = ent.vb = _Buckets(self.res)
            b.prune(t - self.max_w, self.res)  # first, so an idle entity's width resets
            b.add(t, 1.0, amount, self.cap)
        if self.mwindows:
            self._fold_max(ent, t, amount)
        if self.dfields:
            dist = ent.dist
            if dist is None:
                dist = ent.dist = {}
            horizon = t - self.max_dw
            most = self.max_distinct
            for f, v in zip(self.dfields, dvals, strict=True):
                d = dist.get(f)
                if d is None:
                    d = dist[f] = {}
                if v is not None:
                    old = d.pop(v, None)
                    d[v] = t if old is None or old < t else old
                drop: list[str] | None = None
                for val, ts in d.items():  # oldest first: forget what left the longest window
                    if ts > horizon:
                        break
                    if drop is None:
                        drop = [val]
                    else:
                        drop.append(val)
                if drop is not None:
                    for val in drop:
                        del d[val]
                while len(d) > most:
                    del d[next(iter(d))]
        if self.nfields:
            nov = ent.nov
            if nov is None:
                nov = ent.nov = {}
            most = self.max_novelty
            for f, v in zip(self.nfields, nvals, strict=True):
                if v is None:
                    continue
                nd = nov.get(f)
                if nd is None:
                    nd = nov[f] = {}
                elif v in nd:
                    del nd[v]  # most recently seen goes last
                nd[v] = None
                if len(nd) > most:
                    del nd[next(iter(nd))]
        if ent.last is None or ent.last < t:
            ent.last = t
        if ent.seen < t:
            ent.seen = t

    def _fold_max(self, ent: _Entity, t: float, amount: float) -> None:
        """Fold (t, amount) into the entity's monotone max queue."""
        mqt = ent.mqt
        if mqt is None:
            mqt = ent.mqt = []
            ent.mqa = []
        mqa = ent.mqa
        if not mqt or mqt[-1] <= t:  # in order, the common case: drop the smaller tail, append
            while mqa and mqa[-1] <= amount:
                mqa.pop()
                mqt.pop()
            mqt.append(t)
            mqa.append(amount)
            if mqt[0] <= t - self.max_mw or len(mqt) > self.cap:
                drop = max(bisect_right(mqt, t - self.max_mw), len(mqt) - self.cap)
                del mqt[:drop]
                del mqa[:drop]
            return
        k = bisect_right(mqt, t)
        if k < len(mqt) and mqa[k] >= amount:
            pass  # a later event is at least as large: this one is never a window's maximum
        else:
            mqt.insert(k, t)
            mqa.insert(k, amount)
            j = k
            while j and mqa[j - 1] <= amount:  # earlier and no larger: never a maximum again
                j -= 1
            if j < k:
                del mqt[j:k]
                del mqa[j:k]
        horizon = mqt[-1] - self.max_mw
        drop = bisect_right(mqt, horizon)
        drop = max(drop, len(mqt) - self.cap)
        if drop > 0:
            del mqt[:drop]
            del mqa[:drop]
