"""/metrics text and the live view, without a broker: parsed with prometheus_client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from fraudstream.web.live import ALERTS_SHOWN, LiveView, alert_row, percentile
from fraudstream.web.metrics import FastHistogram, ProcessorMetrics


def families(text: bytes) -> dict[str, object]:
    return {f.name: f for f in text_string_to_metric_families(text.decode())}


def sample_values(family: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}  # type: ignore[attr-defined]


def test_fast_histogram_buckets_are_cumulative_and_inclusive() -> None:
    h = FastHistogram([0.01, 0.1, 1.0])
    for v in (0.005, 0.01, 0.05, 2.0):
        h.observe(v)
    assert h.cumulative() == [("0.01", 2), ("0.1", 3), ("1.0", 3), ("+Inf", 4)]
    assert h.count == 4 and abs(h.sum - 2.065) < 1e-9
    assert h.quantile(0.5) == 0.01 and h.quantile(1.0) is None


def test_metrics_text_parses_and_names_follow_conventions() -> None:
    m = ProcessorMetrics(scores_topic="scores")
    m.counters = lambda: {
        "records_in": 12, "scored": 10, "alerts": 3, "dead_letters": 2,
        "dead_letter_kinds": {"not_json": 1, "bad_amount": 1}, "language_model": 4,
        "late": 0, "batches": 2, "unscorable": 1, "model_restarts": 3, "fallbacks": 5,
        "flagged_input": {"hidden_characters": 2, "unknown_fields": 1},
    }  # fmt: skip
    m.lag = lambda: {("tx", 0): 5, ("tx", 1): 0}
    m.model_versions = lambda: ["tiny-1234abcd"]
    m.observe_score({"decode": 0.2, "state": 0.1, "queue": 3.0, "inference": 12.0, "produce": 0.0})
    m.observe_batch(4, 128, 0.5)
    m.observe_ack("scores", 0.004, 0.030)
    m.observe_ack("alerts", 9.0, 9.0)  # only scores count for latency
    got = families(m.render())
    values = {name: sample_values(f) for name, f in got.items()}
    assert values["fraudstream_records_in"][("fraudstream_records_in_total", ())] == 12
    assert values["fraudstream_scored"][("fraudstream_scored_total", ())] == 10
    assert values["fraudstream_alerts"][("fraudstream_alerts_total", ())] == 3
    dead = values["fraudstream_dead_letters"]
    assert dead[("fraudstream_dead_letters_total", (("reason", "not_json"),))] == 1
    assert sum(v for (n, _), v in dead.items() if n.endswith("_total")) == 2
    assert values["fraudstream_unscorable"][("fraudstream_unscorable_total", ())] == 1
    assert values["fraudstream_model_restarts"][("fraudstream_model_restarts_total", ())] == 3
    assert values["fraudstream_fallbacks"][("fraudstream_fallbacks_total", ())] == 5
    flagged = values["fraudstream_flagged_input"]
    assert flagged[("fraudstream_flagged_input_total", (("flag", "hidden_characters"),))] == 2
    stage = values["fraudstream_stage_duration_seconds"]
    assert stage[("fraudstream_stage_duration_seconds_count", (("stage", "inference"),))] == 1
    assert stage[("fraudstream_stage_duration_seconds_sum", (("stage", "inference"),))] == 0.012
    assert stage[("fraudstream_stage_duration_seconds_count", (("stage", "produce"),))] == 1
    e2e = values["fraudstream_end_to_end_latency_seconds"]
    assert e2e[("fraudstream_end_to_end_latency_seconds_count", ())] == 1
    assert e2e[("fraudstream_end_to_end_latency_seconds_bucket", (("le", "0.03"),))] == 1
    assert e2e[("fraudstream_end_to_end_latency_seconds_bucket", (("le", "0.02"),))] == 0
    assert values["fraudstream_batch_size"][("fraudstream_batch_size_sum", ())] == 4
    assert values["fraudstream_batch_tokens"][("fraudstream_batch_tokens_count", ())] == 1
    assert values["fraudstream_batch_fill_ratio"][("fraudstream_batch_fill_ratio_sum", ())] == 0.5
    lag = values["fraudstream_consumer_lag_records"]
    assert lag[("fraudstream_consumer_lag_records", (("partition", "0"), ("topic", "tx")))] == 5
    info = values["fraudstream_model_info"]
    assert info == {("fraudstream_model_info", (("version", "tiny-1234abcd"),)): 1}
    assert got["fraudstream_records_in"].type == "counter"  # type: ignore[attr-defined]
    assert got["fraudstream_end_to_end_latency_seconds"].type == "histogram"  # type: ignore[attr-defined]


def test_two_processors_do_not_share_a_registry() -> None:
    a, b = ProcessorMetrics(scores_topic="s"), ProcessorMetrics(scores_topic="s")
    a.counters = lambda: {"scored": 5}
    b.counters = lambda: {"scored": 7}
    assert b"fraudstream_scored_total 5.0" in a.render()
    assert b"fraudstream_scored_total 7.0" in b.render()


def test_drift_gauges() -> None:
    m = ProcessorMetrics(scores_topic="s")
    m.drift = lambda: {
        "samples": 2000, "psi": 0.4, "alert_rate": 0.05, "expected_alert_rate": 0.01,
        "score_drift": True, "alert_rate_drift": True,
    }  # fmt: skip
    values = {name: sample_values(f) for name, f in families(m.render()).items()}
    warning = values["fraudstream_drift_warning"]
    assert warning[("fraudstream_drift_warning", (("check", "score_distribution"),))] == 1
    assert values["fraudstream_drift_score_psi"][("fraudstream_drift_score_psi", ())] == 0.4


def alert(i: int) -> dict[str, object]:
    return {
        "alert_id": f"alert-tx-{i}",
        "score_record": {
            "transaction_id": f"tx-{i}", "score": 0.97, "band": "block", "model_version": "m1",
            "stage": "language_model",
            "reasons": [{"code": "narrative", "text": "memo mentions card 4000000000000001", "weight": 1}],
        },
        "transaction": {
            "transaction_id": f"tx-{i}", "account": "GB29NWBK60161331926819",
            "card": "************0001", "amount": 950.0, "currency": "EUR", "merchant": "Shop",
        },
    }  # fmt: skip


def test_alert_rows_are_masked() -> None:
    row = alert_row(alert(1))
    assert row["account"] == "******************6819"  # an unmasked producer is masked here
    assert row["card"] == "************0001"
    assert "4000000000000001" not in str(row) and row["reasons"][0].endswith("0001")


def test_live_view_is_bounded_and_computes_rates() -> None:
    view = LiveView(mode="processor", now=0.0)
    for i in range(ALERTS_SHOWN * 40):
        view.observe_alert(alert(i))
    for i in range(1000):
        view.observe_latency(float(i))
    view.sample(0.0, {"records_in": 0, "scored": 0, "alerts": 0, "dead_letters": 0})
    view.sample(10.0, {"records_in": 1000, "scored": 990, "alerts": 20, "dead_letters": 10})
    snap = view.snapshot(10.0)
    assert len(snap["alerts"]) == ALERTS_SHOWN and snap["alerts_seen"] == ALERTS_SHOWN * 40
    assert snap["alerts"][0]["transaction_id"] == f"tx-{ALERTS_SHOWN * 40 - 1}"  # newest first
    assert snap["rates"]["in_per_s"] == 100.0 and snap["rates"]["out_per_s"] == 99.0
    assert snap["alert_rate"] == round(20 / 990, 5) and snap["dead_letter_rate"] == 0.01
    assert snap["latency_ms"]["p50"] == 499.0 and snap["latency_ms"]["max"] == 999.0
    assert snap["series"] == [{"t": 10.0, "in": 100.0, "out": 99.0, "alerts": 2.0}]


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 99.9) == 4.0


def test_topics_feed_counts_and_backfill() -> None:
    from fraudstream.config import Settings
    from fraudstream.web.standalone import TopicsFeed

    feed = TopicsFeed(Settings(), card={"version": "m1", "thresholds": {"alerts_per_1000": 100}})
    feed._alerts_from[0] = 5
    for offset in range(8):  # offsets 0-4 are the backfilled latest alerts: shown, not counted
        feed.on_alert(alert(offset), 0, offset)
    score = {
        "model_version": "m1", "score": 0.97, "band": "block", "scored_at_ms": 1_030,
        "source": {"timestamp_ms": 1_000}, "batch": {"size": 4, "fill": 0.5},
    }  # fmt: skip
    feed.on_score(score, now=1.0)
    feed.on_input_end(100)
    feed.on_input_end(130)
    feed.on_dead_letter()
    feed.tick(2.0)
    snap = feed.state()
    assert snap["totals"] == {"records_in": 30, "scored": 1, "alerts": 3, "dead_letters": 1}
    assert len(snap["alerts"]) == 8 and snap["latency_ms"]["max"] == 30.0
    assert snap["model_versions"] == ["m1"]
    assert snap["drift"]["expected_alert_rate"] == 0.1  # the card of the version being served


def test_narrative_cache_counters_per_cache() -> None:
    m = ProcessorMetrics(scores_topic="scores")
    memory = {
        "entries": 3,
        "capacity": 10,
        "hits": 7,
        "misses": 3,
        "evictions": 1,
        "preloaded": 2,
        "hit_rate": 0.7,
    }
    vectors = {
        "entries": 2,
        "capacity": 10,
        "hits": 1,
        "misses": 2,
        "evictions": 0,
        "hit_rate": 0.5,
    }
    m.counters = lambda: {"narrative": {"memory": memory, "vectors": vectors}}
    values = {name: sample_values(f) for name, f in families(m.render()).items()}
    hits = values["fraudstream_narrative_cache_hits"]
    assert hits[("fraudstream_narrative_cache_hits_total", (("cache", "memory"),))] == 7
    assert hits[("fraudstream_narrative_cache_hits_total", (("cache", "vectors"),))] == 1
    evictions = values["fraudstream_narrative_cache_evictions"]
    assert evictions[("fraudstream_narrative_cache_evictions_total", (("cache", "memory"),))] == 1
    rate = values["fraudstream_narrative_cache_hit_rate"]
    assert rate[("fraudstream_narrative_cache_hit_rate", (("cache", "vectors"),))] == 0.5
    preloaded = values["fraudstream_narrative_cache_preloaded"]
    assert preloaded[("fraudstream_narrative_cache_preloaded", (("cache", "memory"),))] == 2


def test_no_narrative_cache_no_samples() -> None:
    m = ProcessorMetrics(scores_topic="scores")
    values = {name: sample_values(f) for name, f in families(m.render()).items()}
    assert not values.get("fraudstream_narrative_cache_hits")


async def test_every_response_carries_the_security_headers() -> None:
    import aiohttp

    from fraudstream.web.server import SECURITY_HEADERS, WebServer

    server = WebServer(state=lambda: {"ok": True})
    await server.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            for path, status in (("/", 200), ("/api/state", 200), ("/metrics", 404), ("/x", 404)):
                async with session.get(f"http://127.0.0.1:{server.port}{path}") as resp:
                    assert resp.status == status, path
                    for name, value in SECURITY_HEADERS.items():
                        assert resp.headers.get(name) == value, (path, name)
    finally:
        await server.stop()


def test_the_page_listens_on_this_machine_only_by_default() -> None:
    from fraudstream.config import Settings

    assert Settings().web_host == "127.0.0.1"


async def test_readyz_says_why_until_ready() -> None:
    import aiohttp

    from fraudstream.web.server import WebServer

    state = {"ready": (False, "waiting for its partitions and their state")}
    server = WebServer(state=lambda: {}, ready=lambda: state["ready"])
    await server.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{server.port}"
            async with session.get(f"{url}/readyz") as resp:
                assert resp.status == 503 and "waiting for its partitions" in await resp.text()
            state["ready"] = (True, "fetching from partitions [0, 1]")
            async with session.get(f"{url}/readyz") as resp:
                assert resp.status == 200 and "ready: fetching" in await resp.text()
            async with session.get(f"{url}/healthz") as resp:
                assert resp.status == 200
    finally:
        await server.stop()


def test_the_topics_page_skips_records_of_the_wrong_shape() -> None:
    from fraudstream.config import Settings
    from fraudstream.web.standalone import TopicsFeed, _dispatch

    settings = Settings()
    feed = TopicsFeed(settings)
    scores, alerts = settings.topics.scores, settings.topics.alerts
    for topic, value in (
        (scores, b'{"score": "high", "band": "review"}'),
        (scores, b'{"score": 0.5, "source": "nowhere", "batch": {"size": "x"}}'),
        (alerts, b'{"score_record": 7, "transaction": []}'),
        (scores, b"[1, 2]"),
        (scores, b"not json"),
    ):
        _dispatch(feed, topic, 0, 1, value, 1.0)
    _dispatch(feed, scores, 0, 2, b'{"score": 0.2, "band": "allow", "model_version": "m"}', 1.0)
    assert feed.unreadable >= 2
    assert feed.counts["scored"] >= 1  # what it can read still counts
    feed.tick(2.0)
    assert isinstance(feed.state(), dict)


async def test_a_web_token_guards_everything_but_the_probes() -> None:
    import aiohttp

    from fraudstream.web.server import WebServer

    calls = {"n": 0}

    def state() -> dict[str, int]:
        calls["n"] += 1
        return {"n": calls["n"]}

    server = WebServer(state=state, ready=lambda: (True, "ok"), token="s3cret-token")
    await server.start("127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession() as anonymous:
            for path in ("/", "/api/state", "/static/app.js"):
                async with anonymous.get(url + path) as resp:
                    assert resp.status == 401, path
            for path in ("/healthz", "/readyz"):
                async with anonymous.get(url + path) as resp:
                    assert resp.status == 200, path
            async with anonymous.get(
                url + "/api/state", headers={"Authorization": "Bearer wrong"}
            ) as resp:
                assert resp.status == 401
            async with anonymous.get(
                url + "/api/state", headers={"Authorization": "Bearer s3cret-token"}
            ) as resp:
                assert resp.status == 200
        # a browser: /?token=... once, then the cookie
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            async with browser.get(url + "/?token=s3cret-token", allow_redirects=False) as resp:
                assert resp.status == 302 and resp.headers["Location"] == "/"
                assert "HttpOnly" in resp.headers["Set-Cookie"]
            async with browser.get(url + "/") as resp:
                assert resp.status == 200
            async with (
                browser.get(url + "/api/state") as first,
                browser.get(url + "/api/state") as second,
            ):
                # built once for both: at most one snapshot a second
                assert await first.json() == await second.json() == {"n": 1}
    finally:
        await server.stop()


def test_alert_rows_name_the_rules_that_fired() -> None:
    doc = alert(1)
    doc["score_record"]["rules"] = [
        {"id": "sanctioned-country", "action": "block", "reason": "payment to a sanctioned country"}
    ]
    assert alert_row(doc)["rules"] == ["sanctioned-country (block)"]
    assert alert_row(alert(2))["rules"] == []
