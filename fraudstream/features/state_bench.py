"""`fraudstream bench-state`: what the per-entity state costs, in memory and time (the memory
side of `features/bench.py`, which times the per-record core).

Folds one event for each of N new accounts (the native spec, the stream's own `FeatureState`),
then measures what a worker pays for them: resident memory per entity, time per event, the bytes
of their changelog records, the time to restore them from those records (the CPU side of a
restore; reading them from the broker comes on top), and one eviction pass over the limit. Twice,
side by side, each in a fresh process: with every entity kept as an object, and with the
default `state_hot_entities` (the rest packed, `features/entity.py`). A benchmark that prints
figures, not a test: run it on an idle machine.
"""

from __future__ import annotations

import gc
import json
import time
from typing import Any

import click


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def fold(entities: int, hot: int) -> dict[str, Any]:
    """Fold one event for each of `entities` new accounts; the figures, and the changelog
    records (under "_records") for `restore` in another process."""
    from fraudstream.events import Event
    from fraudstream.features import FeatureSpec, FeatureState

    spec = FeatureSpec.native()
    state = FeatureState(spec, hot_capacity=hot)
    t0 = 1_767_225_600.0  # 2026-01-01
    categorical = {"channel": "card_present", "currency": "EUR", "mcc": "5411", "country": "GB"}
    gc.collect()
    before = _rss_bytes()
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
    fold_s = time.perf_counter() - started
    gc.collect()
    grown = _rss_bytes() - before
    held = len(state)
    started = time.perf_counter()
    records = [(role, key, state.dump(role, key)) for role, key in state.entity_keys()]
    dump_s = time.perf_counter() - started
    changelog_bytes = sum(len(v or b"") + len(k) + len(r) + 1 for r, k, v in records)
    started = time.perf_counter()
    evicted = state.evict(int(held / 0.9 * 0.5))  # down to half
    evict_s = time.perf_counter() - started
    return {
        "backend": "memory",
        "hot_capacity": hot,
        "entities": held,
        "rss_growth_mb": round(grown / 1e6, 1),
        "bytes_per_entity": round(grown / max(held, 1)),
        "fold_us_per_event": round(fold_s / max(entities, 1) * 1e6, 2),
        "changelog_bytes_per_entity": round(changelog_bytes / max(held, 1)),
        "dump_s": round(dump_s, 2),
        "evicted": evicted,
        "evict_s": round(evict_s, 3),
        "_records": records,
    }


def restore(records: list[tuple[str, str, bytes | None]], hot: int) -> dict[str, Any]:
    """Restore a state from changelog records, as a new owner does: time and memory."""
    from fraudstream.features import FeatureSpec, FeatureState

    gc.collect()
    before = _rss_bytes()
    state = FeatureState(FeatureSpec.native(), hot_capacity=hot)
    started = time.perf_counter()
    for role, key, value in records:
        state.load(role, key, value)
    restore_s = time.perf_counter() - started
    held = len(state)
    records.clear()
    gc.collect()
    grown = _rss_bytes() - before
    return {
        "restore_s": round(restore_s, 2),
        "restore_entities_per_s": round(held / max(restore_s, 1e-9)),
        "restored_bytes_per_entity": round(grown / max(held, 1)),
    }


def measure(entities: int, hot: int) -> dict[str, Any]:
    """`fold`, then `restore` its records, each in a fresh process: the resident memory of one
    is not the next one's (freed objects stay in the allocator's pools)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        result = pool.submit(fold, entities, hot).result()
    records = result.pop("_records")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        result.update(pool.submit(restore, records, hot).result())
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
    help="Entities kept as objects in the packed run [default: state_hot_entities].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON document.")
def bench_state(entities: int, hot: int | None, as_json: bool) -> None:
    """Memory per entity, time per event, changelog size and restore time of the state."""
    from fraudstream.config import Settings

    packed_hot = hot if hot is not None else Settings().state_hot_entities
    results = {
        "objects": measure(entities, max(entities, 1)),
        "packed": measure(entities, packed_hot),
    }
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    for name, result in results.items():
        click.echo(
            f"{name} (hot {result['hot_capacity']:,}): {result['entities']:,} entities: "
            f"+{result['rss_growth_mb']:,} MB RSS ({result['bytes_per_entity']:,} B each), "
            f"{result['fold_us_per_event']} us per event; changelog "
            f"{result['changelog_bytes_per_entity']} B per entity, restored in "
            f"{result['restore_s']} s ({result['restore_entities_per_s']:,} entities/s, CPU "
            f"side), {result['restored_bytes_per_entity']:,} B each once restored; evicting "
            f"{result['evicted']:,} took {result['evict_s']} s"
        )
