"""Micro-benchmarks of the per-record pure core: `python -m fraudstream.features.bench`.

Prints CPU microseconds per event (process time, so other load on a shared machine inflates it
less than wall time would) for `Mapping.to_event` and `FeatureState.process` on a synthetic
native stream, and `FeatureState.process` with the handbook spec. `--handbook PATH` also builds
the full handbook feature table from the CSV and prints its time and peak memory.
A calibration figure (`sum(range(1000))`, ~8-10 us on an idle modern core under CPython 3.11)
is printed alongside, so figures from different machines or loads can be compared.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import time
from collections.abc import Callable

from fraudstream.events import Event
from fraudstream.features.spec import FeatureSpec
from fraudstream.features.state import FeatureState
from fraudstream.mapping import Mapping


def calibration_us() -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.process_time()
        for _ in range(200):
            sum(range(1000))
        best = min(best, (time.process_time() - t0) / 200 * 1e6)
    return best


def native_records(n: int, seed: int = 1) -> list[dict[str, object]]:
    """n native wire records: 5,000 accounts, ~1 event/s, a few devices and payees each."""
    rng = random.Random(seed)
    t = 1_767_225_600.0
    out: list[dict[str, object]] = []
    for i in range(n):
        t += rng.expovariate(1.0)
        acct = rng.randrange(5000)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"
        out.append(
            {
                "transaction_id": f"tx-{i}",
                "account_id": f"acc-{acct}",
                "card_id": f"card-{acct}",
                "timestamp": stamp,
                "amount": round(rng.lognormvariate(3, 1), 2),
                "currency": "EUR",
                "narrative": "CARD PAYMENT ACME",
                "channel": "card_present",
                "merchant": {
                    "name": f"M{rng.randrange(300)}",
                    "mcc": "5411",
                    "country": rng.choice(["FR", "DE", "GB"]),
                },
                "counterparty": {
                    "name": "x",
                    "account": f"B{rng.randrange(5)}",
                    "country": "FR",
                    "new_beneficiary": False,
                },
                "device": {"id": f"D{acct}-{rng.randrange(3)}", "ip_country": "FR"},
            }
        )
    return out


def per_item_us(items: list[object], fn: Callable[[object], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for x in items:
            fn(x)
        best = min(best, (time.process_time() - t0) / len(items) * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200_000, help="events per benchmark")
    parser.add_argument("--handbook", help="path of the handbook transactions.csv.gz")
    args = parser.parse_args()

    print(f"cpus: {os.cpu_count()}; calibration sum(range(1000)): {calibration_us():.1f} us")
    mapping = Mapping.load("native")
    records = native_records(args.n)
    print(f"native to_event:        {per_item_us(records, mapping.to_event):6.2f} us/record")  # type: ignore[arg-type]
    events = [e for e in map(mapping.to_event, records) if isinstance(e, Event)]

    def run(spec: FeatureSpec, evs: list[Event], with_position: bool) -> float:
        best = float("inf")
        for _ in range(3):
            state = FeatureState(spec)
            process = state.process
            t0 = time.process_time()
            if with_position:
                for i, e in enumerate(evs):
                    process(e, i)
            else:
                for e in evs:
                    process(e)
            best = min(best, (time.process_time() - t0) / len(evs) * 1e6)
        return best

    print(f"native process:         {run(FeatureSpec.native(), events, True):6.2f} us/event")
    hb = [
        Event(
            e.transaction_id,
            e.timestamp * 20,  # ~2 events per card per day, as in the handbook
            e.amount,
            "",
            {
                "account": e.entities["account"],
                "card": e.entities["account"],
                "terminal": e.entities["merchant"],
            },
        )
        for e in events
    ]
    print(f"handbook process:       {run(FeatureSpec.handbook(), hb, False):6.2f} us/event")
    print(f"calibration again: {calibration_us():.1f} us")

    if args.handbook:
        from fraudstream.features.dataset import build_features, iter_events

        t0 = time.perf_counter()
        c0 = time.process_time()
        table = build_features(
            iter_events(args.handbook, Mapping.load("handbook")),
            FeatureSpec.handbook(),
            label_delay_s=7 * 86400,
        )
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"handbook build: {len(table)} rows in {wall:.1f} s wall, {cpu:.1f} s CPU "
            f"({cpu / len(table) * 1e6:.1f} us/row: read + map + features), peak RSS {peak:.0f} MB"
        )


if __name__ == "__main__":
    main()
