"""Secret values, and reading them from secret files.

A `Secret` prints as `******` everywhere (repr, str, `config show`, logs, exceptions) and is
revealed only where a client is built, so that no password or token leaks through a log
line or a traceback. Docker and Kubernetes hand secrets over as files, hence
`read_secret_file` for the `<variable>_FILE` form of a secret setting.
"""

from __future__ import annotations

from pathlib import Path

from fraudstream.config.errors import ConfigError


class Secret:
    """A string that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('******')"

    def __str__(self) -> str:
        return "******"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def read_secret_file(path: str, name: str) -> Secret:
    """The secret in the file `path` for the setting `name`, without its trailing newline
    (which editors and `echo` add, and no password holds)."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"{name}: cannot read the secret file {path} ({exc.strerror}); fix: mount the "
            f"secret there, readable by this user"
        ) from None
    return Secret(text.rstrip("\r\n"))
