"""`fraudstream chaos <scenario> --json`: fault injection under load, counted from the outside.

Every scenario runs real processor workers as subprocesses (`loadtest/chaos_worker.py`: the real
`Worker` with `FakeScoring` instead of the language model, see there why), feeds them an
open-loop stream of transactions, injects its fault, lets the last worker drain, and then counts
with an independent `read_committed` reader (`stream/audit.py`), never with the workers' logs:

* **missing**: transaction ids the generator had acknowledged by the broker that have no score;
* **duplicates**: scores beyond the first per transaction id (0 is promised in exactly_once mode;
  at_least_once promises only missing = 0 and reports its duplicates);
* **duplicate_alerts**: the same for alerts.

Scenarios: `kill9` (SIGKILL at random moments, a new worker each time, both modes), `bounce`
(stop and start the broker), `rebalance` (workers 1 -> 2 -> 3 -> 1), `stuck-commit` (exactly_once
transaction commits delayed past `transaction_timeout_ms`, and slow ones below it), `zombie`
(exactly_once: a worker frozen past its session timeout, then woken up, must be fenced), `hostile`
(malformed input and payments in disguise, 26 kinds, mixed with good input: every payment gets a
decision), `sigterm` (drain and exit 0), and
`all`. The pytest fault tests (tests/integration/test_faults.py) call the same functions with
smaller counts.

Scenarios that stop the broker (`bounce`) always start their own local broker; the others use
`--bootstrap` or, without it, a private local broker that is stopped at the end.

The parts: `chaos_data.py` (good and hostile inputs), `chaos_processes.py` (the processes under
test and their supervisor), `chaos_load.py` (the load, the output watch, the count, and
`under_load`, the shape the scenarios share); this module holds the scenarios and the command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import re
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import orjson

from fraudstream.stream.audit import read_topic
from loadtest.chaos_data import EVASIONS, REVIEWED, _tx_id, good_record, hostile_records
from loadtest.chaos_load import Generator, prepare, tally, under_load
from loadtest.chaos_processes import Env, Worker

__all__ = ["Env", "Worker", "chaos", "good_record"]


# ------------------------------------------------------------------------------------------ scenarios


async def kill9(
    env: Env, *, kills: int = 20, rate: float = 500.0, seed: int = 1, batch_delay_s: float = 0.002
) -> dict[str, Any]:
    """SIGKILL the worker at random moments under load, `kills` times, a new worker each time."""
    rng = random.Random(seed)
    env.worker_args = (*env.worker_args, "--batch-delay-s", str(batch_delay_s))
    resume: list[float] = []
    async with under_load(env, rate) as run:
        sup = run.sup
        worker = sup.start()
        for _ in range(kills):
            resume.append(await worker.wait_assigned())
            await asyncio.sleep(rng.uniform(0.3, 2.0))
            worker.signal(signal.SIGKILL)
            sup.workers.remove(worker)
            worker.reap(5.0)
            worker = sup.start()
        resume.append(await worker.wait_assigned())
        await run.finish()
    return await run.report(
        "kill9",
        kills=kills,
        rate_per_s=rate,
        fatal_restarts=run.restarts,
        mean_rejoin_s=round(sum(resume[1:]) / max(1, len(resume) - 1), 2),
    )


async def bounce(
    env: Env,
    *,
    broker: Any,
    bounces: int = 1,
    down_s: float = 5.0,
    rate: float = 300.0,
) -> dict[str, Any]:
    """Stop and start the (scenario's own) broker under load."""
    resume: list[float | None] = []
    stalls: list[float] = []
    async with under_load(env, rate, watch=True, idle_exit=None) as run:
        progress = run.progress
        assert progress is not None
        worker = run.sup.start()
        await worker.wait_assigned()
        for _ in range(bounces):
            await asyncio.sleep(3.0)
            down_at = time.monotonic()
            await asyncio.to_thread(broker.down)
            await asyncio.sleep(down_s)
            await asyncio.to_thread(broker.up)
            up_at = time.monotonic()
            deadline = up_at + 120
            while progress.first_progress_after(up_at) is None and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            resume.append(progress.first_progress_after(up_at))
            stalls.append(progress.longest_stall(down_at, time.monotonic()))
        await asyncio.sleep(2.0)
        await run.finish(settle=True)
    return await run.report(
        "bounce",
        bounces=bounces,
        down_s=down_s,
        resume_after_broker_up_s=resume,
        output_stall_s=stalls,
        failed_generator_sends=run.gen.failed_sends,
        worker_restarts=run.restarts,
        worker_exits=run.crashes,
    )


async def rebalance(env: Env, *, rate: float = 300.0, hold_s: float = 6.0) -> dict[str, Any]:
    """Workers 1 -> 2 -> 3 -> 1 under load; the longest output stall after each change."""
    pauses: dict[str, float] = {}
    async with under_load(env, rate, watch=True) as run:
        sup, progress = run.sup, run.progress
        assert progress is not None
        first = sup.start()
        await first.wait_assigned()
        await asyncio.sleep(hold_s)
        for label in ("1->2", "2->3"):
            changed = time.monotonic()
            w = sup.start()
            await w.wait_assigned()
            await asyncio.sleep(hold_s)
            pauses[label] = progress.longest_stall(changed, time.monotonic())
        changed = time.monotonic()
        for w in sup.workers[1:]:
            w.signal(signal.SIGTERM)  # a clean leave: drain, commit, leave the group
        await asyncio.sleep(hold_s + 4)
        pauses["3->1"] = progress.longest_stall(changed, time.monotonic())
        await run.finish()
    return await run.report("rebalance", longest_stall_s=pauses, fatal_restarts=run.restarts)


async def stuck_commit(
    env: Env,
    *,
    stuck: int = 1,
    stuck_s: float = 14.0,
    slow_s: float = 1.0,
    timeout_ms: int = 3000,
    rate: float = 300.0,
    run_s: float = 10.0,
) -> dict[str, Any]:
    """exactly_once: the first `stuck` workers hold one transaction open `stuck_s` (past
    `timeout_ms`, so the broker aborts it); later workers delay every 10th commit `slow_s`
    (below the timeout: commits late, still valid)."""
    env.guarantee = "exactly_once"
    env.worker_args = (*env.worker_args, "--transaction-timeout-ms", str(timeout_ms))

    def extra(n: int) -> tuple[str, ...]:
        if n < stuck:
            return ("--stuck-commit-every", "6", "--stuck-commit-s", str(stuck_s))
        return ("--stuck-commit-every", "10", "--stuck-commit-s", str(slow_s))

    async with under_load(env, rate, extra_for=extra) as run:
        sup = run.sup
        await sup.start().wait_assigned()
        deadline = time.monotonic() + stuck * (stuck_s + 60)
        while sup.restarts < stuck and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        await asyncio.sleep(run_s)  # the replacement runs under load, with slow commits
        await run.finish()
    result = await run.report(
        "stuck-commit",
        transaction_timeout_ms=timeout_ms,
        stuck_commit_s=stuck_s,
        slow_commit_s=slow_s,
        stuck_workers_stopped=run.restarts,
        worker_exits=run.crashes,
    )
    uncommitted = await read_topic(
        run.settings.kafka,
        run.settings.topics.scores,
        isolation_level="read_uncommitted",
        timeout=120,
    )
    # aborted outputs exist on the log (proof the fault happened) but stay invisible
    result["aborted_records_on_log"] = len(uncommitted) - result["scores"]
    result["aborted_visible_to_read_committed"] = result["duplicates"]
    return result


async def zombie(env: Env, *, freeze_s: float = 12.0, rate: float = 300.0) -> dict[str, Any]:
    """exactly_once: freeze a worker (SIGSTOP) past its session timeout so that a second worker
    takes its partitions, then let it run again (SIGCONT): the zombie must be fenced (its
    transactions can no longer commit) and nothing may be missing or repeated."""
    env.guarantee = "exactly_once"
    async with under_load(env, rate, watch=True, idle_exit=None) as run:
        sup = run.sup
        frozen = sup.start()
        await frozen.wait_assigned()
        await asyncio.sleep(2.0)
        frozen.signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        heir = sup.start()
        await heir.wait_assigned()
        takeover_s = round(time.monotonic() - stopped_at, 2)
        await asyncio.sleep(max(0.0, freeze_s - (time.monotonic() - stopped_at)))
        frozen.signal(signal.SIGCONT)
        await frozen.wait_exit(timeout=60.0)
        await asyncio.sleep(3.0)
        await run.finish(settle=True)
    return await run.report(
        "zombie",
        freeze_s=freeze_s,
        takeover_s=takeover_s,
        zombie_fenced="ProducerFenced" in frozen.log(),
        zombie_exit_code=frozen.proc.returncode,
        worker_exits=run.crashes,
    )


async def hostile(
    env: Env, *, good: int = 10_000, per_kind: int = 500, huge: int = 2
) -> dict[str, Any]:
    """Hostile input of many kinds mixed with good input, one worker, counted from the outside:
    every malformed record on the dead-letter topic with a reason (and a review score when it
    names its payment), every payment in disguise (`EVASIONS`, and good ids re-sent with other
    content) scored once with its flag, every good one scored once, no crash, peak memory."""
    from fraudstream.stream.produce import produce_routed

    settings = await prepare(env)
    topic = settings.topics.input
    bad = list(hostile_records(per_kind, huge=huge))
    rng = random.Random(7)
    goods = [good_record(i) for i in range(good)]
    # A repeated transaction id: the same bytes again (kind "duplicate", a producer's retry:
    # dead-lettered) or other content under it (kind "changed_resend": a second payment,
    # scored and flagged), placed after all the good ones so the original is read first.
    copies = min(good, max(1, per_kind))
    changed = [
        (k, v.replace(b'"amount":42.0', b'"amount":4200.0'), t)
        for k, v, t in goods[copies : 2 * copies]
    ]
    keyed: list[tuple[float, tuple[str, bytes | None, bytes | None]]] = [
        (i / good, ("good", k, v)) for i, (k, v, _) in enumerate(goods)
    ]
    keyed += [(rng.random(), item) for item in bad]
    keyed += [
        (rng.uniform(2 * copies / good, 1.0), ("duplicate", k, v)) for k, v, _ in goods[:copies]
    ]
    keyed += [
        (rng.uniform(2 * copies / good, 1.0), ("changed_resend", k, v)) for k, v, _ in changed
    ]
    keyed.sort(key=lambda kv: kv[0])
    stream = [item for _, item in keyed]
    t0 = time.monotonic()
    worker = Worker(env, idle_exit=5.0)
    await worker.wait_assigned()
    # a null value (tombstone) is one of the hostile kinds: the producer sends it as such
    routed: list[Any] = [(topic, k, v) for _, k, v in stream]
    await produce_routed(settings.kafka, routed)
    code = await worker.wait_exit(timeout=600)
    scores = await read_topic(settings.kafka, settings.topics.scores, timeout=120)
    dead = await read_topic(settings.kafka, settings.topics.dlq, timeout=120)
    with_reason = sum(1 for r in dead if (r.json() or {}).get("error", {}).get("kind"))
    kinds: dict[str, int] = {}
    for r in dead:
        kind = r.json()["error"]["kind"]
        kinds[kind] = kinds.get(kind, 0) + 1
    by_id: dict[str, list[dict[str, Any]]] = {}
    for r in scores:
        doc = r.json()
        by_id.setdefault(doc["transaction_id"], []).append(doc)
    good_ids = {g[2] for g in goods}
    changed_ids = {t for _, _, t in changed}
    evasions = [(kind, _tx_id(v)) for kind, _, v in stream if kind in EVASIONS]
    reviewed = [_tx_id(v) for kind, _, v in stream if kind in REVIEWED]
    dead_expected = sum(
        1 for kind, _, _ in stream if kind not in {"good", "changed_resend", *EVASIONS}
    )

    def flagged(tid: str, flag: str, index: int = 0) -> bool:
        got = by_id.get(tid, [])
        return len(got) > index and flag in got[index]["flags"]

    peak_rss_mb = round(worker.rusage.ru_maxrss / 1024, 1) if worker.rusage is not None else None
    return {
        "scenario": "hostile",
        "good_sent": good,
        "bad_sent": len(stream) - good - len(changed),
        "bad_input_kinds": len({k for k, _, _ in stream if k != "good"}),
        "dead_letters": len(dead),
        "dead_letters_expected": dead_expected,
        "dead_letters_with_reason": with_reason,
        "dead_letter_kinds": dict(sorted(kinds.items())),
        "good_scored": sum(1 for t in good_ids if t in by_id),
        "missing": sum(1 for t in good_ids if t not in by_id),
        # beyond one score per good id, but for the re-sent ones with other content (two each)
        "duplicates": sum(
            len(by_id.get(t, [])) - (2 if t in changed_ids else 1) for t in good_ids if t in by_id
        ),
        "evasions_sent": len(evasions),
        "evasions_scored_flagged": sum(
            1 for kind, t in evasions if len(by_id.get(t, [])) == 1 and flagged(t, EVASIONS[kind])
        ),
        "changed_resends_sent": len(changed),
        "changed_resends_flagged": sum(
            1 for t in changed_ids if flagged(t, "duplicate_id_changed_content", 1)
        ),
        "unscorable_sent": len(reviewed),
        "unscorable_reviewed": sum(
            1
            for t in reviewed
            if len(by_id.get(t, [])) == 1
            and by_id[t][0]["band"] == "review"
            and flagged(t, "unscorable_input")
        ),
        "worker_exit_code": code,
        "peak_rss_mb": peak_rss_mb,
        "elapsed_s": round(time.monotonic() - t0, 1),
    }


async def sigterm(
    env: Env, *, records: int = 3000, rate: float = 1000.0, shutdown_timeout_s: float = 10.0
) -> dict[str, Any]:
    """SIGTERM a worker under load: it drains and exits 0 within shutdown_timeout_s; a restarted
    worker then finds nothing missing."""
    env.worker_args = (
        *env.worker_args,
        "--shutdown-timeout-s",
        str(shutdown_timeout_s),
        # a slow model (0.3 s a batch): the input outruns it, so SIGTERM finds work in flight
        "--batch-delay-s",
        "0.3",
    )
    settings = await prepare(env)
    gen = Generator(settings, rate)
    worker = Worker(env, idle_exit=None)
    await worker.wait_assigned()
    gen.start()
    while len(gen.acked) < records // 2:
        await asyncio.sleep(0.05)
    signalled = time.monotonic()
    worker.signal(signal.SIGTERM)
    code = await worker.wait_exit(timeout=shutdown_timeout_s + 60)
    exit_s = round(time.monotonic() - signalled, 2)
    while len(gen.acked) < records:
        await asyncio.sleep(0.05)
    sent = await gen.stop()
    drained_log = worker.log()
    found = re.search(r"draining (\d+) records in flight", drained_log)
    second = Worker(env, idle_exit=5.0)
    second_code = await second.wait_exit(timeout=180)
    counts = await tally(settings, sent)
    return {
        "scenario": "sigterm",
        "guarantee": env.guarantee,
        "exit_code": code,
        "exit_s": exit_s,
        "shutdown_timeout_s": shutdown_timeout_s,
        "in_flight_at_sigterm": int(found.group(1)) if found else None,
        "left_in_flight_at_timeout": "still in flight" in drained_log,
        "restart_exit_code": second_code,
        **counts,
    }


# ------------------------------------------------------------------------------------------ command

SCENARIOS = ("kill9", "bounce", "rebalance", "stuck-commit", "zombie", "hostile", "sigterm")


@contextlib.contextmanager
def private_broker() -> Iterator[tuple[Any, str]]:
    """A local broker in a temporary home on a fixed free port (so it can be bounced)."""
    from fraudstream.localkafka import LocalBroker, free_port

    with tempfile.TemporaryDirectory(prefix="fraudstream-chaos-broker-") as home:
        broker = LocalBroker(Path(home), port=free_port())
        info = broker.up()
        try:
            yield broker, info.bootstrap
        finally:
            broker.down()


async def run_scenarios(
    names: list[str], bootstrap: str | None, modes: list[str], kills: int, hostile_good: int
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []

    def emit(result: dict[str, Any]) -> None:
        results.append(result)
        click.echo(orjson.dumps(result).decode(), err=True)

    with contextlib.ExitStack() as stack:
        shared = bootstrap or ""
        if not shared and any(n != "bounce" for n in names):
            shared = stack.enter_context(private_broker())[1]
        for name in names:
            if name == "kill9":
                for mode in modes:
                    emit(await kill9(Env(shared, guarantee=mode), kills=kills))
            elif name == "bounce":
                for mode in modes:
                    with private_broker() as (broker, own):
                        emit(await bounce(Env(own, guarantee=mode), broker=broker))
            elif name == "rebalance":
                for mode in modes:
                    emit(await rebalance(Env(shared, guarantee=mode)))
            elif name == "stuck-commit":
                emit(await stuck_commit(Env(shared)))
            elif name == "zombie":
                emit(await zombie(Env(shared)))
            elif name == "hostile":
                per_kind = max(1, math.ceil(hostile_good / 20))
                emit(await hostile(Env(shared), good=hostile_good, per_kind=per_kind))
            elif name == "sigterm":
                for mode in modes:
                    emit(await sigterm(Env(shared, guarantee=mode)))
    return results


@click.command("chaos")
@click.argument("scenario", type=click.Choice([*SCENARIOS, "all"]))
@click.option("--bootstrap", default=None, help="Use this broker (default: a private one).")
@click.option(
    "--mode",
    type=click.Choice(["at_least_once", "exactly_once", "both"]),
    default="both",
    help="Processing guarantee of the workers (stuck-commit and zombie: exactly_once only).",
)
@click.option("--kills", type=int, default=20, show_default=True, help="kill9: how many kills.")
@click.option(
    "--hostile-good",
    type=int,
    default=10_000,
    show_default=True,
    help="hostile: good records (about as many hostile ones, of 26 kinds, go with them).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON document.")
def chaos(
    scenario: str, bootstrap: str | None, mode: str, kills: int, hostile_good: int, as_json: bool
) -> None:
    """Inject a fault under load and count the outputs with an independent read_committed reader.

    Workers run the real processor with a fake model (a keyword rule), so that the figures
    measure the delivery machinery, not model loading. Each scenario prints one JSON line on
    stderr as it ends; --json prints them all on stdout at the end."""
    # While the broker is away aiokafka logs an error per reconnect attempt, thousands a second;
    # the scenarios count the failures that matter themselves.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    names = list(SCENARIOS) if scenario == "all" else [scenario]
    modes = ["at_least_once", "exactly_once"] if mode == "both" else [mode]
    results = asyncio.run(run_scenarios(names, bootstrap, modes, kills, hostile_good))
    if as_json:
        click.echo(
            orjson.dumps(
                {"results": results, "cpus": os.cpu_count()}, option=orjson.OPT_INDENT_2
            ).decode()
        )
