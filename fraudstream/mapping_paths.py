"""Compiled field paths: the getters a `mapping.Mapping` reads a bank's record with.

A mapping names each field by a dotted path (`merchant.country` reads
`record["merchant"]["country"]`); a flat record whose key is literally `merchant.country` (a CSV
header) is read too. `Mapping.to_event` runs per record (10k+ records/s), so each path is
compiled here, once, when the mapping is built, into a small closure specialised for its depth:
no string splitting per record. A getter returns the value, None when a field is missing, or a
`NotObject` when a parent on the path is not an object (the value parsers in `mapping_values`
turn that into a `wrong_type` error naming the parent).

Also here: `plan` (a getter with the plain key that lets the hot loop read a top-level field
inline) and `overlaps` (one path is the other or lies under it), which the mapping file's
validation uses to keep the label and the `forbidden` paths out of the model's inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping as AbcMapping
from typing import Any

Getter = Callable[[AbcMapping[str, Any]], Any]


class NotObject:
    """Returned by a getter when a parent on the path is not an object (e.g. a string)."""

    __slots__ = ("parent",)

    def __init__(self, parent: str) -> None:
        self.parent = parent


def compile_path(path: str) -> Getter:
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
            return NotObject(a)

        return get2

    def getn(r: AbcMapping[str, Any]) -> Any:
        v: Any = r
        for i, part in enumerate(parts):
            if not isinstance(v, dict):
                return NotObject(".".join(parts[:i]))
            v = v.get(part)
            if v is None:
                return r.get(path) if i == 0 else None
        return v

    return getn


def plan(name: str, path: str) -> tuple[str, str, str | None, Getter]:
    """(name, path, plain key or None, getter): a plain (undotted) key is read inline by the
    per-record loop, saving a call."""
    return (name, path, None if "." in path else path, compile_path(path))


def overlaps(a: str, b: str) -> bool:
    """True when one path is the other or lies under it."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")
