"""What the state store asks of a `FeatureState`: memory bounds and changelog serialisation.

Neither runs per event: the stream's state store (`stream/state_store.py`) and the offline tools
call them now and then.

Memory bounds: `expire(now, idle_seconds)` forgets entities with no event or label for that long;
`evict(limit)` forgets the least recently seen ones once the state holds more than `limit`
(a batch, down to `keep * limit`). Either way the forgotten entities become dirty, and their dump
is None: a tombstone on the changelog. `len(state)` and `packed_count()` say what is held.
Tables shared from another state (`FeatureState(shared=...)`, the label-fed roles) are that
state's to expire, evict and write, so they are skipped here.

Serialisation (changelog topics): `dirty()` lists the (role, key) pairs changed since
`clear_dirty()`; `dump(role, key)` is the entity's state as orjson bytes, or None when it was
expired (write a tombstone); `load(role, key, data)` restores it. Dumping and loading is exact:
a state rebuilt from dumps continues bit-for-bit like the uninterrupted one.

`StateStoreOpsMixin` is a mixin that `FeatureState` inherits, rather than functions its methods
delegate to, so that `state.evict`, `state.dump`, ... stay the state's own methods (their
signatures and docstrings in one place, no forwarding layer). It reads the state's attributes
declared below, which `FeatureState.__init__` sets.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

import orjson

from fraudstream.features.entity import EntityTable, StateFormatError


class StateStoreOpsMixin:
    """The memory-bound and changelog side of `FeatureState`."""

    _tables: dict[str, EntityTable]
    _shared: frozenset[str]
    _dirty: set[tuple[str, str]]

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

    def expire(self, now: float, idle_seconds: float, budget: int | None = None) -> int:
        """Forget entities with no event or label for `idle_seconds`; they become dirty (dump
        returns None: a tombstone). Returns how many were forgotten. `budget`: look at no more
        than this many entities per table, continuing the sweep where the last call left it
        (`EntityTable.sweep`; the stream's maintenance, so that a pass over millions of
        entities is spread over many); None: every entity now."""
        horizon = now - idle_seconds
        gone = 0
        for role, table in self._tables.items():
            if role in self._shared:
                continue  # the owner of the shared tables expires them
            if budget is None:
                old = [k for k, seen in table.seen_items() if seen < horizon]
            else:
                old = table.sweep(horizon, budget)
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
