"""The live page and /metrics of a processor on the real broker (fake model, no torch).

* `/metrics` parses with prometheus_client's own text parser and its counts match what the test
  sent: records in, scored, alerts, dead letters, one latency observation per score.
* In headless Chromium (Debian's `chromium` + `chromium-driver`, driven by Selenium): the page
  loads, its numbers change while transactions flow, and it lists the alert the test produced,
  with the account masked. A screenshot is saved to artifacts/web/page.png.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fraudstream.config import Settings
from fraudstream.features import FeatureSpec
from fraudstream.localkafka import BrokerInfo
from fraudstream.stream.app import build_processor
from fraudstream.stream.produce import produce_records
from fraudstream.stream.worker import Worker
from fraudstream.testing import FakeScoring, prefixed_settings, transaction
from fraudstream.web.drift import score_distribution
from fraudstream.web.feed import ProcessorWeb, serve_processor

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "artifacts" / "web" / "page.png"
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = ("/usr/bin/chromedriver",)


def fake_card() -> dict[str, Any]:
    """Validation figures close to what the browser test sends (1 in 40 alerting): the drift
    watch should stay within bounds."""
    scores = [0.97 if i % 40 == 0 else 0.03 for i in range(4000)]
    return {
        "version": "fake-0001",
        "metrics": {"validation": {"score_distribution": score_distribution(scores, 0.5)}},
    }


def records(
    start: int, n: int, *, card: str | None = None, alert_every: int = 10
) -> list[tuple[bytes | None, bytes]]:
    out: list[tuple[bytes | None, bytes]] = []
    for i in range(start, start + n):
        alerting = i % alert_every == 0
        narrative = "URGENT gift card for tax office" if alerting else f"TESCO STORES {i}"
        tx = transaction(
            transaction_id=f"tx-{i:06d}",
            account_id=f"GB29NWBK6016133192{i % 37:04d}",
            card_id=card or "4000000000000001",
            narrative=narrative,
            timestamp=f"2026-01-15T10:{(i // 60) % 60:02d}:{i % 60:02d}Z",
        )
        out.append((tx["account_id"].encode(), orjson.dumps(tx)))
    return out


BAD: list[tuple[bytes | None, bytes]] = [
    (b"acc-1", b"{not json"),
    (b"acc-1", orjson.dumps(transaction(transaction_id="bad-amount", amount=-5))),
    (None, orjson.dumps(transaction(transaction_id="no-key"))),
]


@dataclass
class Running:
    settings: Settings
    processor: Worker
    web: ProcessorWeb

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web.port}"


@pytest.fixture
async def running(kafka_broker: BrokerInfo, topic_prefix: str) -> AsyncIterator[Running]:
    settings = prefixed_settings(kafka_broker.bootstrap, topic_prefix, drift_window=2000)
    scoring = FakeScoring()
    scoring.card = fake_card()  # type: ignore[attr-defined]
    processor = build_processor(settings, scoring=scoring, spec=FeatureSpec.native())
    web = await serve_processor(processor, host="127.0.0.1", port=0)
    task = asyncio.create_task(processor.run())
    try:
        await asyncio.wait_for(processor.ready.wait(), 60)
        yield Running(settings, processor, web)
    finally:
        processor.stop()
        await asyncio.wait_for(task, 60)
        await web.stop()


async def until(condition: Any, what: str, limit_s: float = 60.0) -> None:
    """Wait for a condition of the system under test; the limit only stops a hung test."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_metrics_count_what_was_sent(running: Running) -> None:
    n = 300
    sent: list[tuple[bytes | None, bytes]] = [*records(0, n), *BAD]
    await produce_records(running.settings.kafka, running.settings.topics.input, sent)
    p = running.processor
    await until(lambda: p.counters.scored + p.counters.dead_letters == len(sent), "all scored")
    await until(lambda: p.tracker.in_flight() == 0, "every output acknowledged")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{running.url}/metrics") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            text = await resp.text()
        async with http.get(f"{running.url}/api/state") as resp:
            state = await resp.json()

    got = samples(text)
    assert got[("fraudstream_records_in_total", ())] == len(sent)
    assert got[("fraudstream_scored_total", ())] == n
    assert got[("fraudstream_alerts_total", ())] == n // 10
    dead = {k[1]: v for k, v in got.items() if k[0] == "fraudstream_dead_letters_total"}
    assert dead == {
        (("reason", "not_json"),): 1,
        (("reason", "bad_amount"),): 1,
        (("reason", "bad_key"),): 1,
    }
    # every score went through the language model (FakeScoring has no stage 1): one inference
    # time each, one end-to-end latency each once the broker acknowledged it
    for stage in ("decode", "state", "queue", "inference", "produce"):
        key = ("fraudstream_stage_duration_seconds_count", (("stage", stage),))
        assert got[key] == n, stage
    assert got[("fraudstream_end_to_end_latency_seconds_count", ())] == n
    assert got[("fraudstream_batch_size_sum", ())] == n
    assert got[("fraudstream_batch_size_count", ())] == p.counters.batches
    assert got[("fraudstream_model_info", (("version", "fake-0001"),))] == 1
    lag = {k[1]: v for k, v in got.items() if k[0] == "fraudstream_consumer_lag_records"}
    assert {dict(labels)["partition"] for labels in lag} == {"0", "1", "2"}
    assert sum(lag.values()) == 0  # all done
    assert ("fraudstream_drift_warning", (("check", "score_distribution"),)) in got

    assert state["totals"]["scored"] == n and state["model_versions"] == ["fake-0001"]
    shown = {a["transaction_id"]: a for a in state["alerts"]}
    assert "tx-000290" in shown
    assert (
        shown["tx-000290"]["account"].endswith("0031")
        and "GB29" not in shown["tx-000290"]["account"]
    )
    assert shown["tx-000290"]["card"] == "************0001"
    assert shown["tx-000290"]["reasons"] == [
        "memo mentions 'gift card'",
        "memo mentions 'urgent'",
        "memo mentions 'tax office'",
    ]


# ---------------------------------------------------------------------------------------------
# the browser


def _first(paths: tuple[str, ...], name: str) -> str | None:
    for p in paths:
        if os.path.exists(p):
            return p
    return shutil.which(name)


def browser_or_skip() -> tuple[str, str]:
    chromium = _first(CHROMIUM, "chromium")
    driver = _first(CHROMEDRIVER, "chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        selenium_ok = False
    else:
        selenium_ok = True
    missing = [
        what
        for what, ok in (
            ("chromium", chromium),
            ("chromium-driver", driver),
            ("selenium", selenium_ok),
        )
        if not ok
    ]
    if missing:
        why = (
            f"headless Chromium test needs {', '.join(missing)}: apt-get install -y chromium "
            "chromium-driver; pip install -e '.[test]'"
        )
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must run the browser test: {why}")
        pytest.skip(why)
    assert chromium is not None and driver is not None
    return chromium, driver


def open_browser(chromium: str, driver: str) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespace for the sandbox
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1440,1100",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def text_of(browser: Any, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return str(browser.find_element(By.ID, element_id).text)


async def test_page_in_headless_chromium(running: Running) -> None:
    chromium, driver = browser_or_skip()
    from selenium.webdriver.common.by import By

    browser = await asyncio.to_thread(open_browser, chromium, driver)
    try:
        await asyncio.to_thread(browser.get, running.url + "/")
        assert await asyncio.to_thread(lambda: browser.title) == "fraudstream: live"

        def updates() -> int:
            return int(browser.find_element(By.TAG_NAME, "body").get_attribute("data-updates") or 0)

        await until(lambda: updates() >= 1, "the page's first update")
        assert text_of(browser, "model") == "fake-0001"
        before = text_of(browser, "out-total")

        # traffic at a steady rate, so the rates and the chart have something to show, then
        # one alert from a distinctive card
        settings = running.settings
        await produce_records(
            settings.kafka,
            settings.topics.input,
            [*records(0, 1600, alert_every=40), *BAD],
            rate=400,
        )
        alert_tx = records(1600, 1, card="5555444433332222")  # "URGENT gift card..."
        await produce_records(settings.kafka, settings.topics.input, alert_tx)

        selector = '#alerts tbody tr[data-transaction="tx-001600"]'
        await until(
            lambda: bool(browser.find_elements(By.CSS_SELECTOR, selector)),
            "the test's alert on the page",
        )
        row = browser.find_element(By.CSS_SELECTOR, selector)
        cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        assert cells[1] == "tx-001600"
        assert cells[3] == "************2222"  # card masked
        assert cells[2] == "*" * 18 + "0009"  # account GB29NWBK60161331920009 masked
        assert cells[7] == "block"
        assert "memo mentions 'gift card'" in cells[8]
        assert len(browser.find_elements(By.CSS_SELECTOR, "#alerts tbody tr")) <= 50

        p = running.processor
        await until(lambda: p.counters.scored >= 1601, "everything scored")
        await until(lambda: text_of(browser, "out-total") == "1,601 in total", "page totals")
        assert text_of(browser, "out-total") != before  # live numbers changed without a reload
        assert float(text_of(browser, "p99").replace(",", "")) > 0
        await until(lambda: text_of(browser, "lag-total") == "0", "no lag left on the page")
        assert browser.find_elements(By.CSS_SELECTOR, "#alerts tbody tr")[0] == row  # newest
        drift = text_of(browser, "drift-msg")
        assert drift.startswith("within bounds"), drift
        await asyncio.sleep(1.5)  # one more poll, so the screenshot shows the final state
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        assert await asyncio.to_thread(browser.save_screenshot, str(SCREENSHOT))
        assert SCREENSHOT.stat().st_size > 10_000
    finally:
        await asyncio.to_thread(browser.quit)
