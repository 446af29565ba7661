"""One frozen settings object for every command.

Sources, later ones winning: built-in defaults < a YAML file (`--config FILE` or
`FRAUDSTREAM_CONFIG`) < environment variables `FRAUDSTREAM_<SECTION>_<NAME>` (e.g.
`FRAUDSTREAM_KAFKA_BOOTSTRAP`, `FRAUDSTREAM_TOPICS_INPUT`, `FRAUDSTREAM_LATENCY_BUDGET_MS`) < CLI
flags. A secret may also come from a file named by `<variable>_FILE` (Docker and Kubernetes
secrets), e.g. `FRAUDSTREAM_KAFKA_SASL_PASSWORD_FILE=/run/secrets/kafka-password`. Every value
is checked when the settings are built; a bad one stops the start with a
`ConfigError` that names the field, where it came from and how to fix it. Secrets are `Secret`
values: they print as `******` everywhere (repr, str, `config show`, logs, exceptions) and are
revealed only where a client is built.

- :mod:`.errors`: ``ConfigError`` and the environment variable of a field.
- :mod:`.secret`: ``Secret``, and reading one from a secret file.
- :mod:`.kafka`: the ``kafka`` and ``topics`` sections, ``KafkaSettings`` and ``TopicSettings``.
- :mod:`.settings`: the ``Settings`` dataclass, its fields grouped by section.
- :mod:`.checks`: the validation of ``Settings``, one function per section.
- :mod:`.loading`: ``load_settings``: the YAML file, the environment, coercion.
"""

from fraudstream.config.errors import ENV_PREFIX, ConfigError, env_name
from fraudstream.config.kafka import KafkaSettings, SaslMechanism, SecurityProtocol, TopicSettings
from fraudstream.config.loading import field_names, load_settings, yaml_position
from fraudstream.config.secret import Secret
from fraudstream.config.settings import Guarantee, Settings

# The names these helpers had when the package was one module: tests still import them so.
_env_name = env_name
_field_names = field_names

__all__ = [
    "ENV_PREFIX",
    "ConfigError",
    "Guarantee",
    "KafkaSettings",
    "SaslMechanism",
    "Secret",
    "SecurityProtocol",
    "Settings",
    "TopicSettings",
    "load_settings",
    "yaml_position",
]
