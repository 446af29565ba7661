"""Load-test parts with no broker: payload templates, the collector's join, the commands that
start each variant, the profile summary, the display."""

from __future__ import annotations

import io
import math
import sys
import time
from pathlib import Path

import orjson
import pytest

from fraudstream.testing import transaction
from loadtest.collector import StepTrack
from loadtest.data import load_templates, template, write_pool
from loadtest.display import Display
from loadtest.profile import top_costs
from loadtest.variants import VARIANTS, FakeCost, Launch, Topics, command, fraudstream_command


def test_template_rebuilds_the_record_with_a_new_id() -> None:
    tx = transaction(transaction_id="tx-1", narrative='say "hi" \\ ok')
    key, head, tail = template(tx)
    assert key == b"acc-0001"
    doc = orjson.loads(head + b"lt-001-0000007" + tail)
    assert doc == {**tx, "transaction_id": "lt-001-0000007"}


def test_pool_is_written_once_and_read_back(tmp_path: Path) -> None:
    path = write_pool(tmp_path / "pool.jsonl", 50, seed=3)
    first = path.read_bytes()
    assert len(load_templates(path)) == 50
    write_pool(path, 99, seed=4)  # an existing pool is kept
    assert path.read_bytes() == first


def test_step_track_joins_each_record_once() -> None:
    track = StepTrack(step=1, rate=100.0, count=10, budget_s=0.05, start=1000.0)
    doc = {"scored_at_ms": 1000_010, "stage": "language_model", "batch": {"size": 4}}
    track.add(0, 1000.02, {**doc, "source": {"timestamp_ms": 1000_000}})
    track.add(0, 1000.03, doc)  # duplicate
    track.add(3, 1000.2, {**doc, "source": {"timestamp_ms": 1000_001}})  # late, wrong timestamp
    track.add(42, 1000.2, doc)  # not of this step
    assert track.received == 2 and track.duplicates == 2
    assert track.over_budget == 1 and track.timestamp_mismatch == 1
    assert track.stages == {"language_model": 2}
    lat = track.latencies()
    assert lat[0] == pytest.approx(0.02) and lat[3] == pytest.approx(0.17)
    assert math.isnan(lat[1])
    # at t=1000.1 records 0..5 were due 50 ms ago; 2 of them arrived
    assert track.late_unscored(1000.1, sent=10) == 6 - 2


def launch(**changes: object) -> Launch:
    return Launch(bootstrap="127.0.0.1:9092", **changes)  # type: ignore[arg-type]


def test_commands_per_variant(tmp_path: Path) -> None:
    topics = Topics("lt1-a1")
    real = launch(model="/models/x", max_batch_size=64)
    a = command(VARIANTS["scheduler"], topics, real, tmp_path)
    assert a[: len(fraudstream_command()) + 1] == [*fraudstream_command(), "run"]
    assert a[a.index("--max-batch-size") + 1] == "64" and a[a.index("--model") + 1] == "/models/x"
    assert a[a.index("--input-topic") + 1] == "lt1-a1-tx"
    assert a[a.index("--latency-budget-ms") + 1] == "50"
    assert "--workers" not in a
    c = command(VARIANTS["one-at-a-time"], topics, real, tmp_path)
    assert c[c.index("--max-batch-size") + 1] == "1"
    two = command(VARIANTS["scheduler"], topics, launch(workers=2), tmp_path)
    assert two[two.index("--workers") + 1] == "2"
    assert "--workers" not in command(VARIANTS["faust"], topics, launch(workers=2), tmp_path)
    b = command(VARIANTS["faust"], topics, real, tmp_path)
    assert b[:3] == [sys.executable, "-m", "loadtest.faust_variant"]
    assert b[b.index("--within-ms") + 1] == "10" and b[b.index("--datadir") + 1] == str(tmp_path)
    d = command(VARIANTS["passthrough"], topics, real, tmp_path)
    assert d[:3] == [sys.executable, "-m", "loadtest.passthrough_variant"]
    assert "--model" not in d and "--alerts-topic" not in d
    fake = launch(fake=FakeCost(300, 2000))
    fa = command(VARIANTS["scheduler"], topics, fake, tmp_path)
    assert fa[:4] == [sys.executable, "-m", "loadtest.serve", "processor"]
    assert fa[fa.index("--fake-item-us") + 1] == "300"
    fb = command(VARIANTS["faust"], topics, fake, tmp_path)
    assert fb[:4] == [sys.executable, "-m", "loadtest.serve", "faust"]


def test_topics_are_named_from_the_prefix() -> None:
    t = Topics("lt9-b2")
    assert (t.input, t.scores, t.group) == ("lt9-b2-tx", "lt9-b2-scores", "lt9-b2-g")
    assert "lt9-b2-g-features-changelog" in t.all()


def test_profile_top_costs_per_thread_and_function(tmp_path: Path) -> None:
    raw = tmp_path / "p.txt"
    raw.write_text(
        "thread (11): MainThread;run (a.py:1);admit (b.py:10);decode (c.py:5) 6\n"
        "thread (11): MainThread;run (a.py:1);admit (b.py:12) 2\n"
        "thread (11): MainThread;run (a.py:1);emit (d.py:3) 2\n"
        "thread (12): fraudstream-infer_0;predict (m.py:9) 5\n"
    )
    doc = top_costs(raw)
    assert doc["samples"] == {"MainThread": 10, "fraudstream-infer": 5}
    main = doc["threads"]["MainThread"]
    assert main["self"][0] == {"function": "decode (c.py)", "samples": 6, "share": 0.6}
    total = {r["function"]: r["share"] for r in main["total"]}
    assert total["admit (b.py)"] == 0.8 and total["run (a.py)"] == 1.0


def test_display_without_a_terminal_prints_status_lines_now_and_then() -> None:
    out = io.StringIO()
    display = Display(out, every_s=3600)
    display.status("one")
    display.status("two")  # within every_s: skipped
    display.done("step done")
    assert out.getvalue().splitlines() == ["one", "step done"]
    quiet = io.StringIO()
    Display(quiet, quiet=True).done("x")
    assert quiet.getvalue() == ""


def test_cpu_per_record_counts_a_process_and_its_descendants_apart() -> None:
    import os
    import subprocess

    from loadtest import cpu

    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
    child = subprocess.Popen([sys.executable, "-c", spin + "time.sleep(5)"])
    try:
        roots = {"me": os.getpid(), "gone": 2**22 + 12345}
        before = cpu.sample(roots, {"me": "children"})
        assert set(before) == {"me", "children"}  # a process that is not there is left out
        deadline = time.monotonic() + 10
        while cpu.sample(roots, {"me": "children"})["children"] - before["children"] < 0.25:
            assert time.monotonic() < deadline, "the child's CPU time was not seen"
            time.sleep(0.05)
        after = cpu.sample(roots, {"me": "children"})
    finally:
        child.kill()
        child.wait()
    figures = cpu.per_record(before, after, 1000)
    assert figures["children"] >= 250  # 0.25 s over 1,000 records, in microseconds
    assert 0 <= figures["me"] < figures["children"]  # this process mostly slept
    assert cpu.per_record(before, after, 0) == {}
