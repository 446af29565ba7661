"""Per-entity feature state: pure, bounded, serialisable. The same code builds training features.

Theory of operation
-------------------
`FeatureState.process(event)` first *computes* the event's features from the state, then *folds*
the event into the state. `FeatureState.apply_label(label)` folds a delayed verdict into the
delayed-risk state. Nothing else changes the state, so replaying the same events and labels in the
same order gives the same features, in training (`dataset.build_features`) and in the stream.

Window semantics (t = the event's timestamp, W = a window, d = a delayed block's delay):
- velocity windows hold this entity's events with timestamp in (t - W, t], **the current event
  included**, like the handbook's `rolling('Wd')` on a customer's history (so a count is >= 1 and
  `mean` is the mean amount including this transaction). Events already folded with the same
  timestamp count; events folded earlier but timestamped after t (out of order) do not.
- distinct-over-window counts the distinct values of a field among this entity's events in
  (t - W, t], the current event's value included.
- `secs_since_last` is t minus the latest earlier event of the entity (0 if that one is later),
  capped at `since_last_cap_s`; an entity's first event gets the cap.
- `new_F` is 1.0 when the entity has never used the event's value of F before (within the memory
  below), 0.0 otherwise or when the event has no value.
- `amount_ratio_W` is the amount over the mean amount of the entity's events in (t - W, t]
  **without** the current one (1.0 when there are none or their mean is not positive);
  `max_amount_ratio_W` the same over their largest amount. The maximum comes from a monotone
  queue of (time, amount): an event is dropped once a later one is at least as large, so the
  first queued event inside a window is that window's largest.
- `fraud_streak` counts the entity's latest labels, in the order applied, that were all fraud;
  `streak_age_s` is t minus the transaction time of the run's first fraud (0 without a run).
- delayed-risk windows hold the *labels* of this entity's transactions with transaction time in
  (t - d - W, t - d], counted whenever they were applied before this event; `risk` = frauds /
  count, 0 when count is 0. With every transaction labelled exactly d after it happened (the
  handbook protocol, replayed by `build_features`), this equals the handbook's terminal features:
  `rolling(d+W) - rolling(d)` over the terminal's history.

Approximations (all documented bounds, none in the default handbook/native regime):
- Time buckets: events are summed into buckets of `resolution_s` (default 1 s) keyed by
  floor(t / resolution); a bucket is in a window when its start is. Integer-second timestamps are
  exact at the default resolution; otherwise a window edge is off by less than one bucket.
- `max_buckets` per entity and block: an entity that would hold more buckets within its longest
  window has its bucket width doubled (adjacent buckets merged) until it fits, so its window edges
  become accurate to the new width. The width returns to `resolution_s` once all of its buckets
  have expired.
- The max queue holds at most `max_buckets` events per entity (oldest dropped first), and an
  out-of-order event (older than the newest queued) is placed by its time but a window's maximum
  is read for the latest time seen; a label applied out of transaction-time order extends or
  breaks the streak in the order it arrives.
- Distinct and novelty memories keep the `max_distinct` / `max_novelty` most recently seen values
  per entity and field (LRU); a value forgotten and seen again counts as new.
- Out-of-order events (older than what the entity already holds) are folded in the right bucket,
  but expiry and distinct pruning follow the latest time seen, so very late events may see
  slightly fewer old events than an in-order replay would.
- `expire(now, idle_seconds)` forgets whole entities idle that long (no event folded, no label
  applied). Choose idle_seconds >= the longest window (+ delay for delayed blocks) to lose only
  novelty memory and seconds-since-last.

Idempotence (at-least-once replays): `process(event, position)` with a monotone input offset.
The key entity (role `spec.key_role`) remembers the highest position folded; an event at a
position <= that one is a replay: its features are computed from the state as it is (which
already holds it, so it is not counted twice; later events may be in it too), and it is **not**
folded into any entity. `apply_label(label, position, partition)` does the same per entity and
labels-topic partition. Position gating assumes every velocity role is co-partitioned with the key
(card with account); an entity fed from several input partitions must use delayed blocks.

Memory: each role's entities live in an `EntityTable` (`features/entity.py`): the
`hot_capacity` most recently used as objects, the others packed into one bytes string each
(about 175 B instead of 1.3 kB, `fraudstream bench-state`), unpacked when used again. Packing is
exact, so the features do not depend on the capacity.

Serialisation (changelog topics): `dirty()` lists the (role, key) pairs changed since
`clear_dirty()`; `dump(role, key)` is the entity's state as orjson bytes, or None when it was
expired (write a tombstone); `load(role, key, data)` restores it. Dumping and loading is exact:
a state rebuilt from dumps continues bit-for-bit like the uninterrupted one.

Layout
------
This module holds `FeatureState` itself: its construction and the per-event hot path
(`process`, `compute`), kept in one function so that an event costs no call per feature. The
rest lives in role-named modules, with no extra call layer on any path:
- `features/rows.py`: `FeatureRow`, what `process` returns (re-exported here);
- `features/velocity.py`: `_VelocityPlan`, a velocity block compiled for `compute`, and its
  `fold` (an event into an entity's velocity state), with `_count_distinct`;
- `features/label_fold.py`: `LabelFoldMixin` (`apply_label`, `fold_label`) and the delayed
  plans `compute` reads;
- `features/state_store_ops.py`: `StateStoreOpsMixin`, memory bounds (`expire`, `evict`,
  `packed_count`) and serialisation (`dirty`, `dump`, `load`, `snapshot`, `entity_keys`).
The two mixins are inherited, so their methods are `FeatureState`'s own.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable

from fraudstream.events import Event
from fraudstream.features.entity import (
    DEFAULT_HOT_CAPACITY,
    EntityTable,
    PackedTier,
    StateFormatError,
    _Entity,
)
from fraudstream.features.label_fold import LabelFoldMixin, delayed_plans
from fraudstream.features.rows import FeatureRow
from fraudstream.features.spec import FeatureSpec
from fraudstream.features.state_store_ops import StateStoreOpsMixin
from fraudstream.features.velocity import _count_distinct, _VelocityPlan

__all__ = ["FeatureRow", "FeatureState", "StateFormatError"]


class FeatureState(LabelFoldMixin, StateStoreOpsMixin):
    """Per-entity state for a `FeatureSpec`: `process` events, `apply_label` verdicts.

    Labels are folded by `LabelFoldMixin` (`features/label_fold.py`); memory bounds and the
    changelog are `StateStoreOpsMixin` (`features/state_store_ops.py`)."""

    def __init__(
        self,
        spec: FeatureSpec,
        *,
        track_dirty: bool = True,
        shared: FeatureState | None = None,
        hot_capacity: int = DEFAULT_HOT_CAPACITY,
        packed_tier: Callable[[str], PackedTier] | None = None,
    ) -> None:
        """`track_dirty=False` skips the changelog bookkeeping (offline replays). `shared`: take
        the tables of `spec.label_roles()` from that state (by reference) instead of owning them;
        the stream's partitions share one labels-fed state this way. `process` only reads them.
        `hot_capacity`: entities per role kept as objects; the others are packed
        (`features/entity.py`), which changes no feature. `packed_tier`: where a role's packed
        entities go (None: a dict; `features/disk_tier.py`: local disk)."""
        self.spec = spec
        self._track = track_dirty
        self.stream_time = -math.inf
        """The latest event time processed: "now" for `expire` in event time, so that a replay of
        last year's payments expires what last year's stream would have."""
        self._tables = {
            role: EntityTable(hot_capacity, None if packed_tier is None else packed_tier(role))
            for role in spec.roles()
        }
        if shared is not None:
            for role in spec.label_roles():
                self._tables[role] = shared._tables[role]
        self._shared = frozenset(spec.label_roles()) if shared is not None else frozenset()
        self._dirty = set()
        self._numeric_names = tuple(spec.numeric_names)
        self._categorical_names = tuple(spec.categorical_names)
        self._key_role = spec.key_role
        self._key_table = self._tables[spec.key_role]
        self._amount = spec.amount
        self._hour = "hour" in spec.time
        self._weekend = "weekend" in spec.time
        self._night = "night" in spec.time
        self._night_lo, self._night_hi = spec.night_hours
        self._offset = float(spec.utc_offset_s)
        self._res = float(spec.resolution_s)
        self._cap = spec.max_buckets
        self._vplans: list[_VelocityPlan] = []
        for b in spec.velocity:
            self._vplans.append(_VelocityPlan(b, self._tables[b.role], spec))
        self._dplans = delayed_plans(spec, self._tables)
        self._nfields = spec.numeric_fields
        self._cfields = spec.categorical_fields
        self._distinct_tables = list({id(t): t for t in self._tables.values()}.values())

    # -- the hot path --

    def process(self, event: Event, position: int | None = None) -> FeatureRow:
        """The event's features from the state, then the event folded into the state.

        With `position` (a monotone input offset within the partition), an event whose position
        the key entity has already folded is a replay: features are computed, nothing is folded.
        """
        numeric, fold = self.compute(event, position)
        cat = event.categorical
        return FeatureRow(
            numeric,
            [cat.get(f, "") for f in self._cfields],
            event.narrative,
            self._numeric_names,
            self._categorical_names,
            fold,
        )

    def compute(self, event: Event, position: int | None = None) -> tuple[list[float], bool]:
        """`process` without building a `FeatureRow`: (numeric features, folded)."""
        t = event.timestamp
        if t > self.stream_time:
            self.stream_time = t
        for table in self._distinct_tables:  # before any entity of this event is held
            table.settle()
        ents = event.entities
        dirty = self._dirty
        fold = True
        if position is not None:
            k = ents.get(self._key_role)
            if k is not None:
                ke = self._key_table.get(k)
                if ke is None:
                    ke = self._key_table[k] = _Entity()
                if ke.pos >= position:
                    fold = False
                else:
                    ke.pos = position
                    if ke.seen < t:
                        ke.seen = t
                    if self._track:
                        dirty.add((self._key_role, k))

        out: list[float] = [event.amount] if self._amount else []
        if self._hour or self._weekend or self._night:
            local = t + self._offset
            hour = int(local % 86400.0 // 3600.0)
            if self._hour:
                out.append(float(hour))
            if self._weekend:
                out.append(1.0 if (int(local // 86400.0) + 3) % 7 >= 5 else 0.0)
            if self._night:
                lo, hi = self._night_lo, self._night_hi
                night = lo <= hour <= hi if lo <= hi else (hour >= lo or hour <= hi)
                out.append(1.0 if night else 0.0)

        cat = event.categorical
        amount = event.amount
        for p in self._vplans:
            key = ents.get(p.role)
            if key is None:
                out.extend(p.defaults)
                continue
            ent = p.table.get(key)
            if ent is None:
                ent = _Entity()
                if fold:
                    p.table[key] = ent
            last = ent.last
            in_order = last is None or last <= t
            counts = sums = p.zeros
            if p.windows:
                b = ent.vb
                if b is not None:
                    counts, sums = b.sums(t, p.windows)
                inc = 1.0 if fold else 0.0
                add = amount if fold else 0.0
                if p.mode == 1:  # count, sum
                    for c, s in zip(counts, sums, strict=True):
                        out.append(c + inc)
                        out.append(s + add)
                elif p.mode == 2:  # count, mean
                    for c, s in zip(counts, sums, strict=True):
                        c += inc
                        s += add
                        out.append(c)
                        out.append(s / c if c else 0.0)
                else:
                    for c, s in zip(counts, sums, strict=True):
                        c += inc
                        s += add
                        for a in p.aggs:
                            out.append(c if a == 0 else s if a == 1 else (s / c if c else 0.0))
            dvals: list[str | None] = []
            if p.dfields:
                dist = ent.dist
                for f in p.dfields:
                    v = cat.get(f) or ents.get(f)
                    dvals.append(v)
                    d = dist.get(f) if dist is not None else None
                    for w in p.dwindows:
                        out.append(_count_distinct(d, v, t, t - w, in_order, fold))
            if p.since_last:
                if last is None:
                    out.append(p.since_cap)
                else:
                    gap = t - last
                    out.append(0.0 if gap < 0.0 else (gap if gap < p.since_cap else p.since_cap))
            nvals: list[str | None] = []
            if p.nfields:
                nov = ent.nov
                for f in p.nfields:
                    v = cat.get(f) or ents.get(f)
                    nvals.append(v)
                    if v is None:
                        out.append(0.0)
                    else:
                        nd = nov.get(f) if nov is not None else None
                        out.append(0.0 if nd is not None and v in nd else 1.0)
            for i in p.ratio_idx:
                c, s = counts[i], sums[i]
                out.append(amount * c / s if c > 0.0 and s > 0.0 else 1.0)
            if p.mwindows:
                mqt = ent.mqt
                for w in p.mwindows:
                    top = 0.0
                    if mqt:
                        q = bisect_right(mqt, t - w)
                        if q < len(mqt) and mqt[q] <= t:
                            top = ent.mqa[q]
                    out.append(amount / top if top > 0.0 else 1.0)
            if fold:
                p.fold(ent, t, amount, dvals, nvals)
                if self._track:
                    dirty.add((p.role, key))

        for role, table, delay, windows, _, streak in self._dplans:
            key = ents.get(role)
            ent = table.get(key) if key is not None else None
            b = ent.db if ent is not None else None
            if b is None:
                for _w in windows:
                    out.append(0.0)
                    out.append(0.0)
            else:
                counts, frauds = b.sums(t - delay, windows)
                for c, nf in zip(counts, frauds, strict=True):
                    out.append(c)
                    out.append(nf / c if c else 0.0)
            if streak:
                sk = ent.sk if ent is not None else None
                if sk is None or not sk[0]:
                    out.append(0.0)
                    out.append(0.0)
                else:
                    out.append(sk[0])
                    out.append(max(t - sk[1], 0.0))

        if self._nfields:
            num = event.numeric
            for f in self._nfields:
                x = num.get(f)
                out.append(math.nan if x is None else x)
        return out, fold
