"""Stream records out of files: CSV and JSON lines, plain or gzipped, in constant memory.

Used by `fraudstream replay`, training and evaluation. Records come out as dicts exactly as the
file holds them (CSV values are strings; "" is an empty cell); a `Mapping` turns them into events.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal

import orjson

SUFFIXES = (".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson", ".ndjson.gz")


class RecordFileError(ValueError):
    """A file that cannot be read as records (unknown suffix, bad line)."""


def file_kind(path: str | Path) -> Literal["csv", "jsonl"]:
    name = str(path).lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    raise RecordFileError(f"{path}: unknown file type; expected one of {', '.join(SUFFIXES)}")


def _open_binary(path: Path) -> IO[bytes]:
    if str(path).lower().endswith(".gz"):
        return io.BufferedReader(gzip.GzipFile(path, "rb"), buffer_size=1 << 20)
    return open(path, "rb", buffering=1 << 20)


def iter_records(
    path: str | Path, *, errors: Literal["raise", "skip"] = "raise"
) -> Iterator[dict[str, Any]]:
    """Yield each record of a `.csv`, `.jsonl`, `.json` (JSON lines) file, optionally `.gz`.

    JSON lines: one object per line, blank lines skipped; a `.json` file whose first character is
    `[` is read as one array (that one is loaded whole). A line that is not a JSON object raises
    `RecordFileError` with its line number, or is skipped with `errors="skip"`.
    CSV: the first row is the header; a row with the wrong number of cells is an error likewise.
    """
    p = Path(path)
    kind = file_kind(p)
    if kind == "csv":
        yield from _iter_csv(p, errors)
    else:
        yield from _iter_jsonl(p, errors)


def _iter_csv(path: Path, errors: str) -> Iterator[dict[str, Any]]:
    with _open_binary(path) as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            return
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        width = len(header)
        for row in reader:
            if len(row) != width:
                if not row:
                    continue
                if errors == "raise":
                    raise RecordFileError(
                        f"{path}:{reader.line_num}: {len(row)} cells, the header has {width}"
                    )
                continue
            yield dict(zip(header, row, strict=True))


def _iter_jsonl(path: Path, errors: str) -> Iterator[dict[str, Any]]:
    with _open_binary(path) as f:
        first = f.peek(64)[:64].lstrip() if isinstance(f, io.BufferedReader) else b""
        if first.startswith(b"["):
            try:
                items = orjson.loads(f.read())
            except orjson.JSONDecodeError as exc:
                raise RecordFileError(f"{path}: not a JSON array: {exc}") from None
            for i, obj in enumerate(items):
                if isinstance(obj, dict):
                    yield obj
                elif errors == "raise":
                    raise RecordFileError(f"{path}: item {i} is not a JSON object")
            return
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                if errors == "raise":
                    raise RecordFileError(f"{path}:{lineno}: not JSON: {exc}") from None
                continue
            if not isinstance(obj, dict):
                if errors == "raise":
                    raise RecordFileError(f"{path}:{lineno}: not a JSON object")
                continue
            yield obj
