"""Rendering the broker's configuration files: pure functions, no I/O beyond reading templates.

All listener settings come from one place, `listener_properties`, because listeners are what
will grow: a SASL_SSL listener with SCRAM and an mTLS one will join the plaintext listener, each
a `Listener` plus its `listener.name.<name>.*` settings, without touching the template.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template

LOOPBACK = "127.0.0.1"
NODE_ID = 1
CONTROLLER_LISTENER = "CONTROLLER"
SERVER_TEMPLATE = "server.properties"
LOG4J2_TEMPLATE = "log4j2.properties"


@dataclass(frozen=True)
class Listener:
    """One socket the broker listens on.

    `name` is the listener name Kafka knows it by (`PLAINTEXT`, later say `SASL_SSL`, `MTLS`);
    `protocol` is its security protocol; `extra` holds settings Kafka scopes to this listener,
    written as `listener.name.<name lowercased>.<key>=<value>`.
    """

    name: str
    protocol: str
    port: int
    host: str = LOOPBACK
    extra: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def url(self) -> str:
        return f"{self.name}://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def plaintext(port: int, host: str = LOOPBACK) -> Listener:
    return Listener(name="PLAINTEXT", protocol="PLAINTEXT", port=port, host=host)


def controller(port: int, host: str = LOOPBACK) -> Listener:
    return Listener(name=CONTROLLER_LISTENER, protocol="PLAINTEXT", port=port, host=host)


def listener_properties(
    listeners: Sequence[Listener], ctrl: Listener, *, inter_broker: str | None = None
) -> dict[str, str]:
    """Every listener-related broker setting, for client `listeners` and one controller listener.

    The first client listener carries broker-to-broker traffic unless `inter_broker` names
    another. The controller listener is never advertised to clients.
    """
    if not listeners:
        raise ValueError("a broker needs at least one client listener")
    names = [listener.name for listener in [*listeners, ctrl]]
    if len(set(names)) != len(names):
        raise ValueError(f"listener names must be unique, got {names}")
    props = {
        "listeners": ",".join(listener.url for listener in [*listeners, ctrl]),
        "advertised.listeners": ",".join(listener.url for listener in listeners),
        "listener.security.protocol.map": ",".join(
            f"{listener.name}:{listener.protocol}" for listener in [*listeners, ctrl]
        ),
        "inter.broker.listener.name": inter_broker or listeners[0].name,
        "controller.listener.names": ctrl.name,
    }
    for listener in [*listeners, ctrl]:
        for key, value in listener.extra.items():
            props[f"listener.name.{listener.name.lower()}.{key}"] = value
    return props


def escape(value: str) -> str:
    """A value as java.util.Properties reads it back: backslashes are escapes there."""
    return value.replace("\\", "\\\\")


def read_template(name: str) -> str:
    return resources.files("fraudstream.localkafka").joinpath(name).read_text(encoding="utf-8")


def render_server_properties(
    *,
    data_dir: Path,
    listeners: Sequence[Listener],
    ctrl: Listener,
    template: str | None = None,
) -> str:
    """`server.properties` for a single combined broker+controller node."""
    text = template if template is not None else read_template(SERVER_TEMPLATE)
    listener_lines = "\n".join(
        f"{key}={escape(value)}" for key, value in listener_properties(listeners, ctrl).items()
    )
    return Template(text).substitute(
        node_id=str(NODE_ID),
        quorum_voters=f"{NODE_ID}@{ctrl.address}",
        log_dirs=escape(str(data_dir)),
        listener_properties=listener_lines,
    )


def render_log4j2() -> str:
    """The log4j2 configuration; it reads the log directory from `-Dkafka.logs.dir`."""
    return read_template(LOG4J2_TEMPLATE)
