"""One processor worker for the fault tests: `python -m loadtest.chaos_worker --bootstrap ...`.

The real processor (`Worker.run` with the SIGTERM/SIGINT handlers, exactly as `fraudstream
run` runs it) with `FakeScoring` instead of the language model, so that a kill, a bounce or a
rebalance is not hidden behind model loading time. Differences from `fraudstream run`, each on
purpose:

* the fake model (keyword rule, optional per-batch delay, optional poisonous text);
* a 6 s consumer session timeout (the broker's minimum) instead of aiokafka's 10 s, so that each
  kill -9 costs the group less waiting for the dead member;
* `--stuck-commit-every N --stuck-commit-s S`: every Nth transaction commit of this worker is
  delayed by S seconds (exactly_once), the "slow or stuck commit path" fault.

Prints the processor's counters as JSON on stdout; exits 0 after a clean drain, 1 when the
processor stopped on an unrecoverable error (the chaos supervisor then starts a new worker, as a
container orchestrator would).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from fraudstream.config import Settings
from fraudstream.features import FeatureSpec
from fraudstream.stream.app import load_mapping
from fraudstream.stream.clients import make_consumer
from fraudstream.stream.worker import Worker
from fraudstream.testing import FakeScoring, prefixed_settings

SESSION_TIMEOUT_MS = 6000


def chaos_settings(
    bootstrap: str,
    prefix: str,
    *,
    partitions: int = 3,
    guarantee: str = "at_least_once",
    **changes: Any,
) -> Settings:
    """The settings every fault test and chaos scenario uses for topics named after `prefix`
    (with the processor's own commit interval, unlike the other tests' quicker one)."""
    changes.setdefault("commit_interval_ms", Settings().commit_interval_ms)
    return prefixed_settings(
        bootstrap,
        prefix,
        partitions=partitions,
        processing_guarantee=guarantee,
        **changes,
    )


def stuck_commits(every: int, seconds: float) -> Callable[[int], Awaitable[None]]:
    """A checkpoint hook that delays every `every`-th transaction commit by `seconds`."""
    commits = 0

    async def hook(partition: int) -> None:
        nonlocal commits
        commits += 1
        if every and commits % every == 0:
            logging.getLogger(__name__).warning(
                "chaos: delaying the commit of partition %d by %.1f s", partition, seconds
            )
            await asyncio.sleep(seconds)

    return hook


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m loadtest.chaos_worker")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument(
        "--guarantee", choices=["at_least_once", "exactly_once"], default="at_least_once"
    )
    p.add_argument("--exit-when-idle", type=float, default=None)
    p.add_argument("--commit-interval-ms", type=int, default=100)
    p.add_argument("--shutdown-timeout-s", type=float, default=15.0)
    p.add_argument("--transaction-timeout-ms", type=int, default=60_000)
    p.add_argument("--max-in-flight", type=int, default=4096)
    p.add_argument("--batch-delay-s", type=float, default=0.0)
    p.add_argument("--fail-on", default=None)
    p.add_argument("--stuck-commit-every", type=int, default=0)
    p.add_argument("--stuck-commit-s", type=float, default=0.0)
    p.add_argument("--worker-id", default=None)
    return p.parse_args(argv)


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    settings = chaos_settings(
        args.bootstrap,
        args.prefix,
        partitions=args.partitions,
        guarantee=args.guarantee,
        commit_interval_ms=args.commit_interval_ms,
        shutdown_timeout_s=args.shutdown_timeout_s,
        transaction_timeout_ms=args.transaction_timeout_ms,
        max_in_flight=args.max_in_flight,
    )
    settings.check()
    scoring = FakeScoring(batch_delay_s=args.batch_delay_s, fail_on=args.fail_on)
    worker = Worker(
        settings,
        scoring,
        mapping=load_mapping(settings),
        spec=FeatureSpec.native(),
        worker_id=args.worker_id,
        # a short session: a killed member's partitions move within seconds
        consumer_factory=functools.partial(
            make_consumer, session_timeout_ms=SESSION_TIMEOUT_MS, heartbeat_interval_ms=1000
        ),
    )
    worker.checkpoint.before_commit = stuck_commits(args.stuck_commit_every, args.stuck_commit_s)
    counters = await worker.run(exit_when_idle=args.exit_when_idle, owns_process=True)
    return counters.as_dict()


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    try:
        counters = asyncio.run(amain(args))
    except RuntimeError as exc:
        print(f"worker stopped: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(orjson.dumps(counters).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
