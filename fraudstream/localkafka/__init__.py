"""A real local Apache Kafka broker (KRaft, single node, loopback only) for development and tests.

`LocalBroker(home).up()` downloads the jars once through Maven, starts the JVM detached and
returns once the broker answers; `fraudstream kafka up|status|down` does the same from the shell.
Importing this package does not import aiokafka; `ensure_topics` and `delete_topics` do, lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fraudstream.localkafka.broker import (
    BrokerInfo,
    LocalBroker,
    default_bootstrap,
    default_home,
    free_port,
)
from fraudstream.localkafka.errors import LocalKafkaError, ToolMissingError
from fraudstream.localkafka.jars import DEFAULT_VERSION

if TYPE_CHECKING:
    from fraudstream.localkafka.topics import TopicSpec, delete_topics, ensure_topics

__all__ = [
    "DEFAULT_VERSION",
    "BrokerInfo",
    "LocalBroker",
    "LocalKafkaError",
    "ToolMissingError",
    "TopicSpec",
    "default_bootstrap",
    "default_home",
    "delete_topics",
    "ensure_topics",
    "free_port",
]

_LAZY = {"TopicSpec", "ensure_topics", "delete_topics"}


def __getattr__(name: str) -> Any:
    """The topic helpers need aiokafka; load it only when they are asked for."""
    if name in _LAZY:
        from fraudstream.localkafka import topics

        return getattr(topics, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
