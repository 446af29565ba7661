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

Modules: this one holds `Mapping` (what callers import, with `MappingConfigError` and `FieldError`)
and its per-record path (`to_event`, `checked_event`). The mapping file's reading and validation
live in `mapping_file`, the compiled path getters in `mapping_paths`, and the value parsers
(strings, numbers, labels, timestamps) in `mapping_values`; `to_event` calls those parsers
directly, so the split adds no call per record.
"""

from __future__ import annotations

from collections.abc import Mapping as AbcMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudstream.events import Event
from fraudstream.mapping_file import BUILTIN, MappingConfigError, fail, read_config, validate
from fraudstream.mapping_paths import compile_path, plan
from fraudstream.mapping_values import (
    LABELS,
    MAX_EPOCH,
    TIMESTAMP_FORMATS,
    check_epoch,
    timestamp_parser,
    to_float,
    to_label,
    to_str,
)
from fraudstream.records import MAX_AMOUNT, DecodeError

if TYPE_CHECKING:
    from fraudstream.features.spec import FeatureSpec

__all__ = ["BUILTIN", "TIMESTAMP_FORMATS", "FieldError", "Mapping", "MappingConfigError"]

FieldError = DecodeError
"""The former name of the error `to_event` returns: it is `records.DecodeError` (kind, message,
field), the one error type of a record that cannot be scored."""


def _builtin(name: str) -> Mapping:
    """A built-in mapping, loaded once."""
    got = _BUILTINS.get(name)
    if got is None:
        got = _BUILTINS[name] = Mapping.load(name)
    return got


_BUILTINS: dict[str, Mapping] = {}


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
        f = validate(config, source)
        self.name, self.id, self.amount, self.key = f.name, f.id, f.amount, f.key
        self.timestamp, self.timestamp_format = f.timestamp, f.timestamp_format
        self.entities, self.narrative = f.entities, f.narrative
        self.numeric, self.categorical = f.numeric, f.categorical
        self.label, self.forbidden = f.label, f.forbidden
        self._compile()
        self._reads_native: bool | None = None

    # -- loading --

    @classmethod
    def load(cls, name_or_path: str | Path) -> Mapping:
        """A built-in mapping by name (`native`, `handbook`) or a YAML file by path."""
        config, source = read_config(name_or_path)
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

    def _fail(self, key: str, problem: str) -> MappingConfigError:
        return fail(self.source, key, problem)

    def _compile(self) -> None:
        self._get_id = compile_path(self.id)
        self._get_ts = compile_path(self.timestamp)
        self._parse_ts = timestamp_parser(self.timestamp_format)
        self._get_amount = compile_path(self.amount)
        self._key_get = compile_path(self.entities[self.key])
        self._key_path = self.entities[self.key]
        # (name, path, plain key or None, getter): a plain key is read inline, saving a call
        self._entities = tuple(plan(role, path) for role, path in self.entities.items())
        self._narrative = tuple((path, compile_path(path)) for path in self.narrative)
        self._numeric = tuple(
            (name, path, compile_path(path)) for name, path in self.numeric.items()
        )
        self._categorical = tuple(plan(name, path) for name, path in self.categorical.items())
        self._get_label = None if self.label is None else compile_path(self.label)

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
        tx_id = to_str(raw, self.id)
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
        amount = to_float(raw, self.amount, "bad_amount")
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
        if not 0.0 <= timestamp < MAX_EPOCH:
            err = check_epoch(timestamp, self._get_ts(record), self.timestamp)
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
                v = to_str(v, path)
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
                v = to_str(get(record), path)
                if v is None:
                    continue
                if isinstance(v, DecodeError):
                    return v
                parts.append(v)
            narrative = " | ".join(parts)

        numeric: dict[str, float] = {}
        for name, path, get in self._numeric:
            x = to_float(get(record), path, "bad_value")
            if x is None:
                continue
            if isinstance(x, DecodeError):
                return x
            numeric[name] = x

        categorical: dict[str, str] = {}
        for name, path, key, get in self._categorical:
            v = record.get(key) if key is not None else get(record)
            if v.__class__ is not str or not v:
                v = to_str(v, path)
                if v is None:
                    continue
                if isinstance(v, DecodeError):
                    return v
            categorical[name] = v

        label: int | None = None
        if self._get_label is not None:
            raw = self._get_label(record)
            label = LABELS.get(raw) if raw.__class__ is str else None
            if label is None:
                lab = to_label(raw, self.label or "")
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
