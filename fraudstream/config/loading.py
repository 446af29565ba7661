"""Building `Settings` from its sources: the YAML file, environment variables and CLI flags.

Later sources win: built-in defaults < a YAML file (`--config FILE` or `FRAUDSTREAM_CONFIG`)
< environment variables < CLI flags. Every raw value is coerced to its field's type here,
with an error naming where it came from, and the result is checked before it is returned,
so that no command ever sees half-valid settings.
"""

from __future__ import annotations

import dataclasses
import os
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from fraudstream.config.errors import ENV_PREFIX, ConfigError, env_name
from fraudstream.config.kafka import KafkaSettings, TopicSettings
from fraudstream.config.secret import Secret, read_secret_file
from fraudstream.config.settings import Settings


def load_settings(
    *,
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Defaults < YAML file < environment < overrides (CLI flags, dotted names like
    "kafka.bootstrap" or "topics.input"; None values are ignored)."""
    env = os.environ if env is None else env
    values: dict[str, tuple[Any, str]] = {}
    path = config_file or env.get(ENV_PREFIX + "CONFIG")
    if path:
        for name, value in _read_yaml(Path(path)).items():
            values[name] = (value, f"{path}")
    for name in field_names():
        variable = env_name(name)
        if variable in env:
            values[name] = (env[variable], f"environment variable {variable}")
        if _FIELD_TYPES[name] in (Secret, Secret | None) and variable + "_FILE" in env:
            # Docker/Kubernetes secrets are files: FRAUDSTREAM_KAFKA_SASL_PASSWORD_FILE=/run/...
            if variable in env:
                raise ConfigError(
                    f"{name}: both {variable} and {variable}_FILE are set; fix: keep one"
                )
            values[name] = (read_secret_file(env[variable + "_FILE"], name), f"{variable}_FILE")
    for name, value in (overrides or {}).items():
        if value is not None:
            if name not in _FIELD_TYPES:
                raise ConfigError(f"unknown setting {name!r}")
            values[name] = (value, "command line")
    settings = _build(values)
    settings.check()
    return settings


def yaml_position(exc: yaml.YAMLError) -> str:
    """Where a YAML syntax error is, and what kind: never the text around it, which in a
    settings file may be a password."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "syntax error"
    if mark is None:
        return str(problem)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"


def _read_yaml(path: Path) -> dict[str, Any]:
    """The file's settings, flattened to dotted names (`kafka.bootstrap`) like the fields."""
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist; fix: --config <existing file>"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {yaml_position(exc)}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings")
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        if key in Settings.SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: {key} must be a mapping")
            for sub, subvalue in value.items():
                flat[f"{key}.{sub}"] = subvalue
        else:
            flat[str(key)] = value
    for name in flat:
        if name not in _FIELD_TYPES:
            raise ConfigError(
                f"{path}: unknown setting {name!r}; known: {', '.join(sorted(_FIELD_TYPES))}"
            )
    return flat


def _collect_types(cls: type, prefix: str = "") -> dict[str, Any]:
    hints = get_type_hints(cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            assert isinstance(hint, type)
            out.update(_collect_types(hint, f"{prefix}{f.name}."))
        else:
            out[prefix + f.name] = hint
    return out


# Every setting by its dotted name, with its type: what a raw value is coerced to.
_FIELD_TYPES: dict[str, Any] = _collect_types(Settings)


def field_names() -> list[str]:
    """Every setting by its dotted name (`group_id`, `kafka.bootstrap`...), in field order."""
    return list(_FIELD_TYPES)


def _build(values: Mapping[str, tuple[Any, str]]) -> Settings:
    sections: dict[str, dict[str, Any]] = {s: {} for s in Settings.SECTIONS}
    top: dict[str, Any] = {}
    for name, (raw, source) in values.items():
        value = _coerce(name, _FIELD_TYPES[name], raw, source)
        section, _, sub = name.partition(".")
        if sub:
            sections[section][sub] = value
        else:
            top[name] = value
    return Settings(
        kafka=KafkaSettings(**sections["kafka"]),
        topics=TopicSettings(**sections["topics"]),
        **top,
    )


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(name: str, hint: Any, raw: Any, source: str) -> Any:
    """`raw` (text from a variable, a YAML value, a CLI value) as the type `hint`."""

    def fail(expected: str) -> ConfigError:
        # a secret that fails to parse must not show up in the error either
        shown = "******" if hint in (Secret, Secret | None) else repr(raw)
        return ConfigError(f"{name}: expected {expected}, got {shown} (from {source})")

    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if raw is None or (isinstance(raw, str) and raw.strip() in ("", "null", "none")):
            return None
        if len(args) == 1:
            return _coerce(name, args[0], raw, source)
        raise AssertionError(f"unsupported type for {name}: {hint}")
    if origin is Literal:
        choices = get_args(hint)
        if raw not in choices:
            raise fail("one of " + ", ".join(map(str, choices)))
        return raw
    converters: dict[Any, Callable[[Any], Any]] = {
        str: str,
        Path: lambda v: Path(os.path.expanduser(str(v))),
        Secret: lambda v: v if isinstance(v, Secret) else Secret(str(v)),
    }
    if hint in converters:
        return converters[hint](raw)
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise fail("true or false")
    if hint in (int, float):
        # YAML's `true` is not the number 1 here: a bool where a number goes is a mistake
        if isinstance(raw, bool):
            raise fail("a number")
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise fail("a number") from None
        if hint is int:
            if number != int(number):
                raise fail("a whole number")
            return int(number)
        return number
    if origin is tuple:
        parts = raw.split(",") if isinstance(raw, str) else list(raw)
        if len(parts) != 2:
            raise fail("two numbers, e.g. 0.05,0.6")
        try:
            return (float(parts[0]), float(parts[1]))
        except (TypeError, ValueError):
            raise fail("two numbers, e.g. 0.05,0.6") from None
    raise AssertionError(f"unsupported type for {name}: {hint}")
