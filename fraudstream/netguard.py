"""A guard that lets code reach only the Kafka brokers it names, and records everything else.

For tests of the closed-network promise (nothing but the configured brokers is contacted at run
time): fraudstream's own, and a bank's acceptance tests of its deployment.

`socket.socket.connect`/`connect_ex` (what asyncio, aiokafka, urllib3 and requests end up calling)
refuse any IP address and port outside the allowed set, and `socket.getaddrinfo` refuses to
resolve any other name, so nothing can leave even through DNS. Unix sockets are not touched.
Each refusal is recorded in `violations` and raised as `PermissionError`.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterable, Iterator
from typing import Any


class NetworkGuard:
    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.allowed: set[tuple[str, int]] = set()
        for address in allowed:
            host, _, port = address.rpartition(":")
            self.allowed.add((host.strip("[]"), int(port)))
        self.hosts = {host for host, _ in self.allowed}
        self.violations: list[str] = []
        self.connections: list[tuple[str, int]] = []

    def _refuse(self, what: str) -> PermissionError:
        self.violations.append(what)
        return PermissionError(f"network guard: {what} is outside the closed network")

    def _check(self, sock: socket.socket, address: Any) -> None:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return
        host, port = str(address[0]), int(address[1])
        if (host, port) not in self.allowed:
            raise self._refuse(f"connect to {host}:{port}")
        self.connections.append((host, port))

    @contextlib.contextmanager
    def active(self) -> Iterator[NetworkGuard]:
        original_connect = socket.socket.connect
        original_connect_ex = socket.socket.connect_ex
        original_getaddrinfo = socket.getaddrinfo
        guard = self

        def connect(sock: socket.socket, address: Any) -> None:
            guard._check(sock, address)
            original_connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> int:
            guard._check(sock, address)
            return original_connect_ex(sock, address)

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else host
            if name is not None and name not in guard.hosts:
                raise guard._refuse(f"resolve {name}")
            return original_getaddrinfo(host, port, *args, **kwargs)

        socket.socket.connect = connect  # type: ignore[method-assign,assignment]
        socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
        socket.getaddrinfo = getaddrinfo
        try:
            yield self
        finally:
            socket.socket.connect = original_connect  # type: ignore[method-assign]
            socket.socket.connect_ex = original_connect_ex  # type: ignore[method-assign]
            socket.getaddrinfo = original_getaddrinfo
