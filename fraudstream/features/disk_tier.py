"""The packed tier of the feature state on local disk (`state_backend: rocksdb`), for state larger
than memory.

Theory of operation
-------------------
`EntityTable` (`features/entity.py`) keeps a role's most recently used entities as objects and
the others packed, one `bytes` each. With the memory backend the packed tier is a dict; with this
one it is a view (`DiskTier`) on one RocksDB database per worker process (`DiskStore`, through
`rocksdict`, the binding quix-streams uses), each table under its own key prefix. The bytes are
the same, so features do not depend on the backend.

The database is a cache of the changelog topic, not a source of truth: it is created empty in a
fresh folder when the worker starts and deleted when it stops, and a partition's state is
restored from the changelog as with the memory backend. So nothing on disk has to survive a
crash, no write-ahead log is kept, and two workers on one machine never share a folder. What stays
in memory per packed entity is nothing: the count of entries per tier is kept here, and the
keys live in RocksDB alone.

`rocksdict` is an optional dependency (`pip install 'fraudstream[rocksdb]'`); the memory backend
never imports it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

_SEP = b"\x1f"


def _rocksdict() -> Any:
    try:
        import rocksdict
    except ImportError:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "state_backend: rocksdb needs the rocksdict package; fix: pip install "
            "'fraudstream[rocksdb]', or FRAUDSTREAM_STATE_BACKEND=memory"
        ) from None
    return rocksdict


class DiskStore:
    """One RocksDB database in a fresh folder under `parent` (the system's temporary folder by
    default), removed by `close`."""

    def __init__(self, parent: Path | None = None, *, cache_mb: int = 64) -> None:
        rd = _rocksdict()
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix="fraudstream-state-", dir=parent))
        options = rd.Options(raw_mode=True)
        options.create_if_missing(True)
        # Small write buffers and a bounded block cache: the point of this backend is a small
        # resident size; reads of packed entities are rare (the hot tier takes the traffic).
        options.set_write_buffer_size(16 * 1024 * 1024)
        options.set_max_write_buffer_number(2)
        table = rd.BlockBasedOptions()
        table.set_block_cache(rd.Cache(cache_mb * 1024 * 1024))
        options.set_block_based_table_factory(table)
        options.set_compression_type(rd.DBCompressionType.lz4())
        self.db = rd.Rdict(str(self.path), options=options)
        write = rd.WriteOptions()
        write.disable_wal = True  # a cache of the changelog: nothing to recover after a crash
        self.db.set_write_options(write)
        self._rd = rd
        self._tiers: dict[str, DiskTier] = {}

    def tier(self, name: str) -> DiskTier:
        """The packed tier named `name` (e.g. partition and role), empty when first asked."""
        tier = self._tiers.get(name)
        if tier is None:
            tier = self._tiers[name] = DiskTier(self, name.encode())
        return tier

    def drop(self, name: str) -> None:
        """Forget a tier and everything in it (a revoked partition's state)."""
        tier = self._tiers.pop(name, None)
        if tier is not None:
            tier.clear()

    def close(self) -> None:
        self._tiers.clear()
        try:
            self.db.close()
        finally:
            shutil.rmtree(self.path, ignore_errors=True)


class DiskTier:
    """The dict operations `EntityTable` uses on its packed tier, over one key prefix of a
    `DiskStore` (keys are str, values bytes)."""

    __slots__ = ("_db", "_n", "_prefix", "_store")

    def __init__(self, store: DiskStore, name: bytes) -> None:
        self._store = store
        self._db = store.db
        self._prefix = name + _SEP
        self._n = 0

    def _key(self, key: str) -> bytes:
        return self._prefix + key.encode()

    def get(self, key: str, /) -> bytes | None:
        value: bytes | None = self._db.get(self._key(key))
        return value

    def pop(self, key: str, default: None = None, /) -> bytes | None:
        k = self._key(key)
        value: bytes | None = self._db.get(k)
        if value is None:
            return default
        self._db.delete(k)
        self._n -= 1
        return value

    def __setitem__(self, key: str, value: bytes, /) -> None:
        k = self._key(key)
        if self._db.get(k) is None:
            self._n += 1
        self._db.put(k, value)

    def put_new(self, items: Iterable[tuple[str, bytes]]) -> None:
        """Write entities known not to be in this tier (packing from the hot tier), in one
        batch."""
        batch = self._store._rd.WriteBatch(raw_mode=True)
        n = 0
        for key, value in items:
            batch.put(self._key(key), value)
            n += 1
        if n:
            self._db.write(batch)
            self._n += n

    def __delitem__(self, key: str, /) -> None:
        if self.pop(key, None) is None:
            raise KeyError(key)

    def __contains__(self, key: object, /) -> bool:
        return isinstance(key, str) and self._db.get(self._key(key)) is not None

    def __len__(self) -> int:
        return self._n

    def items(self) -> Iterator[tuple[str, bytes]]:
        prefix = self._prefix
        skip = len(prefix)
        for k, v in self._db.items(from_key=prefix):
            if not k.startswith(prefix):
                return
            yield k[skip:].decode(), v

    def __iter__(self) -> Iterator[str]:
        for key, _ in self.items():
            yield key

    def clear(self) -> None:
        # [prefix, prefix with its separator + 1): every key of this tier, nothing else
        self._db.delete_range(self._prefix, self._prefix[:-1] + bytes([_SEP[0] + 1]))
        self._n = 0
