"""Creating and deleting topics on purpose, since the broker never auto-creates them.

`ensure_topics` returns only once the new topics are in the broker's metadata with a leader for
every partition: a producer started right after it then finds its partitions instead of failing
with UNKNOWN_TOPIC_OR_PARTITION. `client_kwargs` goes to the admin client unchanged, so security
settings (SASL, TLS) pass through once the broker grows such listeners.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

TOPIC_ALREADY_EXISTS = 36
UNKNOWN_TOPIC_OR_PARTITION = 3


@dataclass(frozen=True)
class TopicSpec:
    """How to create a topic; an existing topic is left as it is."""

    partitions: int = 3
    replication: int = 1
    config: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.partitions < 1 or self.replication < 1:
            raise ValueError(
                f"partitions and replication must be >= 1, got {self.partitions}, "
                f"{self.replication}"
            )
        # a private read-only copy: the spec stays what it was when made
        object.__setattr__(self, "config", MappingProxyType(dict(self.config)))


@asynccontextmanager
async def admin_client(
    bootstrap: str, client_kwargs: Mapping[str, Any] | None = None
) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client, closed on exit even if starting it failed."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **dict(client_kwargs or {}))
    try:
        await admin.start()
        yield admin
    finally:
        await admin.close()


def _raise_for(code: int, topic: str, message: str | None) -> None:
    error_class = kafka_errors.for_code(code)
    raise error_class(f"topic {topic!r}: {message or error_class.__name__}")


async def ensure_topics(
    bootstrap: str,
    topics: Mapping[str, TopicSpec],
    *,
    client_kwargs: Mapping[str, Any] | None = None,
    timeout: float = 60.0,
) -> None:
    """Create the `topics` that do not exist yet and wait until all of them are usable."""
    if not topics:
        return
    try:
        async with asyncio.timeout(timeout), admin_client(bootstrap, client_kwargs) as admin:
            await _create_missing(admin, topics)
            await _wait_for_metadata(admin, list(topics), present=True)
    except TimeoutError as exc:
        raise TimeoutError(f"topics {sorted(topics)} not ready within {timeout} s") from exc


async def _create_missing(admin: AIOKafkaAdminClient, topics: Mapping[str, TopicSpec]) -> None:
    existing = set(await admin.list_topics())
    new = [
        NewTopic(name, spec.partitions, spec.replication, topic_configs=dict(spec.config))
        for name, spec in topics.items()
        if name not in existing
    ]
    if new:
        response = (await admin.create_topics(new)).to_object()
        for result in response["topic_errors"]:
            code = result["error_code"]
            # already there: someone created it between list_topics and here, fine
            if code not in (0, TOPIC_ALREADY_EXISTS):
                _raise_for(code, result["topic"], result.get("error_message"))


async def delete_topics(
    bootstrap: str,
    topics: Collection[str],
    *,
    client_kwargs: Mapping[str, Any] | None = None,
    timeout: float = 60.0,
) -> None:
    """Delete `topics` (missing ones are fine) and wait until they are gone from the metadata."""
    if not topics:
        return
    try:
        async with asyncio.timeout(timeout), admin_client(bootstrap, client_kwargs) as admin:
            response = (await admin.delete_topics(list(topics))).to_object()
            for result in response["topic_error_codes"]:
                code = result["error_code"]
                if code not in (0, UNKNOWN_TOPIC_OR_PARTITION):
                    _raise_for(code, result["topic"], result.get("error_message"))
            await _wait_for_metadata(admin, list(topics), present=False)
    except TimeoutError as exc:
        raise TimeoutError(f"topics {sorted(topics)} not deleted within {timeout} s") from exc


async def _wait_for_metadata(
    admin: AIOKafkaAdminClient, names: list[str], *, present: bool
) -> None:
    """Poll metadata until every topic in `names` is there with a leader per partition
    (`present`), or none of them is there (not `present`). The caller bounds the time."""
    while True:
        described = await admin.describe_topics(names)
        ready = {
            item["topic"]
            for item in described
            if item["error_code"] == 0
            and item["partitions"]
            and all(part["leader"] >= 0 for part in item["partitions"])
        }
        if (present and ready >= set(names)) or (not present and not ready & set(names)):
            return
        await asyncio.sleep(0.1)
