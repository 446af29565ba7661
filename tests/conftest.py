"""Fixtures shared by the whole test suite.

The Kafka broker is real (DESIGN.md, principle 7): one per test session, in a temporary home on
a free port, so a developer's own `fraudstream kafka up` broker is never touched. Each test
names its topics with its own `topic_prefix`, so tests never see each other's records.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from fraudstream.localkafka import BrokerInfo, LocalBroker, free_port

# CI runs the property tests on a fixed seed (the same examples every run, so a red build is
# about the change, not about the draw); developers' runs keep exploring new examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerInfo]:
    """A running local Kafka broker for the session; stopped when the session ends."""
    broker = LocalBroker(tmp_path_factory.mktemp("kafka"), port=free_port())
    info = broker.up()
    try:
        yield info
    finally:
        broker.down()


@pytest.fixture
def topic_prefix(request: pytest.FixtureRequest) -> str:
    """A prefix unique to this test, such as `t-test-round-trip-1f2e3d4c`, for its topic names."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60]
    return f"t-{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def default_model() -> Path:
    """The default model folder, built by the project's own training code on first use (a few
    minutes once; cached per version of the code that builds it, like `fraudstream demo` does)."""
    from fraudstream.runtime.loader import ensure_default_model

    return ensure_default_model()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The first test to use `default_model` pays for building it (about five minutes on two
    cores, longer on a loaded machine): tests that use it get a longer timeout than the
    suite's 600 s, unless they set their own."""
    for item in items:
        if "default_model" in getattr(item, "fixturenames", ()) and not item.get_closest_marker(
            "timeout"
        ):
            item.add_marker(pytest.mark.timeout(1800))
