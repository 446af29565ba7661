"""The transactions a load test sends: one pool of synthetic records, written once per run.

Every variant and every step reads the same pool from the same place (a step continues where the
previous one stopped and wraps around), so two variants given the same rates see the same
records. Each record is turned into a byte template once, `head + transaction id + tail`, so the
generator's hot loop only joins three byte strings.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

_PLACEHOLDER = "\x00txid\x00"


def synthetic(count: int, seed: int) -> Iterator[dict[str, Any]]:
    """`count` native transactions from the synthetic generator (or simple built ones when it is
    not available)."""
    try:
        from fraudstream.synth import SynthConfig, generate
    except ImportError:  # pragma: no cover - the synthetic generator ships with the package
        from fraudstream.testing import transaction

        for i in range(count):
            yield transaction(transaction_id=f"tx-{i}", account_id=f"acc-{i % 997:04d}")
        return
    yield from generate(count, SynthConfig(seed=seed))


def write_pool(path: Path, count: int, seed: int) -> Path:
    """Write `count` records as JSON lines (once: an existing pool of that name is kept)."""
    if path.is_file():
        return path
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        for record in synthetic(count, seed):
            f.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
    tmp.rename(path)
    return path


def template(record: dict[str, Any]) -> tuple[bytes, bytes, bytes]:
    """(key, head, tail): the record's bytes are `head + transaction_id + tail`."""
    body = {"transaction_id": _PLACEHOLDER, **{k: v for k, v in record.items()}}
    body["transaction_id"] = _PLACEHOLDER
    raw = orjson.dumps(body)
    marker = orjson.dumps(_PLACEHOLDER)[1:-1]
    head, sep, tail = raw.partition(marker)
    assert sep, "the placeholder must appear in the encoded record"
    return str(record["account_id"]).encode(), head, tail


def load_templates(path: Path) -> list[tuple[bytes, bytes, bytes]]:
    with path.open("rb") as f:
        return [template(orjson.loads(line)) for line in f if line.strip()]
