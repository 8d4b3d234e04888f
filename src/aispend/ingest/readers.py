"""Streaming readers for JSONL and CSV files (gzip too; "-" is stdin). Memory stays flat."""

from __future__ import annotations

import csv
import gzip
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import msgspec

from aispend.ingest.call_schema import RowError


@dataclass(slots=True)
class SourceRow:
    """One data row: where it came from (file, 1-based line) and its fields, or why it is unreadable.

    A typed reader (ingest.call_decoder) gives the schema's field values instead of a dict of fields."""

    file: str
    line: int
    fields: dict[str, Any] | None
    error: str | None = None
    values: tuple[Any, ...] | None = None


def detect_format(name: str) -> str:
    lowered = name.lower().removesuffix(".gz")
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lowered.endswith(".csv"):
        return "csv"
    raise RowError(f"{name}: cannot tell the format from the extension (use .jsonl, .ndjson, .csv, optionally .gz)")


def open_binary(name: str) -> IO[bytes]:
    if name == "-":
        return sys.stdin.buffer
    handle: IO[bytes] = Path(name).open("rb")  # noqa: SIM115 (the caller closes it)
    if name.lower().endswith(".gz"):
        return gzip.GzipFile(fileobj=handle)  # type: ignore[return-value]
    return handle


def iter_rows(name: str, binary: IO[bytes], fmt: str) -> Iterator[SourceRow]:
    if fmt == "jsonl":
        yield from _iter_jsonl(name, binary)
    else:
        yield from _iter_csv(name, binary)


# float_hook=Decimal: a cost never passes through a binary float (msgspec hands over the literal text).
_DECODER = msgspec.json.Decoder(float_hook=Decimal)


def _iter_jsonl(name: str, binary: IO[bytes]) -> Iterator[SourceRow]:
    for line_no, raw in enumerate(binary, start=1):
        if not raw.strip():
            continue
        fields, error = decode_json_line(raw)
        yield SourceRow(name, line_no, fields, error)


def decode_json_line(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(the line's fields, None), nested objects flattened, or (None, why the line is unreadable)."""
    try:
        value = _DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        return None, f"not valid JSON: {exc}"
    if not isinstance(value, dict):
        return None, "a line must be a JSON object"
    if raw.find(b"{", 1) != -1:  # maybe nested objects: flatten (a "{" inside a string is harmless)
        value = _flatten(value)
    return value, None


def _flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects become dotted keys, so {"gen_ai": {"usage": {...}}} reads like OTel attributes."""
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and key not in ("tags", "attributes"):
            flat.update(_flatten(item, f"{name}."))
        elif isinstance(item, dict):
            flat.update(_flatten(item, ""))
        else:
            flat[name] = item
    return flat


def _iter_csv(name: str, binary: IO[bytes]) -> Iterator[SourceRow]:
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip() for h in header]
    for row in reader:
        line_no = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield SourceRow(name, line_no, None, f"has {len(row)} columns, the header has {len(header)}")
            continue
        yield SourceRow(name, line_no, dict(zip(header, row, strict=True)))
