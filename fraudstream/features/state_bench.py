"""`fraudstream bench-state`: what the per-entity state costs, in memory and time (the memory
side of `features/bench.py`, which times the per-record core).

Folds one event for each of N new accounts (the native spec, the stream's own `FeatureState`),
then measures what a worker pays for them (clearing the changed-entities set every
`FLUSH_EVERY` events, as the stream's commits do): resident memory per entity, time per event, the bytes
of their changelog records, the time to restore them from those records (the CPU side of a
restore; reading them from the broker comes on top), and one eviction pass over the limit. Twice,
side by side, each in a fresh process: with every entity kept as an object, with the default
`state_hot_entities` (the rest packed, `features/entity.py`), and the same with the packed tier
on local disk (`state_backend: rocksdb`, `features/disk_tier.py`; RSS then includes RocksDB's
write buffers and block cache). The changelog records go through a file, so that ten million
entities fit. A benchmark that prints figures, not a test: run it on an idle machine.
"""

from __future__ import annotations

import gc
import json
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


RUNS = ("objects", "packed", "rocksdb")
"""The runs: every entity as an object; the default `state_hot_entities` as objects and the
rest packed in memory; the same with the packed tier on local disk (`state_backend: rocksdb`)."""


def _state(run: str, hot: int, state_dir: Path | None) -> tuple[Any, Any]:
    """A fresh native-spec state for `run`, and its disk store (None in memory)."""
    from fraudstream.features import FeatureSpec, FeatureState

    if run != "rocksdb":
        return FeatureState(FeatureSpec.native(), hot_capacity=hot), None
    from fraudstream.features.disk_tier import DiskStore

    store = DiskStore(state_dir)
    state = FeatureState(FeatureSpec.native(), hot_capacity=hot, packed_tier=store.tier)
    return state, store


def _disk_bytes(store: Any) -> int:
    if store is None:
        return 0
    store.db.flush()
    return sum(f.stat().st_size for f in store.path.rglob("*") if f.is_file())


def fold(
    run: str, entities: int, hot: int, records: Path, state_dir: Path | None
) -> dict[str, Any]:
    """Fold one event for each of `entities` new accounts; the figures. The changelog records
    go to `records` (length-prefixed), for `restore` in another process."""
    from fraudstream.events import Event

    gc.collect()
    before = _rss_bytes()
    state, store = _state(run, hot, state_dir)
    t0 = 1_767_225_600.0  # 2026-01-01
    categorical = {"channel": "card_present", "currency": "EUR", "mcc": "5411", "country": "GB"}
    started = time.perf_counter()
    for i in range(entities):
        event = Event(
            f"tx-{i}",
            t0 + i * 0.01,
            42.0,
            "TESCO STORES",
            {"account": f"acc-{i:09d}"},
            categorical=categorical,
        )
        state.process(event, i)
        if i % FLUSH_EVERY == FLUSH_EVERY - 1:
            # the stream writes the changed entities to the changelog and forgets which they
            # were at every commit; without it the set of 10 million keys would be measured
            state.clear_dirty()
    fold_s = time.perf_counter() - started
    gc.collect()
    grown = _rss_bytes() - before
    held = len(state)
    disk = _disk_bytes(store)
    started = time.perf_counter()
    changelog_bytes = 0
    with open(records, "wb") as out:
        for role, key in state.entity_keys():
            value = state.dump(role, key) or b""
            head = f"{role}\x1f{key}".encode()
            out.write(_LEN.pack(len(head), len(value)) + head + value)
            changelog_bytes += len(head) + len(value)
    dump_s = time.perf_counter() - started
    started = time.perf_counter()
    evicted = state.evict(int(held / 0.9 * 0.5))  # down to half
    evict_s = time.perf_counter() - started
    if store is not None:
        store.close()
    return {
        "backend": "rocksdb" if run == "rocksdb" else "memory",
        "hot_capacity": hot,
        "entities": held,
        "rss_growth_mb": round(grown / 1e6, 1),
        "bytes_per_entity": round(grown / max(held, 1)),
        "disk_bytes_per_entity": round(disk / max(held, 1)),
        "fold_us_per_event": round(fold_s / max(entities, 1) * 1e6, 2),
        "changelog_bytes_per_entity": round(changelog_bytes / max(held, 1)),
        "dump_s": round(dump_s, 2),
        "evicted": evicted,
        "evict_s": round(evict_s, 3),
    }


_LEN = struct.Struct("<II")
FLUSH_EVERY = 10_000
"""Events between two commits of the fold (250 ms of a 40,000 tx/s stream)."""


def _records(path: Path) -> Iterator[tuple[str, str, bytes]]:
    with open(path, "rb") as f:
        while head := f.read(_LEN.size):
            n_key, n_value = _LEN.unpack(head)
            role, _, key = f.read(n_key).decode().partition("\x1f")
            yield role, key, f.read(n_value)


def restore(run: str, records: Path, hot: int, state_dir: Path | None) -> dict[str, Any]:
    """Restore a state from changelog records, as a new owner does: time and memory."""
    gc.collect()
    before = _rss_bytes()
    state, store = _state(run, hot, state_dir)
    started = time.perf_counter()
    for role, key, value in _records(records):
        state.load(role, key, value)
    restore_s = time.perf_counter() - started
    held = len(state)
    gc.collect()
    grown = _rss_bytes() - before
    disk = _disk_bytes(store)
    if store is not None:
        store.close()
    return {
        "restore_s": round(restore_s, 2),
        "restore_entities_per_s": round(held / max(restore_s, 1e-9)),
        "restored_bytes_per_entity": round(grown / max(held, 1)),
        "restored_disk_bytes_per_entity": round(disk / max(held, 1)),
    }


def measure(run: str, entities: int, hot: int, state_dir: Path | None) -> dict[str, Any]:
    """`fold`, then `restore` its records, each in a fresh process: the resident memory of one
    is not the next one's (freed objects stay in the allocator's pools)."""
    import multiprocessing
    import tempfile
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")
    with tempfile.TemporaryDirectory(dir=state_dir) as tmp:
        records = Path(tmp) / "changelog.bin"
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            result = pool.submit(fold, run, entities, hot, records, state_dir).result()
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            result.update(pool.submit(restore, run, records, hot, state_dir).result())
    return result


@click.command("bench-state")
@click.option(
    "--entities",
    type=click.IntRange(min=1),
    default=1_000_000,
    show_default=True,
    help="New accounts to fold (one event each).",
)
@click.option(
    "--hot",
    type=click.IntRange(min=1),
    default=None,
    help="Entities kept as objects in the packed runs [default: state_hot_entities].",
)
@click.option(
    "--runs",
    default=",".join(RUNS),
    show_default=True,
    help="Which of objects, packed (in memory), rocksdb (packed on local disk) to run.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the rocksdb run and the changelog records go [default: the temporary folder].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON document.")
def bench_state(
    entities: int, hot: int | None, runs: str, state_dir: Path | None, as_json: bool
) -> None:
    """Memory per entity, time per event, changelog size and restore time of the state."""
    from fraudstream.config import Settings

    chosen = [r.strip() for r in runs.split(",") if r.strip()]
    unknown = sorted(set(chosen) - set(RUNS))
    if unknown or not chosen:
        raise click.BadParameter(
            f"unknown run {', '.join(unknown) or '(none)'}; choose from {', '.join(RUNS)}",
            param_hint="--runs",
        )
    if "rocksdb" in chosen:
        Settings(state_backend="rocksdb").check()  # a clear message without rocksdict
    packed_hot = hot if hot is not None else Settings().state_hot_entities
    results = {
        run: measure(run, entities, max(entities, 1) if run == "objects" else packed_hot, state_dir)
        for run in chosen
    }
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    for name, result in results.items():
        disk = (
            f", {result['disk_bytes_per_entity']:,} B each on disk"
            if result["backend"] == "rocksdb"
            else ""
        )
        click.echo(
            f"{name} (hot {result['hot_capacity']:,}): {result['entities']:,} entities: "
            f"+{result['rss_growth_mb']:,} MB RSS ({result['bytes_per_entity']:,} B each{disk}), "
            f"{result['fold_us_per_event']} us per event; changelog "
            f"{result['changelog_bytes_per_entity']} B per entity, restored in "
            f"{result['restore_s']} s ({result['restore_entities_per_s']:,} entities/s, CPU "
            f"side), {result['restored_bytes_per_entity']:,} B each once restored; evicting "
            f"{result['evicted']:,} took {result['evict_s']} s"
        )
