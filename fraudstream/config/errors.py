"""The error every bad setting raises, and the environment variable its fix names.

`ConfigError` messages name the field, where its value came from and how to fix it; most
fixes are an environment variable, so the name of a field's variable (`env_name`) lives here
beside the error, for the checks and for the loading alike.
"""

from __future__ import annotations

ENV_PREFIX = "FRAUDSTREAM_"


class ConfigError(ValueError):
    """Bad configuration: the message names the field, its source and the fix."""


def env_name(name: str) -> str:
    """The variable that sets a field: `kafka.bootstrap` is `FRAUDSTREAM_KAFKA_BOOTSTRAP`."""
    return ENV_PREFIX + name.replace(".", "_").upper()
