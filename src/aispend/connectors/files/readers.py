"""Streaming readers for JSONL and CSV files (gzip too; "-" is stdin). Memory stays flat.

Nothing in a file stops the import with a traceback: a line that cannot be decoded (not UTF-8, nested
too deeply, a CSV cell too long) is a row error, and a file whose bytes stop being readable (a
truncated or corrupt .gz) ends with one error at the line where reading stopped, after its good rows.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import msgspec

from aispend.connectors.files.call_schema import RowError
from aispend.core.errors import AispendError


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


# What reading a file's bytes can raise midway: a truncated gzip stream (EOFError), corrupt compressed
# data (zlib.error), a file that is not gzip at all (BadGzipFile, an OSError), a failing disk.
READ_ERRORS = (EOFError, zlib.error, OSError)
UTF8_BOM = b"\xef\xbb\xbf"
# A tagged resource's cells can exceed csv's default 128 KiB; a cell past this is a row error.
CSV_FIELD_LIMIT = 16 * 1024 * 1024


def read_failure(exc: BaseException) -> str:
    """Why the rest of a file cannot be read, for the rejection at the line where reading stopped."""
    if isinstance(exc, EOFError):
        return "the compressed file is truncated: the rows after this point could not be read"
    if isinstance(exc, gzip.BadGzipFile):
        return f"not valid gzip data ({exc}): the rows after this point could not be read"
    if isinstance(exc, zlib.error):
        return f"the compressed data is corrupt ({exc}): the rows after this point could not be read"
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"cannot read the file ({text}): the rows after this point could not be read"


class FileReadError(AispendError):
    """Reading a file's bytes failed at `line` (see read_failure); the lines before it were read."""

    code = "unreadable_file"

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def lines_of(name: str, binary: Iterable[bytes], first_line: int = 1) -> Iterator[tuple[int, bytes | SourceRow]]:
    """(line number, line) for each line; a file's UTF-8 BOM is dropped. When reading fails, a last
    (line number, SourceRow error) instead."""
    line_no = first_line - 1
    try:
        for line_no, raw in enumerate(binary, start=first_line):
            if line_no == 1 and raw.startswith(UTF8_BOM):
                yield line_no, raw[3:]
                continue
            yield line_no, raw
    except READ_ERRORS as exc:
        yield line_no + 1, SourceRow(name, line_no + 1, None, read_failure(exc))


def cell_problem(cells: list[str], header: list[str]) -> str | None:
    """Why a CSV row read with errors="surrogateescape" cannot be stored, naming the column: a byte
    that is not UTF-8, or a NUL (PostgreSQL text cannot hold it). None for a clean row; one C-speed
    test of the joined row in the common case."""
    joined = "".join(cells)
    if joined.isascii() and "\x00" not in joined:
        return None
    for name, cell in zip(header, cells, strict=False):
        if "\x00" in cell:
            return f"column {name!r} contains a NUL character"
        try:
            cell.encode("utf-8")
        except UnicodeEncodeError as exc:
            char = cell[exc.start]
            shown = f"0x{ord(char) - 0xDC00:02X}" if "\udc80" <= char <= "\udcff" else repr(char)
            return f"column {name!r} is not UTF-8 text (byte {shown} at character {exc.start + 1})"
    return None


def iter_rows(name: str, binary: IO[bytes], fmt: str) -> Iterator[SourceRow]:
    if fmt == "jsonl":
        yield from _iter_jsonl(name, binary)
    else:
        yield from _iter_csv(name, binary)


# float_hook=Decimal: a cost never passes through a binary float (msgspec hands over the literal text).
_DECODER = msgspec.json.Decoder(float_hook=Decimal)


def _iter_jsonl(name: str, binary: IO[bytes]) -> Iterator[SourceRow]:
    for line_no, raw in lines_of(name, binary):
        if isinstance(raw, SourceRow):
            yield raw
            return
        if not raw.strip():
            continue
        fields, error = decode_json_line(raw)
        yield SourceRow(name, line_no, fields, error)


def decode_json_line(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(the line's fields, None), nested objects flattened, or (None, why the line is unreadable)."""
    try:
        value = _DECODER.decode(raw)
        if not isinstance(value, dict):
            return None, "a line must be a JSON object"
        if raw.find(b"{", 1) != -1:  # maybe nested objects: flatten (a "{" inside a string is harmless)
            value = _flatten(value)
    except msgspec.DecodeError as exc:
        return None, f"not valid JSON: {exc}"
    except UnicodeDecodeError:
        return None, _not_utf8(raw)
    except RecursionError:
        return None, "nested too deeply (a call log line is a flat object, or nested a few levels)"
    return value, None


def _not_utf8(raw: bytes) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:  # msgspec's own error counts within a string, not the line
        return f"not UTF-8 text (byte 0x{raw[exc.start]:02X} at byte {exc.start + 1} of the line)"
    return "not UTF-8 text"


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
    # surrogateescape: a byte that is not UTF-8 spoils its row only (checked per row below).
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(text)
    header: list[str] | None = None
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield SourceRow(name, reader.line_num, None, f"not valid CSV: {exc}")
            continue
        except READ_ERRORS as exc:
            yield SourceRow(name, reader.line_num + 1, None, read_failure(exc))
            return
        line_no = reader.line_num
        if header is None:
            header = [h.strip() for h in row]
            continue
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield SourceRow(name, line_no, None, f"has {len(row)} columns, the header has {len(header)}")
            continue
        problem = cell_problem(row, header)
        if problem is not None:
            yield SourceRow(name, line_no, None, problem)
            continue
        yield SourceRow(name, line_no, dict(zip(header, row, strict=True)))
