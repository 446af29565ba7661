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
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import orjson

from fraudstream.events import Event, LabelEvent
from fraudstream.features.entity import (
    DEFAULT_HOT_CAPACITY,
    EntityTable,
    PackedTier,
    StateFormatError,
    _Buckets,
    _Entity,
)
from fraudstream.features.spec import FeatureSpec, VelocityBlock


@dataclass(slots=True)
class FeatureRow:
    """One event's features, in the spec's order."""

    numeric: list[float]
    categorical: list[str]
    narrative: str
    numeric_names: Sequence[str]
    """The spec's numeric names (shared, do not mutate)."""
    categorical_names: Sequence[str]
    folded: bool = True
    """False when the event was a replay (position already folded) and changed no state."""

    def named(self) -> dict[str, float]:
        """Numeric features by name (for reason codes, logs)."""
        return dict(zip(self.numeric_names, self.numeric, strict=True))

    def named_categorical(self) -> dict[str, str]:
        return dict(zip(self.categorical_names, self.categorical, strict=True))


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
        "max_dw",
        "max_mw",
        "max_w",
        "mode",
        "mwindows",
        "nfields",
        "ratio_idx",
        "role",
        "since_cap",
        "since_last",
        "table",
        "windows",
        "zeros",
    )

    def __init__(self, b: VelocityBlock, table: EntityTable, max_buckets: int) -> None:
        self.role = b.role
        self.table = table
        self.windows = tuple(float(w) for w in b.windows)
        self.aggs = tuple(("count", "sum", "mean").index(a) for a in b.aggregates)
        # the two common shapes are unrolled in process(): 1 = count, sum; 2 = count, mean
        self.mode = 1 if self.aggs == (0, 1) else 2 if self.aggs == (0, 2) else 0
        self.zeros = [0.0] * len(b.windows)
        self.dfields = b.distinct
        self.dwindows = tuple(float(w) for w in b.distinct_windows)
        self.since_last = b.since_last
        self.since_cap = float(b.since_last_cap_s)
        self.nfields = b.novelty
        self.max_w = max(self.windows, default=0.0)
        self.max_dw = max(self.dwindows, default=0.0)
        self.cap = max_buckets
        self.ratio_idx = tuple(b.windows.index(w) for w in b.ratio_windows)
        self.mwindows = tuple(float(w) for w in b.max_ratio_windows)
        self.max_mw = max(self.mwindows, default=0.0)
        defaults = [0.0] * (len(b.windows) * len(b.aggregates))
        defaults += [0.0] * (len(b.distinct) * len(b.distinct_windows))
        defaults += [self.since_cap] if b.since_last else []
        defaults += [0.0] * len(b.novelty)
        defaults += [1.0] * (len(b.ratio_windows) + len(b.max_ratio_windows))
        self.defaults = defaults


class FeatureState:
    """Per-entity state for a `FeatureSpec`: `process` events, `apply_label` verdicts."""

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
        self._tables: dict[str, EntityTable] = {
            role: EntityTable(hot_capacity, None if packed_tier is None else packed_tier(role))
            for role in spec.roles()
        }
        if shared is not None:
            for role in spec.label_roles():
                self._tables[role] = shared._tables[role]
        self._shared = frozenset(spec.label_roles()) if shared is not None else frozenset()
        self._dirty: set[tuple[str, str]] = set()
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
        self._max_distinct = spec.max_distinct
        self._max_novelty = spec.max_novelty
        self._vplans: list[_VelocityPlan] = []
        for b in spec.velocity:
            self._vplans.append(_VelocityPlan(b, self._tables[b.role], spec.max_buckets))
        self._dplans = [
            (
                d.role,
                self._tables[d.role],
                float(d.delay_s),
                tuple(float(w) for w in d.windows),
                float(d.delay_s) + max(d.windows),
                d.streak,
            )
            for d in spec.delayed
        ]
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
                self._fold(p, ent, t, amount, dvals, nvals)
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

    def _fold(
        self,
        p: _VelocityPlan,
        ent: _Entity,
        t: float,
        amount: float,
        dvals: list[str | None],
        nvals: list[str | None],
    ) -> None:
        if p.windows:
            b = ent.vb
            if b is None:
                b = ent.vb = _Buckets(self._res)
            b.prune(t - p.max_w, self._res)  # first, so an idle entity's width resets
            b.add(t, 1.0, amount, p.cap)
        if p.mwindows:
            self._fold_max(p, ent, t, amount)
        if p.dfields:
            dist = ent.dist
            if dist is None:
                dist = ent.dist = {}
            horizon = t - p.max_dw
            cap = self._max_distinct
            for f, v in zip(p.dfields, dvals, strict=True):
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
                while len(d) > cap:
                    del d[next(iter(d))]
        if p.nfields:
            nov = ent.nov
            if nov is None:
                nov = ent.nov = {}
            cap = self._max_novelty
            for f, v in zip(p.nfields, nvals, strict=True):
                if v is None:
                    continue
                nd = nov.get(f)
                if nd is None:
                    nd = nov[f] = {}
                elif v in nd:
                    del nd[v]  # most recently seen goes last
                nd[v] = None
                if len(nd) > cap:
                    del nd[next(iter(nd))]
        if ent.last is None or ent.last < t:
            ent.last = t
        if ent.seen < t:
            ent.seen = t

    @staticmethod
    def _fold_max(p: _VelocityPlan, ent: _Entity, t: float, amount: float) -> None:
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
            if mqt[0] <= t - p.max_mw or len(mqt) > p.cap:
                drop = max(bisect_right(mqt, t - p.max_mw), len(mqt) - p.cap)
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
        horizon = mqt[-1] - p.max_mw
        drop = bisect_right(mqt, horizon)
        drop = max(drop, len(mqt) - p.cap)
        if drop > 0:
            del mqt[:drop]
            del mqa[:drop]

    def apply_label(
        self, label: LabelEvent, position: int | None = None, partition: int = 0
    ) -> None:
        """Fold a verdict into the delayed-risk state of each entity named in `label.entities`.

        With `position` (offset within labels-topic `partition`), a label at or below the highest
        position an entity has folded from that partition is a replay and is ignored.
        """
        self.fold_label(
            label.transaction_timestamp,
            label.known_at,
            label.is_fraud,
            label.entities,
            position,
            partition,
            previous=label.previous,
        )

    def fold_label(
        self,
        transaction_timestamp: float,
        known_at: float,
        is_fraud: bool,
        entities: dict[str, str],
        position: int | None = None,
        partition: int = 0,
        *,
        previous: bool | None = None,
    ) -> None:
        """`apply_label` without building a `LabelEvent` (offline replays of millions).
        `previous`: this verdict corrects that earlier one on the same transaction: the
        transaction stays counted once, its fraud count moves by the difference (nothing when
        its bucket has left every window), and the streak goes on as for a new label."""
        fraud = 1.0 if is_fraud else 0.0
        count = 1.0
        if previous is not None:
            count = 0.0
            fraud -= 1.0 if previous else 0.0
        for table in self._distinct_tables:
            table.settle()
        for role, table, _delay, _windows, span, streak in self._dplans:
            key = entities.get(role)
            if key is None:
                continue
            ent = table.get(key)
            if ent is None:
                ent = table[key] = _Entity()
            if position is not None:
                if ent.lpos is None:
                    ent.lpos = {}
                if ent.lpos.get(partition, -1) >= position:
                    continue
                ent.lpos[partition] = position
            b = ent.db
            if b is None:
                b = ent.db = _Buckets(self._res)
            b.prune(known_at - span, self._res)
            if count or transaction_timestamp > known_at - span:
                b.add(transaction_timestamp, count, fraud, self._cap)
            if streak:
                sk = ent.sk
                if sk is None:
                    sk = ent.sk = [0.0, 0.0]
                if is_fraud:
                    if not sk[0]:
                        sk[1] = transaction_timestamp
                    sk[0] += 1.0
                else:
                    sk[0] = sk[1] = 0.0
            if ent.seen < known_at:
                ent.seen = known_at
            if self._track:
                self._dirty.add((role, key))

    # -- memory --

    def evict(self, limit: int, keep: float = 0.9) -> int:
        """Over `limit` entities: forget the least recently seen until `keep * limit` are left
        (a batch, so that eviction runs now and then, not on every event); they become dirty
        (tombstones), like expired ones. Returns how many were forgotten."""
        owned = [(role, t) for role, t in self._tables.items() if role not in self._shared]
        total = sum(len(t) for _, t in owned)
        if limit <= 0 or total <= limit:
            return 0
        drop = total - int(limit * keep)
        # ties in time go by role and key: the same choice whichever tier an entity is in
        oldest = heapq.nsmallest(
            drop, ((seen, role, k) for role, t in owned for k, seen in t.seen_items())
        )
        for _, role, k in oldest:
            del self._tables[role][k]
            self._dirty.add((role, k))
        return len(oldest)

    def expire(self, now: float, idle_seconds: float) -> int:
        """Forget entities with no event or label for `idle_seconds`; they become dirty (dump
        returns None: a tombstone). Returns how many were forgotten."""
        horizon = now - idle_seconds
        gone = 0
        for role, table in self._tables.items():
            if role in self._shared:
                continue  # the owner of the shared tables expires them
            old = [k for k, seen in table.seen_items() if seen < horizon]
            for k in old:
                del table[k]
                self._dirty.add((role, k))
            gone += len(old)
        return gone

    def __len__(self) -> int:
        return sum(len(t) for t in self._tables.values())

    def packed_count(self) -> int:
        """Entities held packed (the rest of `len(self)` are objects)."""
        return sum(len(t.packed) for t in self._tables.values())

    def entity_keys(self) -> Iterator[tuple[str, str]]:
        for role, table in self._tables.items():
            for k in table:
                yield role, k

    # -- serialisation --

    def dirty(self) -> set[tuple[str, str]]:
        """(role, key) of the entities changed or expired since `clear_dirty()` (a copy); shared
        label-fed entities are not this state's to write."""
        if self._shared:
            return {rk for rk in self._dirty if rk[0] not in self._shared}
        return set(self._dirty)

    def has_dirty(self) -> bool:
        """Whether anything changed or expired since `clear_dirty()` (cheap: no copy)."""
        if not self._shared:
            return bool(self._dirty)
        return any(rk[0] not in self._shared for rk in self._dirty)

    def clear_dirty(self) -> None:
        self._dirty.clear()

    def dump(self, role: str, key: str) -> bytes | None:
        """The entity's state as bytes (orjson), or None when it no longer exists."""
        table = self._tables.get(role)
        return table.dump(key) if table is not None else None

    def load(self, role: str, key: str, data: bytes | None) -> None:
        """Restore one entity from `dump` output; None or b"" (a tombstone) forgets it."""
        table = self._tables.get(role)
        if table is None:
            return  # a role this spec does not use (the spec changed): ignore
        if not data:
            table.pop(key, None)
            return
        try:
            obj = orjson.loads(data)
            if not isinstance(obj, dict):
                raise StateFormatError("not a JSON object")
            table.load(key, obj)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise StateFormatError(f"cannot load state of {role} {key!r}: {exc}") from exc

    def snapshot(self) -> dict[tuple[str, str], bytes]:
        """Every entity's dump (tests and debugging; the stream uses dirty/dump)."""
        out: dict[tuple[str, str], bytes] = {}
        for role, key in self.entity_keys():
            data = self.dump(role, key)
            assert data is not None
            out[(role, key)] = data
        return out
