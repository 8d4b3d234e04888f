"""JSONL call-log lines decoded straight into the schema's field values.

The generic reader builds a dict per line and resolves aliases in Python; for a call log that is most
of the import's parsing time. Here each line is decoded by msgspec into a struct whose fields are the
names this file uses, with types checked in C. A line the typed form does not fit (another alias,
a token count given as text, a nested object, bad JSON) is decoded the generic way instead, so the
result is the same either way; build_call validates both (a test checks the two paths agree).

A cost comes as its raw JSON text: msgspec's own Decimal reading of a string is Python's, which takes
"1_000" as 1000; a quoted cost that is not a plain decimal is handed over as text, for the strict
parse_decimal of build_call.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import IO, Any

import msgspec

from aispend.connectors.files.call_schema import ALIASES, FIELDS, layout
from aispend.connectors.files.readers import SourceRow, decode_json_line, iter_rows, lines_of

# The type each field has in a well-formed log; anything else takes the generic path.
_TYPES: dict[str, Any] = {
    "call_id": str,
    "timestamp": str | int,
    "cost": msgspec.Raw,
    "input_tokens": int,
    "uncached_input_tokens": int,
    "output_tokens": int,
    "cache_read_tokens": int,
    "cache_write_tokens": int,
    "cache_write_1h_tokens": int,
    "cache_write_5m_tokens": int,
    "latency_ms": int,
}
_COST = FIELDS.index("cost")
_PLAIN = re.compile(rb'"\d{1,30}(\.\d{1,30})?"')  # a quoted plain decimal: exact as Decimal, nothing to check


class CallLineDecoder:
    """Decodes the lines of one JSONL file; learns the file's field names from the lines it sees."""

    def __init__(self) -> None:
        self._typed: dict[tuple[str, ...], msgspec.json.Decoder[Any]] = {}
        self._names = tuple(names[0] for names in ALIASES.values())
        self._decoder = self._typed_decoder(self._names)

    def decode(self, raw: bytes) -> tuple[tuple[Any, ...] | None, dict[str, Any] | None, str | None]:
        """(values of FIELDS, None, None) from the typed path, or (None, fields, None) from the generic
        one, or (None, None, why the line is unreadable)."""
        if raw.find(b"{", 1) == -1:  # no nested object (a "{" inside a string just takes the slow path)
            try:
                values = msgspec.structs.astuple(self._decoder.decode(raw))[: len(FIELDS)]
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
                pass  # the generic path says what is wrong
            else:
                raw_cost = values[_COST]
                if raw_cost is None:
                    return values, None, None
                cost = _cost(bytes(raw_cost))
                if cost is not _GENERIC:
                    return (*values[:_COST], cost, *values[_COST + 1 :]), None, None
        fields, error = decode_json_line(raw)
        if fields is not None:
            self._learn(fields)
        return None, fields, error

    def _learn(self, fields: dict[str, Any]) -> None:
        """Take the names this line used for the typed decoding of the following lines."""
        used = layout(frozenset(fields))
        names = tuple(key or current for key, current in zip(used, self._names, strict=True))
        if names != self._names:
            self._names = names
            self._decoder = self._typed_decoder(names)

    def _typed_decoder(self, names: tuple[str, ...]) -> msgspec.json.Decoder[Any]:
        decoder = self._typed.get(names)
        if decoder is None:
            chosen = set(names)
            fields: list[tuple[str, Any, Any]] = [
                (f"f{index}", _typed(field), msgspec.field(default=None, name=name))
                for index, (field, name) in enumerate(zip(FIELDS, names, strict=True))
            ]
            # Any other name of a field makes the line take the generic path, which resolves aliases
            # by preference: UnsetType fits no JSON value, not even null.
            others = sorted({n for aliases in ALIASES.values() for n in aliases} - chosen)
            fields += [
                (f"x{index}", msgspec.UnsetType, msgspec.field(default=msgspec.UNSET, name=name))
                for index, name in enumerate(others)
            ]
            decoder = self._typed[names] = msgspec.json.Decoder(msgspec.defstruct("CallLine", fields))
        return decoder


_GENERIC = object()


def _typed(field: str) -> Any:
    kind = _TYPES.get(field, str)
    return kind if kind is msgspec.Raw else kind | None  # a Raw takes null as b"null" (see _cost)


def _cost(text: bytes) -> Any:
    """The value build_call gets for a cost's JSON text, or _GENERIC for the generic path."""
    first = text[0]
    if first == 0x22:  # a string
        return Decimal(text[1:-1].decode()) if _PLAIN.fullmatch(text) else msgspec.json.decode(text)
    if first == 0x2D or 0x30 <= first <= 0x39:  # a JSON number: its literal is exact as a Decimal
        return Decimal(text.decode())
    if text == b"null":
        return None
    return _GENERIC  # a list, an object, true/false: the generic path refuses it with its reason


def iter_call_rows(name: str, binary: IO[bytes], fmt: str, first_line: int = 1) -> Iterator[SourceRow]:
    """The rows of a call-log file; JSONL lines come typed-decoded where they fit (SourceRow.values)."""
    if fmt != "jsonl":
        yield from iter_rows(name, binary, fmt)
        return
    decoder = CallLineDecoder()
    for line_no, raw in lines_of(name, binary, first_line):
        if isinstance(raw, SourceRow):  # the rest of the file cannot be read
            yield raw
            return
        if raw.isspace() or not raw:
            continue
        values, fields, error = decoder.decode(raw)
        yield SourceRow(name, line_no, fields, error, values)
