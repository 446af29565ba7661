"""The mapping file: reading it (a built-in name or a YAML path) and validating it, once.

`read_config` finds and parses the YAML; `validate` checks the whole of it and returns the
`MappingFields` (each role's field path) that `mapping.Mapping` compiles, or raises
`MappingConfigError` naming the key and the fix. Nothing here runs per record.

Besides the shape of each key, validation enforces the rules that keep ground truth out of the
model: the label path (or a field under it, or one above it) is never mapped to any other role,
and no mapped path overlaps one listed under `forbidden` (the handbook's TX_FRAUD_SCENARIO, the
synthetic generator's metadata.typology: *why* a transaction is fraud).
"""

from __future__ import annotations

import re
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

import yaml

from fraudstream.config import yaml_position
from fraudstream.mapping_paths import overlaps
from fraudstream.mapping_values import TIMESTAMP_FORMATS, json_type

BUILTIN: Final = ("native", "handbook")

_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
_TOP_KEYS: Final = (
    "name",
    "description",
    "id",
    "timestamp",
    "amount",
    "key",
    "entities",
    "narrative",
    "numeric",
    "categorical",
    "label",
    "forbidden",
)


class MappingConfigError(ValueError):
    """The mapping file is wrong; the message names the key and how to fix it."""


@dataclass(frozen=True, slots=True)
class MappingFields:
    """A validated mapping file: the field path of each role (see `mapping.Mapping`)."""

    name: str
    id: str
    timestamp: str
    timestamp_format: str
    amount: str
    key: str
    entities: dict[str, str]
    narrative: tuple[str, ...]
    numeric: dict[str, str]
    categorical: dict[str, str]
    label: str | None
    forbidden: tuple[str, ...]


def read_config(name_or_path: str | Path) -> tuple[Any, str]:
    """(the parsed YAML, a description of where it came from) for a built-in mapping by name
    (`native`, `handbook`) or a YAML file by path."""
    text: str
    source: str
    if isinstance(name_or_path, str) and name_or_path in BUILTIN:
        ref = resources.files("fraudstream") / "mappings" / f"{name_or_path}.yaml"
        text = ref.read_text(encoding="utf-8")
        source = f"built-in mapping '{name_or_path}'"
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise MappingConfigError(
                f"mapping {str(name_or_path)!r}: no such file; give a YAML file path or one "
                f"of the built-in names: {', '.join(BUILTIN)}"
            )
        text = path.read_text(encoding="utf-8")
        source = str(path)
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingConfigError(f"{source}: not valid YAML: {yaml_position(exc)}") from None
    return config, source


def fail(source: str, key: str, problem: str) -> MappingConfigError:
    """The error for `key` of the mapping from `source` (to raise)."""
    return MappingConfigError(f"{source}: '{key}': {problem}")


def _path(source: str, key: str, v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise fail(
            source, key, f"expected a field path like 'amount' or 'merchant.country', got {v!r}"
        )
    if any(not part for part in v.split(".")):
        raise fail(source, key, f"empty segment in path {v!r} (write 'a.b', not 'a..b' or '.a')")
    return v


def _names(source: str, key: str, v: Any) -> dict[str, str]:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise fail(source, key, f"expected a mapping of name -> field path, got {json_type(v)}")
    out: dict[str, str] = {}
    for name, path in v.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise fail(
                source,
                key,
                f"name {name!r} must be lower-case letters, digits and '_', starting with a "
                "letter (quote YAML words like 'on'/'no' that parse as booleans)",
            )
        out[name] = _path(source, f"{key}.{name}", path)
    return out


def validate(c: Any, source: str) -> MappingFields:
    """The mapping file's content `c`, checked whole; `MappingConfigError` at the first fault."""
    if not isinstance(c, AbcMapping):
        raise MappingConfigError(f"{source}: expected a YAML mapping at the top level")
    unknown = [k for k in c if k not in _TOP_KEYS]
    if unknown:
        raise fail(source, str(unknown[0]), f"unknown key; allowed keys: {', '.join(_TOP_KEYS)}")
    for required in ("name", "id", "timestamp", "amount", "key", "entities"):
        if c.get(required) is None:
            raise fail(source, required, "is required")
    name = c["name"]
    if not isinstance(name, str) or not name:
        raise fail(source, "name", f"expected a non-empty string, got {name!r}")
    id_path = _path(source, "id", c["id"])
    ts = c["timestamp"]
    if isinstance(ts, str):
        ts = {"field": ts, "format": "rfc3339"}
    if not isinstance(ts, dict):
        raise fail(source, "timestamp", "expected a path or {field: <path>, format: <format>}")
    extra = set(ts) - {"field", "format"}
    if extra:
        raise fail(source, f"timestamp.{sorted(extra)[0]}", "unknown key; use field and format")
    timestamp = _path(source, "timestamp.field", ts.get("field"))
    fmt = ts.get("format", "rfc3339")
    if not isinstance(fmt, str) or (fmt not in TIMESTAMP_FORMATS and "%" not in fmt):
        raise fail(
            source,
            "timestamp.format",
            f"{fmt!r} is not a format; use one of {', '.join(TIMESTAMP_FORMATS)} or a strptime "
            "pattern such as '%Y-%m-%d %H:%M:%S' (naive times are UTC)",
        )
    amount = _path(source, "amount", c["amount"])
    entities = _names(source, "entities", c["entities"])
    if not entities:
        raise fail(source, "entities", "map at least the key entity, e.g. {account: account_id}")
    key = c["key"]
    if key not in entities:
        raise fail(
            source,
            "key",
            f"{key!r} is not one of the entities ({', '.join(entities)}); the key names "
            "the entity role that partitions the stream, e.g. key: account",
        )
    narrative = c.get("narrative")
    if narrative is None:
        narrative = []
    elif isinstance(narrative, str):
        narrative = [narrative]
    if not isinstance(narrative, list):
        raise fail(source, "narrative", "expected a list of field paths ([] for none)")
    narrative_paths = tuple(_path(source, f"narrative[{i}]", p) for i, p in enumerate(narrative))
    numeric = _names(source, "numeric", c.get("numeric"))
    categorical = _names(source, "categorical", c.get("categorical"))
    both = set(numeric) & set(categorical)
    if both:
        name0 = sorted(both)[0]
        raise fail(
            source, f"categorical.{name0}", "also a numeric feature; a feature name must be unique"
        )
    label_raw = c.get("label")
    label = None if label_raw is None else _path(source, "label", label_raw)
    forbidden = c.get("forbidden") or []
    if isinstance(forbidden, str):
        forbidden = [forbidden]
    if not isinstance(forbidden, list):
        raise fail(source, "forbidden", "expected a list of field paths")
    forbidden_paths = tuple(_path(source, f"forbidden[{i}]", p) for i, p in enumerate(forbidden))

    inputs: list[tuple[str, str]] = [
        ("id", id_path),
        ("timestamp.field", timestamp),
        ("amount", amount),
    ]
    inputs += [(f"entities.{k}", p) for k, p in entities.items()]
    inputs += [(f"narrative[{i}]", p) for i, p in enumerate(narrative_paths)]
    inputs += [(f"numeric.{k}", p) for k, p in numeric.items()]
    inputs += [(f"categorical.{k}", p) for k, p in categorical.items()]
    for where, path in inputs:
        if label is not None and overlaps(path, label):
            raise fail(
                source,
                where,
                f"reads {path!r}, which overlaps the label path {label!r}; the label is "
                "never a model input: remove it from here",
            )
        for bad in forbidden_paths:
            if overlaps(path, bad):
                raise fail(
                    source,
                    where,
                    f"reads {path!r}, which is forbidden ({bad!r} is listed under 'forbidden'):"
                    " remove it",
                )
    if label is not None:
        for bad in forbidden_paths:
            if overlaps(label, bad):
                raise fail(source, "label", f"{label!r} is listed under 'forbidden'")
    return MappingFields(
        name=name,
        id=id_path,
        timestamp=timestamp,
        timestamp_format=fmt,
        amount=amount,
        key=key,
        entities=entities,
        narrative=narrative_paths,
        numeric=numeric,
        categorical=categorical,
        label=label,
        forbidden=forbidden_paths,
    )
