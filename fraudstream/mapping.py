"""Bring-your-own-schema: a bank's field names -> the roles the model uses.

Theory of operation
-------------------
A mapping file (YAML) names, for each role the model knows (id, timestamp, amount, entity keys,
narrative, numeric and categorical features, label), the path of the field that carries it in the
bank's records. Paths are dotted (`merchant.country` reads `record["merchant"]["country"]`); a flat
record whose key is literally `merchant.country` (a CSV header) is read too.

`Mapping.load()` validates the whole file once and raises `MappingConfigError` naming the key and
the fix. `Mapping.to_event()` then runs per record (10k+ records/s), so every path is compiled into
a small getter when the mapping is built: no string splitting, no YAML, no regex per record. Bad
records are values, not exceptions: `to_event` returns a `records.DecodeError` (the one error type
of a record that cannot be scored, `kind` one of the dead-letter schema's error kinds), and the
stream sends it to the dead-letter topic.

Parsing rules (the same for JSON and CSV, where every value arrives as a string):
- required: id, timestamp, amount and the key entity; everything else is optional and a missing
  field (absent, null, or "" from a CSV) is left out of the event;
- amount: a number or a numeric string, finite, 0 <= amount <= 1e9;
- numeric features: a number, a numeric string or a boolean (1/0), finite;
- categorical features and entity keys: strings as they are, integers as their digits, booleans
  as "true"/"false";
- label: 0/1, true/false (or those as strings); never a model input, and a mapping that maps the
  label path (or a field under it, or one above it) to any other role is refused;
- `forbidden` lists paths that must never be mapped (the handbook's TX_FRAUD_SCENARIO, the
  synthetic generator's metadata.typology): ground truth about *why* a transaction is fraud.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from collections.abc import Mapping as AbcMapping
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import yaml

from fraudstream.config import yaml_position
from fraudstream.events import Event
from fraudstream.records import MAX_AMOUNT, DecodeError

if TYPE_CHECKING:
    from fraudstream.features.spec import FeatureSpec

BUILTIN: Final = ("native", "handbook")
TIMESTAMP_FORMATS: Final = ("rfc3339", "iso8601", "epoch_s", "epoch_ms")
"""Besides these, a `strptime` pattern (any string with a `%`); naive times are UTC."""

_MAX_EPOCH: Final = 7_258_118_400.0  # 2200-01-01T00:00:00Z, as in the wire schema
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
_EPOCH_NAIVE: Final = datetime(1970, 1, 1)


class MappingConfigError(ValueError):
    """The mapping file is wrong; the message names the key and how to fix it."""


FieldError = DecodeError
"""The former name of the error `to_event` returns: it is `records.DecodeError` (kind, message,
field), the one error type of a record that cannot be scored."""


# --- compiled getters -------------------------------------------------------------------------


class _NotObject:
    """Returned by a getter when a parent on the path is not an object (e.g. a string)."""

    __slots__ = ("parent",)

    def __init__(self, parent: str) -> None:
        self.parent = parent


Getter = Callable[[AbcMapping[str, Any]], Any]


def _compile_path(path: str) -> Getter:
    """A getter for a dotted path; None when missing. Built once per mapping."""
    parts = tuple(path.split("."))
    if len(parts) == 1:
        key = parts[0]

        def get1(r: AbcMapping[str, Any]) -> Any:
            return r.get(key)

        return get1
    if len(parts) == 2:
        a, b = parts

        def get2(r: AbcMapping[str, Any]) -> Any:
            v = r.get(a)
            if v is None:
                return r.get(path)  # a flat record with a dotted key (CSV header)
            if isinstance(v, dict):
                return v.get(b)
            return _NotObject(a)

        return get2

    def getn(r: AbcMapping[str, Any]) -> Any:
        v: Any = r
        for i, part in enumerate(parts):
            if not isinstance(v, dict):
                return _NotObject(".".join(parts[:i]))
            v = v.get(part)
            if v is None:
                return r.get(path) if i == 0 else None
        return v

    return getn


def _plan(name: str, path: str) -> tuple[str, str, str | None, Getter]:
    return (name, path, None if "." in path else path, _compile_path(path))


def _json_type(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _not_object(field: str, v: _NotObject) -> DecodeError:
    return DecodeError("wrong_type", f"'{v.parent}' is not an object, cannot read '{field}'", field)


# --- value parsers (return the value or a DecodeError) -----------------------------------------


def _to_str(v: Any, field: str) -> str | DecodeError | None:
    """Key or category: None when missing."""
    if v is None:
        return None
    if isinstance(v, str):
        return v or None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return DecodeError("bad_value", f"must be finite, got {v!r}", field)
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, _NotObject):
        return _not_object(field, v)
    return DecodeError("wrong_type", f"expected a string, got {_json_type(v)}", field)


def _to_float(v: Any, field: str, bad_kind: str) -> float | DecodeError | None:
    """A number, or None when missing (None or "")."""
    if v is None:
        return None
    if isinstance(v, float):
        x = v
    elif isinstance(v, bool):
        x = 1.0 if v else 0.0
    elif isinstance(v, int):
        x = float(v)
    elif isinstance(v, str):
        if not v:
            return None
        try:
            x = float(v)
        except ValueError:
            return DecodeError(bad_kind, f"not a number: {v[:40]!r}", field)
    elif isinstance(v, _NotObject):
        return _not_object(field, v)
    else:
        return DecodeError("wrong_type", f"expected a number, got {_json_type(v)}", field)
    if not math.isfinite(x):
        return DecodeError(bad_kind, f"must be finite, got {v!r}", field)
    return x


_LABELS: Final = {"0": 0, "1": 1, "true": 1, "false": 0, "0.0": 0, "1.0": 1}


def _to_label(v: Any, field: str) -> int | DecodeError | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (int, float)) and v in (0, 1):
        return int(v)
    if isinstance(v, str):
        got = _LABELS.get(v.strip().lower())
        if got is not None:
            return got
    if isinstance(v, _NotObject):
        return _not_object(field, v)
    return DecodeError("bad_value", f"a label must be 0/1 or true/false, got {v!r}"[:200], field)


TimestampParser = Callable[[Any, str], "float | DecodeError"]


def _check_epoch(x: float, raw: Any, field: str) -> float | DecodeError:
    if not 0.0 <= x < _MAX_EPOCH:
        return DecodeError(
            "bad_timestamp", f"outside 1970-01-01..2200-01-01: {str(raw)[:40]!r}", field
        )
    return x


def _dt_epoch(dt: datetime) -> float:
    if dt.tzinfo is None:
        return (dt - _EPOCH_NAIVE).total_seconds()
    return dt.timestamp()


def _timestamp_parser(fmt: str) -> TimestampParser:
    if fmt in ("rfc3339", "iso8601"):
        need_zone = fmt == "rfc3339"

        def parse_iso(v: Any, field: str) -> float | DecodeError:
            if not isinstance(v, str):
                if isinstance(v, _NotObject):
                    return _not_object(field, v)
                return DecodeError("wrong_type", f"expected a string, got {_json_type(v)}", field)
            try:
                dt = datetime.fromisoformat(v)
            except ValueError:
                try:  # RFC 3339 allows a lower-case 't' and 'z'
                    dt = datetime.fromisoformat(v.upper())
                except ValueError:
                    return DecodeError("bad_timestamp", f"not {fmt}: {v[:40]!r}", field)
            if need_zone and dt.tzinfo is None:
                return DecodeError("bad_timestamp", f"no time zone in {v[:40]!r}", field)
            return _check_epoch(_dt_epoch(dt), v, field)

        return parse_iso
    if fmt in ("epoch_s", "epoch_ms"):
        scale = 1.0 if fmt == "epoch_s" else 0.001

        def parse_epoch(v: Any, field: str) -> float | DecodeError:
            if isinstance(v, bool):
                return DecodeError("wrong_type", "expected a number, got boolean", field)
            x = _to_float(v, field, "bad_timestamp")
            if x is None:
                return DecodeError("missing_field", "required field is missing", field)
            if isinstance(x, DecodeError):
                return x
            return _check_epoch(x * scale, v, field)

        return parse_epoch

    # A strptime pattern. fromisoformat is ~20x faster, so the two common ISO-like patterns try it
    # first on strings of exactly the pattern's shape, and fall back to strptime otherwise.
    fast = fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")
    sep = fmt[8] if fast else ""

    def parse_pattern(v: Any, field: str) -> float | DecodeError:
        if not isinstance(v, str):
            if isinstance(v, _NotObject):
                return _not_object(field, v)
            return DecodeError("wrong_type", f"expected a string, got {_json_type(v)}", field)
        dt = None
        if fast and len(v) == 19 and v[10] == sep:
            try:
                dt = datetime.fromisoformat(v)
            except ValueError:
                dt = None
        if dt is None:
            try:
                dt = datetime.strptime(v, fmt)
            except ValueError:
                return DecodeError("bad_timestamp", f"does not match {fmt!r}: {v[:40]!r}", field)
        return _check_epoch(_dt_epoch(dt), v, field)

    return parse_pattern


# --- the mapping ---------------------------------------------------------------------------------


def _builtin(name: str) -> Mapping:
    """A built-in mapping, loaded once."""
    got = _BUILTINS.get(name)
    if got is None:
        got = _BUILTINS[name] = Mapping.load(name)
    return got


_BUILTINS: dict[str, Mapping] = {}


def _overlaps(a: str, b: str) -> bool:
    """True when one path is the other or lies under it."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


class Mapping:
    """A validated, compiled field mapping. Build with `Mapping.load` or `Mapping.from_dict`."""

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

    def __init__(self, config: AbcMapping[str, Any], *, source: str = "<dict>") -> None:
        self.source = source
        self._validate(config)
        self._compile()
        self._reads_native: bool | None = None

    # -- loading --

    @classmethod
    def load(cls, name_or_path: str | Path) -> Mapping:
        """A built-in mapping by name (`native`, `handbook`) or a YAML file by path."""
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
        return cls(config, source=source)

    @classmethod
    def from_dict(cls, config: AbcMapping[str, Any], *, source: str = "<dict>") -> Mapping:
        return cls(config, source=source)

    def to_dict(self) -> dict[str, Any]:
        """The mapping as a plain dict (the YAML's content), e.g. to save it with a model."""
        out: dict[str, Any] = {
            "name": self.name,
            "id": self.id,
            "timestamp": {"field": self.timestamp, "format": self.timestamp_format},
            "amount": self.amount,
            "key": self.key,
            "entities": dict(self.entities),
            "narrative": list(self.narrative),
            "numeric": dict(self.numeric),
            "categorical": dict(self.categorical),
            "forbidden": list(self.forbidden),
        }
        if self.label is not None:
            out["label"] = self.label
        return out

    def __repr__(self) -> str:
        return f"Mapping(name={self.name!r}, source={self.source!r})"

    # -- validation --

    def _fail(self, key: str, problem: str) -> MappingConfigError:
        return MappingConfigError(f"{self.source}: '{key}': {problem}")

    def _path(self, key: str, v: Any) -> str:
        if not isinstance(v, str) or not v.strip():
            raise self._fail(
                key, f"expected a field path like 'amount' or 'merchant.country', got {v!r}"
            )
        if any(not part for part in v.split(".")):
            raise self._fail(key, f"empty segment in path {v!r} (write 'a.b', not 'a..b' or '.a')")
        return v

    def _names(self, key: str, v: Any) -> dict[str, str]:
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise self._fail(key, f"expected a mapping of name -> field path, got {_json_type(v)}")
        out: dict[str, str] = {}
        for name, path in v.items():
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise self._fail(
                    key,
                    f"name {name!r} must be lower-case letters, digits and '_', starting with a "
                    "letter (quote YAML words like 'on'/'no' that parse as booleans)",
                )
            out[name] = self._path(f"{key}.{name}", path)
        return out

    def _validate(self, c: Any) -> None:
        if not isinstance(c, AbcMapping):
            raise MappingConfigError(f"{self.source}: expected a YAML mapping at the top level")
        unknown = [k for k in c if k not in _TOP_KEYS]
        if unknown:
            raise self._fail(str(unknown[0]), f"unknown key; allowed keys: {', '.join(_TOP_KEYS)}")
        for required in ("name", "id", "timestamp", "amount", "key", "entities"):
            if c.get(required) is None:
                raise self._fail(required, "is required")
        name = c["name"]
        if not isinstance(name, str) or not name:
            raise self._fail("name", f"expected a non-empty string, got {name!r}")
        self.name = name
        self.id = self._path("id", c["id"])
        ts = c["timestamp"]
        if isinstance(ts, str):
            ts = {"field": ts, "format": "rfc3339"}
        if not isinstance(ts, dict):
            raise self._fail("timestamp", "expected a path or {field: <path>, format: <format>}")
        extra = set(ts) - {"field", "format"}
        if extra:
            raise self._fail(f"timestamp.{sorted(extra)[0]}", "unknown key; use field and format")
        self.timestamp = self._path("timestamp.field", ts.get("field"))
        fmt = ts.get("format", "rfc3339")
        if not isinstance(fmt, str) or (fmt not in TIMESTAMP_FORMATS and "%" not in fmt):
            raise self._fail(
                "timestamp.format",
                f"{fmt!r} is not a format; use one of {', '.join(TIMESTAMP_FORMATS)} or a strptime "
                "pattern such as '%Y-%m-%d %H:%M:%S' (naive times are UTC)",
            )
        self.timestamp_format = fmt
        self.amount = self._path("amount", c["amount"])
        self.entities = self._names("entities", c["entities"])
        if not self.entities:
            raise self._fail("entities", "map at least the key entity, e.g. {account: account_id}")
        key = c["key"]
        if key not in self.entities:
            raise self._fail(
                "key",
                f"{key!r} is not one of the entities ({', '.join(self.entities)}); the key names "
                "the entity role that partitions the stream, e.g. key: account",
            )
        self.key = key
        narrative = c.get("narrative")
        if narrative is None:
            narrative = []
        elif isinstance(narrative, str):
            narrative = [narrative]
        if not isinstance(narrative, list):
            raise self._fail("narrative", "expected a list of field paths ([] for none)")
        self.narrative = tuple(self._path(f"narrative[{i}]", p) for i, p in enumerate(narrative))
        self.numeric = self._names("numeric", c.get("numeric"))
        self.categorical = self._names("categorical", c.get("categorical"))
        both = set(self.numeric) & set(self.categorical)
        if both:
            name0 = sorted(both)[0]
            raise self._fail(
                f"categorical.{name0}", "also a numeric feature; a feature name must be unique"
            )
        label = c.get("label")
        self.label = None if label is None else self._path("label", label)
        forbidden = c.get("forbidden") or []
        if isinstance(forbidden, str):
            forbidden = [forbidden]
        if not isinstance(forbidden, list):
            raise self._fail("forbidden", "expected a list of field paths")
        self.forbidden = tuple(self._path(f"forbidden[{i}]", p) for i, p in enumerate(forbidden))

        inputs: list[tuple[str, str]] = [
            ("id", self.id),
            ("timestamp.field", self.timestamp),
            ("amount", self.amount),
        ]
        inputs += [(f"entities.{k}", p) for k, p in self.entities.items()]
        inputs += [(f"narrative[{i}]", p) for i, p in enumerate(self.narrative)]
        inputs += [(f"numeric.{k}", p) for k, p in self.numeric.items()]
        inputs += [(f"categorical.{k}", p) for k, p in self.categorical.items()]
        for where, path in inputs:
            if self.label is not None and _overlaps(path, self.label):
                raise self._fail(
                    where,
                    f"reads {path!r}, which overlaps the label path {self.label!r}; the label is "
                    "never a model input: remove it from here",
                )
            for bad in self.forbidden:
                if _overlaps(path, bad):
                    raise self._fail(
                        where,
                        f"reads {path!r}, which is forbidden ({bad!r} is listed under 'forbidden'):"
                        " remove it",
                    )
        if self.label is not None:
            for bad in self.forbidden:
                if _overlaps(self.label, bad):
                    raise self._fail("label", f"{self.label!r} is listed under 'forbidden'")

    def _compile(self) -> None:
        self._get_id = _compile_path(self.id)
        self._get_ts = _compile_path(self.timestamp)
        self._parse_ts = _timestamp_parser(self.timestamp_format)
        self._get_amount = _compile_path(self.amount)
        self._key_get = _compile_path(self.entities[self.key])
        self._key_path = self.entities[self.key]
        # (name, path, plain key or None, getter): a plain key is read inline, saving a call
        self._entities = tuple(_plan(role, path) for role, path in self.entities.items())
        self._narrative = tuple((path, _compile_path(path)) for path in self.narrative)
        self._numeric = tuple(
            (name, path, _compile_path(path)) for name, path in self.numeric.items()
        )
        self._categorical = tuple(_plan(name, path) for name, path in self.categorical.items())
        self._get_label = None if self.label is None else _compile_path(self.label)

    # -- per record --

    def readable_ids(self, record: AbcMapping[str, Any]) -> tuple[str, str] | None:
        """(transaction id, the record key's entity, e.g. the account) when both can be read,
        even from a record that cannot become an event: the fail-closed score names them."""
        tx_id, key = self._get_id(record), self._key_get(record)
        if isinstance(tx_id, int) and not isinstance(tx_id, bool):
            tx_id = str(tx_id)
        if not isinstance(tx_id, str) or not 0 < len(tx_id) <= 128 or not tx_id.isprintable():
            return None
        if isinstance(key, int) and not isinstance(key, bool):
            key = str(key)
        return tx_id, key if isinstance(key, str) and len(key) <= 128 else ""

    def to_event(self, record: AbcMapping[str, Any]) -> Event | DecodeError:
        """The record as an `Event`, or the first reason it cannot be one."""
        raw = self._get_id(record)
        tx_id = _to_str(raw, self.id)
        if tx_id is None:
            return DecodeError("missing_field", "required field (id) is missing", self.id)
        if isinstance(tx_id, DecodeError):
            return tx_id

        raw = self._get_ts(record)
        if raw is None or raw == "":
            return DecodeError("missing_field", "required field (timestamp)", self.timestamp)
        ts = self._parse_ts(raw, self.timestamp)
        if isinstance(ts, DecodeError):
            return ts

        raw = self._get_amount(record)
        amount = _to_float(raw, self.amount, "bad_amount")
        if amount is None:
            return DecodeError("missing_field", "required field (amount) is missing", self.amount)
        if isinstance(amount, DecodeError):
            return amount
        if isinstance(raw, bool):
            return DecodeError("wrong_type", "expected a number, got boolean", self.amount)
        if amount < 0.0 or amount > MAX_AMOUNT:
            return DecodeError(
                "bad_amount", f"must be >= 0 and <= {MAX_AMOUNT:.0e}, got {amount!r}", self.amount
            )
        return self._event(record, tx_id, ts, amount)

    @property
    def reads_native_schema(self) -> bool:
        """True when this mapping reads the fields the built-in `native` mapping reads, each as
        the same role: a record that passed the native schema's checks
        (`records.check_transaction`) can then go through `checked_event`."""
        native = self._reads_native
        if native is None:
            mine, builtin = self.to_dict(), _builtin("native").to_dict()
            del mine["name"], builtin["name"]
            native = self._reads_native = mine == builtin
        return native

    def checked_event(self, record: AbcMapping[str, Any], timestamp: float) -> Event | DecodeError:
        """`to_event` for a native transaction that `records.check_transaction` has validated
        (`timestamp` is what it returned), with a mapping that `reads_native_schema`: the schema
        has checked the id, the timestamp and the amount, so they are read as they are and
        parsed no second time. What the schema leaves open is still checked as `to_event`
        checks it: a time zone that takes the instant outside 1970..2200, the label's value,
        and a field read from a flat dotted key (`counterparty.country` with no `counterparty`),
        which the schema ignores as unknown unless strict."""
        if not 0.0 <= timestamp < _MAX_EPOCH:
            err = _check_epoch(timestamp, self._get_ts(record), self.timestamp)
            assert isinstance(err, DecodeError)
            return err
        return self._event(record, self._get_id(record), timestamp, float(self._get_amount(record)))

    def _event(
        self, record: AbcMapping[str, Any], tx_id: str, ts: float, amount: float
    ) -> Event | DecodeError:
        """The rest of `to_event`, once the id, the timestamp and the amount are read."""
        entities: dict[str, str] = {}
        for role, path, key, get in self._entities:
            v = record.get(key) if key is not None else get(record)
            if v.__class__ is not str or not v:  # the common case, a non-empty string, is done
                v = _to_str(v, path)
                if v is None:
                    continue
                if isinstance(v, DecodeError):
                    return v
            entities[role] = v
        if self.key not in entities:
            return DecodeError(
                "missing_field", f"required field (key entity '{self.key}')", self._key_path
            )

        narrative = ""
        if self._narrative:
            parts: list[str] = []
            for path, get in self._narrative:
                v = _to_str(get(record), path)
                if v is None:
                    continue
                if isinstance(v, DecodeError):
                    return v
                parts.append(v)
            narrative = " | ".join(parts)

        numeric: dict[str, float] = {}
        for name, path, get in self._numeric:
            x = _to_float(get(record), path, "bad_value")
            if x is None:
                continue
            if isinstance(x, DecodeError):
                return x
            numeric[name] = x

        categorical: dict[str, str] = {}
        for name, path, key, get in self._categorical:
            v = record.get(key) if key is not None else get(record)
            if v.__class__ is not str or not v:
                v = _to_str(v, path)
                if v is None:
                    continue
                if isinstance(v, DecodeError):
                    return v
            categorical[name] = v

        label: int | None = None
        if self._get_label is not None:
            raw = self._get_label(record)
            label = _LABELS.get(raw) if raw.__class__ is str else None
            if label is None:
                lab = _to_label(raw, self.label or "")
                if isinstance(lab, DecodeError):
                    return lab
                label = lab

        return Event(tx_id, ts, amount, narrative, entities, numeric, categorical, label)

    # -- consistency with a feature spec --

    def check_spec(self, spec: FeatureSpec) -> None:
        """Raise `MappingConfigError` if `spec` needs a role or field this mapping does not map."""
        if spec.key_role != self.key:
            raise self._fail(
                "key",
                f"the feature spec keys its state by {spec.key_role!r}, this maps {self.key!r}",
            )
        for role in spec.roles():
            if role not in self.entities:
                raise self._fail("entities", f"the feature spec needs the entity role {role!r}")
        for name in spec.source_fields():
            if name not in self.categorical and name not in self.entities:
                raise self._fail(
                    "categorical", f"the feature spec reads {name!r}: map it as categorical"
                )
        for name in spec.numeric_fields:
            if name not in self.numeric:
                raise self._fail("numeric", f"the feature spec passes through {name!r}: map it")
        for name in spec.categorical_fields:
            if name not in self.categorical:
                raise self._fail("categorical", f"the feature spec passes through {name!r}: map it")
