"""The local broker's client port: which one a start takes, and whether one is free.

Kept apart from `broker.py` (the broker's lifecycle): the choice is pure apart from a bind
attempt, and `fraudstream kafka` and the tests ask it without a broker.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from fraudstream.localkafka.errors import LocalKafkaError
from fraudstream.localkafka.settings import LOOPBACK

DEFAULT_PORT = 9092


def free_port(host: str = LOOPBACK) -> int:
    """A port nobody listens on right now (the kernel's pick; it may be taken again later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether the broker could bind `host:port`. SO_REUSEADDR as the JVM sets it, so that a
    port left in TIME_WAIT by the previous run still counts as free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def choose_port(
    requested: int | None,
    recorded: int | None,
    *,
    host: str = LOOPBACK,
    is_free: Callable[[int, str], bool] = port_is_free,
) -> int:
    """The client port: the requested one (which must be free), else the one this home used last
    time, else 9092, else any free port; the latter two only if free."""
    if requested is not None:
        if not is_free(requested, host):
            raise LocalKafkaError(
                f"port {requested} on {host} is already in use; choose another with --port"
            )
        return requested
    for candidate in (recorded, DEFAULT_PORT):
        if candidate is not None and is_free(candidate, host):
            return candidate
    return free_port(host)
