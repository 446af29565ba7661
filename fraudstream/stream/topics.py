"""The topics a processor needs, created when missing (the broker never auto-creates them)."""

from __future__ import annotations

from typing import Any

from fraudstream.config import ConfigError, Settings
from fraudstream.localkafka.topics import TopicSpec, admin_client, ensure_topics
from fraudstream.stream.clients import admin_kwargs

# Dead letters may carry a whole oversized input record (base64 grows it by a third).
DLQ_MAX_MESSAGE_BYTES = 20 * 1024 * 1024
INPUT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def changelog_topic(settings: Settings) -> str:
    return f"{settings.state_prefix}-features-changelog"


def split_kwargs(settings: Settings) -> tuple[str, dict[str, Any]]:
    kwargs = admin_kwargs(settings.kafka)
    return kwargs.pop("bootstrap_servers"), kwargs


async def input_partitions(settings: Settings) -> int | None:
    bootstrap, kwargs = split_kwargs(settings)
    async with admin_client(bootstrap, kwargs) as admin:
        described = await admin.describe_topics([settings.topics.input])
    for item in described:
        if item["error_code"] == 0 and item["partitions"]:
            return len(item["partitions"])
    return None


async def prepare_topics(
    settings: Settings, *, create_input: bool = True, shadow: bool = False
) -> int:
    """Create missing topics and return the input topic's partition count. The per-entity state
    changelog gets as many partitions as the input, so partition p's state lives in partition p."""
    topics = settings.topics
    bootstrap, kwargs = split_kwargs(settings)
    plain = TopicSpec(topics.partitions, topics.replication)
    if create_input:
        await ensure_topics(
            bootstrap,
            {
                topics.input: TopicSpec(
                    topics.partitions,
                    topics.replication,
                    {"max.message.bytes": str(INPUT_MAX_MESSAGE_BYTES)},
                )
            },
            client_kwargs=kwargs,
        )
    partitions = await input_partitions(settings)
    if partitions is None:
        raise ConfigError(
            f"topics.input: topic {topics.input!r} does not exist on {bootstrap}; "
            "fix: create it, or check --input-topic"
        )
    await ensure_topics(
        bootstrap,
        {
            topics.scores: plain,
            topics.alerts: plain,
            topics.labels: plain,
            topics.dlq: TopicSpec(
                topics.partitions,
                topics.replication,
                {"max.message.bytes": str(DLQ_MAX_MESSAGE_BYTES)},
            ),
            changelog_topic(settings): TopicSpec(
                partitions, topics.replication, {"cleanup.policy": "compact"}
            ),
            # shadow mode: the challenger's scores (see stream/shadow.py)
            **({topics.shadow: plain} if shadow else {}),
        },
        client_kwargs=kwargs,
    )
    return partitions
