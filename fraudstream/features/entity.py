"""One entity's remembered state, and a role's table of them, compact when idle.

Theory of operation
-------------------
`_Entity` holds what the features of `state.py` need about one entity (one role, one key):
velocity buckets (`_Buckets`: time buckets with prefix sums), distinct and novelty memories, the
max queue, the delayed-risk buckets and the fraud streak. As Python objects an entity costs about
1.3 kB (small lists, dicts, floats: measured by `fraudstream bench-state`), too much for a bank's
tens of millions of cards.

`EntityTable` keeps a role's entities in two tiers:

* **hot**: the `hot_capacity` most recently used, as objects, in least-recently-used order;
* **packed**: the others, each as one `bytes`: its last activity time (8 bytes, so that
  `expire` and `evict` read it without unpacking) and its state as a positional JSON list (the
  changelog's record without the field names). In a dict, or on local disk with `state_backend:
  rocksdb` (`features/disk_tier.py`): the same bytes either way.

A packed entity is unpacked when an event or a label touches it again. Packing is exact: an
entity packed and unpacked continues bit-for-bit like one that stayed an object, so features do
not depend on the capacity (a property test checks it). Packing runs in `settle()`, which the
state calls before it takes references to any entity of an event, so an entity is never packed
while the hot path holds it.
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final, Protocol

import orjson

FORMAT_VERSION: Final = 1
_REBASE_AT: Final = 1e9  # keep prefix sums small so differences stay precise


class StateFormatError(ValueError):
    """A dumped entity state that cannot be loaded."""


class _Buckets:
    """Sorted time buckets with inclusive prefix sums of a count and a value.

    idx[k] is a bucket's index (its start is idx[k] * res); cc[k], cs[k] are the sums of counts and
    values of all buckets up to and including k, starting from bc, bs (what was pruned).
    A window is then two bisections and two subtractions, whatever its size.
    """

    __slots__ = ("bc", "bs", "cc", "cs", "idx", "res")

    def __init__(self, res: float) -> None:
        self.res = res
        self.idx: list[int] = []
        self.cc: list[float] = []
        self.cs: list[float] = []
        self.bc = 0.0
        self.bs = 0.0

    def add(self, t: float, count: float, value: float, cap: int) -> None:
        bi = int(t // self.res)
        idx = self.idx
        n = len(idx)
        if n and idx[-1] == bi:
            self.cc[-1] += count
            self.cs[-1] += value
            return
        if not n or idx[-1] < bi:
            idx.append(bi)
            if n:
                self.cc.append(self.cc[-1] + count)
                self.cs.append(self.cs[-1] + value)
            else:
                self.cc.append(self.bc + count)
                self.cs.append(self.bs + value)
        else:  # out of order: into its bucket, and every later prefix sum grows
            cc, cs = self.cc, self.cs
            p = bisect_left(idx, bi)
            if idx[p] != bi:
                idx.insert(p, bi)
                cc.insert(p, cc[p - 1] if p else self.bc)
                cs.insert(p, cs[p - 1] if p else self.bs)
                n += 1
            for k in range(p, n):
                cc[k] += count
                cs[k] += value
        if len(idx) > cap:
            self._coarsen(cap)

    def _coarsen(self, cap: int) -> None:
        while len(self.idx) > cap:
            self.res *= 2.0
            idx: list[int] = []
            cc: list[float] = []
            cs: list[float] = []
            for i, c, s in zip(self.idx, self.cc, self.cs, strict=True):
                j = i // 2
                if idx and idx[-1] == j:
                    cc[-1] = c
                    cs[-1] = s
                else:
                    idx.append(j)
                    cc.append(c)
                    cs.append(s)
            self.idx, self.cc, self.cs = idx, cc, cs

    def prune(self, before: float, base_res: float) -> None:
        """Forget buckets starting at or before `before`."""
        idx = self.idx
        if not idx or idx[0] * self.res > before:
            return
        k = bisect_right(idx, before // self.res)
        if k == len(idx):
            idx.clear()
            self.cc.clear()
            self.cs.clear()
            self.bc = self.bs = 0.0
            self.res = base_res
            return
        self.bc = self.cc[k - 1]
        self.bs = self.cs[k - 1]
        del idx[:k]
        del self.cc[:k]
        del self.cs[:k]
        if abs(self.bs) > _REBASE_AT or self.bc > _REBASE_AT:
            bc, bs = self.bc, self.bs
            self.cc = [c - bc for c in self.cc]
            self.cs = [s - bs for s in self.cs]
            self.bc = self.bs = 0.0

    def sums(self, t: float, windows: Sequence[float]) -> tuple[list[float], list[float]]:
        """For each window W: (count, value) summed over buckets starting in (t - W, t]."""
        idx = self.idx
        n = len(idx)
        if not n:
            return [0.0] * len(windows), [0.0] * len(windows)
        res = self.res
        tb = t // res
        hk = n if idx[-1] <= tb else bisect_right(idx, tb)
        if not hk:
            return [0.0] * len(windows), [0.0] * len(windows)
        cc, cs = self.cc, self.cs
        top_c = cc[hk - 1]
        top_s = cs[hk - 1]
        counts: list[float] = []
        values: list[float] = []
        for w in windows:
            lk = bisect_right(idx, (t - w) // res, 0, hk)
            if lk:
                c = top_c - cc[lk - 1]
                s = top_s - cs[lk - 1]
            else:
                c = top_c - self.bc
                s = top_s - self.bs
            if c <= 0.0:
                c = s = 0.0
            counts.append(c)
            values.append(s)
        return counts, values

    def dump(self) -> list[Any]:
        return [self.res, self.bc, self.bs, self.idx, self.cc, self.cs]

    @classmethod
    def restore(cls, data: list[Any]) -> _Buckets:
        res, bc, bs, idx, cc, cs = data
        b = cls(float(res))
        b.bc, b.bs = float(bc), float(bs)
        b.idx, b.cc, b.cs = list(idx), [float(c) for c in cc], [float(s) for s in cs]
        if not len(b.idx) == len(b.cc) == len(b.cs):
            raise StateFormatError("bucket lists of different lengths")
        return b


class _Entity:
    """Everything remembered about one entity (one role, one key)."""

    __slots__ = ("db", "dist", "last", "lpos", "mqa", "mqt", "nov", "pos", "seen", "sk", "vb")

    def __init__(self) -> None:
        self.pos = -1  # highest input position folded (key role only)
        self.last: float | None = None  # latest event timestamp folded
        self.seen = -math.inf  # latest activity (event or label), for expire()
        self.vb: _Buckets | None = None  # velocity buckets: count, amount
        self.dist: dict[str, dict[str, float]] | None = None  # field -> value -> last time
        self.nov: dict[str, dict[str, None]] | None = None  # field -> values (LRU order)
        self.db: _Buckets | None = None  # delayed buckets: labels, frauds
        self.lpos: dict[int, int] | None = None  # labels partition -> highest position
        self.mqt: list[float] | None = None  # max queue: times (ascending) ...
        self.mqa: list[float] = []  # ... and amounts (strictly descending)
        self.sk: list[float] | None = None  # fraud streak: [length, first fraud's time]

    def to_json(self) -> dict[str, Any]:
        return {
            "v": FORMAT_VERSION,
            "pos": self.pos,
            "last": self.last,
            "seen": None if self.seen == -math.inf else self.seen,
            "vb": None if self.vb is None else self.vb.dump(),
            "dist": None
            if self.dist is None
            else {f: [[v, ts] for v, ts in d.items()] for f, d in self.dist.items()},
            "nov": None if self.nov is None else {f: list(d) for f, d in self.nov.items()},
            "db": None if self.db is None else self.db.dump(),
            "lpos": None if self.lpos is None else {str(p): q for p, q in self.lpos.items()},
            "mq": None if self.mqt is None else [self.mqt, self.mqa],
            "sk": self.sk,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> _Entity:
        if d.get("v") != FORMAT_VERSION:
            raise StateFormatError(f"state format {d.get('v')!r}, expected {FORMAT_VERSION}")
        e = cls()
        e.pos = int(d["pos"])
        e.last = None if d["last"] is None else float(d["last"])
        e.seen = -math.inf if d["seen"] is None else float(d["seen"])
        e.vb = None if d["vb"] is None else _Buckets.restore(d["vb"])
        if d["dist"] is not None:
            e.dist = {f: {str(v): float(ts) for v, ts in pairs} for f, pairs in d["dist"].items()}
        if d["nov"] is not None:
            e.nov = {f: dict.fromkeys(map(str, vals)) for f, vals in d["nov"].items()}
        e.db = None if d["db"] is None else _Buckets.restore(d["db"])
        if d["lpos"] is not None:
            e.lpos = {int(p): int(q) for p, q in d["lpos"].items()}
        mq = d.get("mq")  # absent in dumps written before these features existed
        if mq is not None:
            e.mqt = [float(x) for x in mq[0]]
            e.mqa = [float(x) for x in mq[1]]
            if len(e.mqt) != len(e.mqa):
                raise StateFormatError("max queue lists of different lengths")
        sk = d.get("sk")
        if sk is not None:
            e.sk = [float(sk[0]), float(sk[1])]
        return e


_FIELDS: Final = ("v", "pos", "last", "seen", "vb", "dist", "nov", "db", "lpos", "mq", "sk")
"""`_Entity.to_json`'s keys, in its order: a packed entity is the list of their values."""
_SEEN = struct.Struct("<d")


def pack(ent: _Entity) -> bytes:
    return pack_json(ent.to_json())


def pack_json(doc: dict[str, Any]) -> bytes:
    """A packed entity from its changelog record (`_Entity.to_json`, parsed)."""
    seen = doc.get("seen")
    return _SEEN.pack(-math.inf if seen is None else float(seen)) + orjson.dumps(
        [doc.get(f) for f in _FIELDS]
    )


def unpack(data: bytes) -> _Entity:
    return _Entity.from_json(dict(zip(_FIELDS, orjson.loads(data[_SEEN.size :]), strict=True)))


def packed_json(data: bytes) -> bytes:
    """The changelog record (`_Entity.to_json`, as bytes) of a packed entity."""
    return orjson.dumps(dict(zip(_FIELDS, orjson.loads(data[_SEEN.size :]), strict=True)))


DEFAULT_HOT_CAPACITY: Final = 100_000


class PackedTier(Protocol):
    """Where a table's packed entities are kept: a dict (memory), or a view on local disk
    (`features/disk_tier.py`, `state_backend: rocksdb`)."""

    def get(self, key: str, /) -> bytes | None: ...
    def pop(self, key: str, default: None, /) -> bytes | None: ...
    def __setitem__(self, key: str, value: bytes, /) -> None: ...
    def __delitem__(self, key: str, /) -> None: ...
    def __contains__(self, key: object, /) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[str]: ...
    def items(self) -> Iterable[tuple[str, bytes]]: ...


class EntityTable:
    """A role's entities by key: the recently used as objects, the rest packed (see above).

    The mapping operations the state uses (`get`, item assignment and deletion, `pop`, `len`,
    iteration over keys) see both tiers alike.
    """

    __slots__ = ("_sweep", "capacity", "hot", "packed")

    def __init__(
        self, capacity: int = DEFAULT_HOT_CAPACITY, packed: PackedTier | None = None
    ) -> None:
        self.capacity = max(1, capacity)
        self.hot: dict[str, _Entity] = {}
        """Least recently used first (a hit moves the entity to the end)."""
        self.packed: PackedTier = dict[str, bytes]() if packed is None else packed
        self._sweep: Iterator[tuple[str, float]] | None = None
        """The expiry sweep under way (`sweep`), None between two."""

    def get(self, key: str) -> _Entity | None:
        hot = self.hot
        ent = hot.pop(key, None)
        if ent is None:
            data = self.packed.pop(key, None)
            if data is None:
                return None
            ent = unpack(data)
        hot[key] = ent
        return ent

    def __setitem__(self, key: str, ent: _Entity) -> None:
        self.packed.pop(key, None)
        self.hot.pop(key, None)
        self.hot[key] = ent

    def __delitem__(self, key: str) -> None:
        if self.hot.pop(key, None) is None:
            del self.packed[key]

    def pop(self, key: str, default: Any = None) -> Any:
        ent = self.hot.pop(key, None)
        if ent is not None:
            return ent
        data = self.packed.pop(key, None)
        return default if data is None else unpack(data)

    def __contains__(self, key: object) -> bool:
        return key in self.hot or key in self.packed

    def __len__(self) -> int:
        return len(self.hot) + len(self.packed)

    def _packed_items(self) -> Iterable[tuple[str, bytes]]:
        # a dict is copied, so that the caller may delete as it goes; a disk tier's iterator
        # reads a snapshot, and copying it would bring the whole tier into memory
        packed = self.packed
        return list(packed.items()) if isinstance(packed, dict) else packed.items()

    def __iter__(self) -> Iterator[str]:
        yield from list(self.hot)
        for k, _ in self._packed_items():
            yield k

    def seen_items(self) -> Iterator[tuple[str, float]]:
        """(key, latest activity) of every entity, without unpacking any."""
        for k, e in list(self.hot.items()):
            yield k, e.seen
        unpack_seen = _SEEN.unpack_from
        for k, data in self._packed_items():
            yield k, unpack_seen(data)[0]

    def seen(self, key: str) -> float | None:
        """An entity's latest activity now (None: there is none), without unpacking it."""
        ent = self.hot.get(key)
        if ent is not None:
            return ent.seen
        data = self.packed.get(key)
        return None if data is None else _SEEN.unpack_from(data)[0]

    def sweep(self, horizon: float, budget: int) -> list[str]:
        """Continue the expiry sweep: look at up to `budget` more entities and return those
        whose latest activity is before `horizon`. A sweep walks every entity present when it
        began (the hot keys and the packed ones as a list of keys, or the disk tier's snapshot
        iterator); one that looks idle is checked as it is now (it may have been used since);
        the next sweep begins when one ends. Bounded work per call, so that expiring millions
        of entities never stalls the event loop."""
        out: list[str] = []
        if self._sweep is None:
            self._sweep = self._sweep_items()
        for k, seen in self._sweep:
            if seen < horizon:
                now = self.seen(k)
                if now is not None and now < horizon:
                    out.append(k)
            budget -= 1
            if budget <= 0:
                return out
        self._sweep = None
        return out

    def _sweep_items(self) -> Iterator[tuple[str, float]]:
        packed = self.packed
        # the keys as they are now (a copy: the tiers change between two calls); a disk tier
        # is read through its iterator, a snapshot, instead of copying millions of keys
        keys: list[str] = [*self.hot, *packed] if isinstance(packed, dict) else list(self.hot)
        for k in keys:
            seen = self.seen(k)
            if seen is not None:
                yield k, seen
        if not isinstance(packed, dict):
            unpack_seen = _SEEN.unpack_from
            for k, data in packed.items():
                if k not in self.hot:  # else met above, or used since
                    yield k, unpack_seen(data)[0]

    def dump(self, key: str) -> bytes | None:
        """The changelog record of `key`'s entity (None: there is none), leaving it as it is."""
        ent = self.hot.get(key)
        if ent is not None:
            return orjson.dumps(ent.to_json())
        data = self.packed.get(key)
        return None if data is None else packed_json(data)

    def load(self, key: str, doc: dict[str, Any]) -> None:
        """Restore an entity from its changelog record: as an object while the hot tier has
        room, else packed straight away (checked by reading it once, then dropped)."""
        ent = _Entity.from_json(doc)
        if len(self.hot) < self.capacity:
            self[key] = ent
            return
        self.hot.pop(key, None)
        self.packed[key] = pack_json(doc)

    def settle(self) -> None:
        """Pack the least recently used entities over the capacity."""
        hot = self.hot
        over = len(hot) - self.capacity
        if over <= 0:
            return
        keys = list(_take(hot, over))
        put_new = getattr(self.packed, "put_new", None)
        if put_new is not None:  # a disk tier: one write batch (a hot entity is never packed)
            put_new((key, pack(hot.pop(key))) for key in keys)
            return
        packed = self.packed
        for key in keys:
            packed[key] = pack(hot.pop(key))


def _take(d: dict[str, Any], n: int) -> Iterator[str]:
    for i, key in enumerate(d):
        if i >= n:
            return
        yield key
