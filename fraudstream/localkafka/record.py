"""The files a broker home keeps about its broker: the pid file (broker.json) and home.json.

`BrokerInfo` is what broker.json records of a running broker; the JSON helpers read a missing
or damaged file as empty and write atomically, so that a reader never sees half a record. Kept
apart from `broker.py`, which decides what to write and when.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class BrokerInfo:
    """A running broker, as recorded in its home's broker.json."""

    bootstrap: str
    host: str
    port: int
    pid: int
    home: Path
    version: str

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "home": str(self.home)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BrokerInfo:
        return cls(
            bootstrap=str(data["bootstrap"]),
            host=str(data["host"]),
            port=int(data["port"]),
            pid=int(data["pid"]),
            home=Path(data["home"]),
            version=str(data["version"]),
        )


def file_size(path: Path) -> int:
    """The size of `path` in bytes; 0 if it cannot be read."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in `path`; {} if it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically, so that a reader never sees half a record."""
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    scratch.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    scratch.replace(path)
