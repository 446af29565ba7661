"""Micro-benchmark: scheduler cost per item (add + poll) at a fixed arrival rate.

Simulated time (FakeClock); wall-clock time of the scheduler's own calls, and the thread CPU
time of the whole loop (which a busy machine does not inflate). The loop is the worst case for
the scheduler: it polls after every single arrival (a Kafka runner would poll once per fetched
chunk), at every Wait.until and when the engine frees. The simulated engine has a fixed linear
cost that the latency model learns from a prior twice too pessimistic.

    python -m loadtest.bench_scheduler [--rate 10000] [--items 200000] [--budget-ms 50]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import time
import timeit

from fraudstream.batching import (
    Dispatch,
    FakeClock,
    Idle,
    Item,
    LatencyModel,
    LatencyPrior,
    Scheduler,
    Wait,
)


def service_time(size: int, padded_len: int) -> float:
    """The simulated engine, GPU-like: 1 ms per call, 5 us per sequence, 0.1 us per token."""
    return 0.001 + size * (0.000005 + 1e-7 * padded_len)


def run(
    rate: float, items: int, budget_s: float, seed: int, fetch_s: float = 0.0
) -> dict[str, float]:
    rng = random.Random(seed)
    # The model starts from a prior twice too pessimistic and learns the engine's true cost.
    model = LatencyModel(LatencyPrior(base=0.002, per_item=0.00001, per_token=2e-7))
    sched: Scheduler[int] = Scheduler(
        max_batch_size=256,
        token_budget=8192,
        bucket_edges=(16, 32, 64, 128),
        model=model,
        margin=0.008,
    )
    clock = FakeClock()
    arrivals = []
    t = 0.0
    for k in range(items):
        t += rng.expovariate(rate)
        # With fetch_s, records are read in chunks, as a Kafka consumer fetches them.
        read_at = math.ceil(t / fetch_s) * fetch_s if fetch_s > 0 else t
        arrivals.append((read_at, k, min(250, max(1, int(rng.lognormvariate(3.3, 0.6))))))

    add_s = poll_s = 0.0
    polls = 0
    running_end: float | None = None
    running: Dispatch[int] | None = None
    prepared: Dispatch[int] | None = None
    wake = math.inf
    i = 0
    perf = time.perf_counter

    def fill() -> None:
        nonlocal running, running_end, prepared, wake, poll_s, polls
        wake = math.inf
        while prepared is None:
            now = clock.now()
            t0 = perf()
            decision = sched.poll(now, running_end)
            poll_s += perf() - t0
            polls += 1
            if isinstance(decision, Wait):
                wake = decision.until
                return
            if isinstance(decision, Idle):
                return
            if running is None:
                running = decision
                running_end = now + service_time(len(decision.batch), decision.padded_len)
            else:
                prepared = decision

    cpu0 = time.thread_time()
    while True:
        nxt = arrivals[i][0] if i < len(arrivals) else math.inf
        end = running_end if running_end is not None else math.inf
        at = min(nxt, end, wake)
        if at == math.inf:
            break
        clock.set(at)
        if running is not None and end == at:
            sched.complete(running, service_time(len(running.batch), running.padded_len))
            running, running_end = None, None
            if prepared is not None:
                running, prepared = prepared, None
                running_end = at + service_time(len(running.batch), running.padded_len)
        while i < len(arrivals) and arrivals[i][0] == at:
            _, k, tokens = arrivals[i]
            item = Item(payload=k, deadline=at + budget_s, tokens=tokens)
            t0 = perf()
            sched.add(item)
            add_s += perf() - t0
            i += 1
        if prepared is None:
            fill()

    cpu = time.thread_time() - cpu0
    s = sched.stats
    return {
        "loop_cpu_us": cpu / items * 1e6,
        "items": s.items,
        "add_us": add_s / items * 1e6,
        "poll_us": poll_s / items * 1e6,
        "total_us": (add_s + poll_s) / items * 1e6,
        "polls_per_item": polls / items,
        "batches": s.batches,
        "mean_batch": s.mean_batch_size,
        "late": s.late,
        "padding_efficiency": s.padding_efficiency,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10_000.0, help="arrivals per second")
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--budget-ms", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--fetch-ms",
        type=float,
        default=0.0,
        help="read records in chunks every this many ms, one poll per chunk (0: poll per record)",
    )
    args = parser.parse_args()
    r = run(args.rate, args.items, args.budget_ms / 1000.0, args.seed, args.fetch_ms / 1000.0)
    calibration = min(timeit.repeat("sum(x)", "x = [1, 2, 3]", number=100_000, repeat=20)) * 1e4
    print(
        f"scheduler micro-benchmark: {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}"
    )
    print(
        f"calibration: {calibration:.0f} ns per sum([1, 2, 3]) "
        "(roughly 40-50 ns on a quiet recent x86 core; scale the figures below by the ratio)"
    )
    print(
        f"rate {args.rate:.0f}/s, {r['items']:.0f} items, budget {args.budget_ms:g} ms, "
        f"fetch every {args.fetch_ms:g} ms"
    )
    print(
        f"cost per item: add {r['add_us']:.2f} us + poll {r['poll_us']:.2f} us "
        f"= {r['total_us']:.2f} us ({r['polls_per_item']:.2f} polls/item, wall clock)"
    )
    print(
        f"whole simulated loop, thread CPU time: {r['loop_cpu_us']:.2f} us/item "
        "(an upper bound that includes the simulation; robust on a busy machine)"
    )
    print(
        f"batches {r['batches']:.0f}, mean size {r['mean_batch']:.1f}, late items {r['late']:.0f}, "
        f"padding efficiency {r['padding_efficiency']:.2f}"
    )


if __name__ == "__main__":
    main()
