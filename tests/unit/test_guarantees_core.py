"""The pure bookkeeping behind the delivery guarantees: alert dedupe and in-order release."""

from __future__ import annotations

import pytest

from fraudstream.dedupe import AlertDedupe, decode_marker, encode_marker
from fraudstream.stream.transactions import InOrderRelease


def test_second_alert_for_an_id_within_the_window_is_suppressed() -> None:
    d = AlertDedupe(window_s=60.0, max_ids=100)
    assert d.first("tx-1", now=1000.0)
    assert not d.first("tx-1", now=1030.0)
    assert d.first("tx-2", now=1030.0)
    assert d.suppressed == 1


def test_an_id_alerts_again_once_the_window_has_passed() -> None:
    d = AlertDedupe(window_s=60.0, max_ids=100)
    assert d.first("tx-1", now=1000.0)
    assert d.first("tx-1", now=1060.0)


def test_memory_is_bounded_by_count_and_by_time() -> None:
    d = AlertDedupe(window_s=1e9, max_ids=3)
    for i in range(10):
        d.first(f"tx-{i}", now=float(i))
    assert len(d) == 3 and "tx-9" in d and "tx-6" not in d
    timed = AlertDedupe(window_s=10.0, max_ids=1_000_000)
    for i in range(1000):
        timed.first(f"tx-{i}", now=float(i))
    assert len(timed) == 10  # only the last window's ids are kept


def test_markers_read_back_restore_the_memory_except_expired_ones() -> None:
    d = AlertDedupe(window_s=100.0, max_ids=10)
    d.load("old", at=decode_marker(encode_marker(800.0)) or 0.0, now=1000.0)
    d.load("recent", at=decode_marker(encode_marker(950.5)) or 0.0, now=1000.0)
    assert "old" not in d
    assert not d.first("recent", now=1000.0)
    assert decode_marker(b"garbage") is None and decode_marker(None) is None


def test_dedupe_rejects_nonsense_limits() -> None:
    with pytest.raises(ValueError):
        AlertDedupe(window_s=0.0, max_ids=1)


def test_outputs_are_released_in_offset_order_only() -> None:
    r = InOrderRelease()
    for offset in (10, 11, 13):  # 12 is a gap (a transaction marker): never read
        r.read(offset)
    assert r.hold(11, ["b"]) == []  # waits for 10
    assert r.hold(13, ["c1", "c2"]) == []
    assert r.hold(10, ["a"]) == ["a", "b", "c1", "c2"]
    assert len(r) == 0


def test_nothing_is_released_while_a_commit_cuts_the_transaction() -> None:
    r = InOrderRelease()
    r.read(0)
    r.read(1)
    assert r.hold(0, ["a"]) == ["a"]
    r.paused = True
    assert r.hold(1, ["b"]) == []
    r.paused = False
    assert r.release() == ["b"]


def test_exactly_once_needs_a_transaction_timeout_above_the_commit_interval() -> None:
    from fraudstream.config import ConfigError, Settings

    Settings(processing_guarantee="exactly_once").check()
    bad = Settings(
        processing_guarantee="exactly_once", commit_interval_ms=1000, transaction_timeout_ms=1500
    )
    with pytest.raises(ConfigError, match="FRAUDSTREAM_TRANSACTION_TIMEOUT_MS"):
        bad.check()
    Settings(commit_interval_ms=1000, transaction_timeout_ms=1500).check()  # only exactly_once
