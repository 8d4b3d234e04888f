"""Fast executemany of a SQLAlchemy statement: compile once, bind values with the column types'
own processors, hand the rows to the DBAPI driver. Skips SQLAlchemy's per-row parameter machinery,
which dominates bulk ingestion time, while keeping one statement for SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Row, Table, select
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


def execute_many(conn: Connection, stmt: ClauseElement, *, keys: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Execute `stmt` once per row; each row gives the values of `keys`, in that order."""
    if not rows:
        return
    dialect = conn.dialect
    compiled = cast(SQLCompiler, stmt.compile(dialect=dialect, column_keys=list(keys)))
    names: Sequence[str] = (compiled.positiontup or ()) if dialect.positional else list(compiled.binds)
    position = {key: index for index, key in enumerate(keys)}
    # Each statement parameter comes from a row value or is a constant of the statement (a '' in a CASE).
    sources: list[int] = []
    constants: dict[int, Any] = {}
    processors = []
    for slot, name in enumerate(names):
        bind = compiled.binds[name]
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if name in position:
            sources.append(position[name])
            if processor is not None:
                processors.append((slot, processor))
        else:
            sources.append(-1)
            constants[slot] = processor(bind.value) if processor else bind.value
    params: list[Any] = []
    # The same object in consecutive rows (e.g. one ingestion timestamp) is processed once.
    last_in: list[Any] = [object()] * len(names)
    last_out: list[Any] = [None] * len(names)
    for row in rows:
        values = [row[i] if i >= 0 else constants[slot] for slot, i in enumerate(sources)]
        for slot, processor in processors:
            value = values[slot]
            if value is last_in[slot]:
                values[slot] = last_out[slot]
            else:
                last_in[slot] = value
                values[slot] = last_out[slot] = processor(value)
        params.append(tuple(values) if dialect.positional else dict(zip(names, values, strict=True)))
    conn.exec_driver_sql(compiled.string, params)


def dict_rows(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(keys, value tuples) from dict rows that share their keys."""
    if not rows:
        return [], []
    keys = list(rows[0])
    return keys, [tuple(row[k] for k in keys) for row in rows]


def stored_by_key(
    conn: Connection, table: Table, *, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Row[Any]]:
    """The rows of `table` stored under these (source, natural_key) pairs.

    One lookup per source with `natural_key IN (...)`, which both databases answer from the
    (source, natural_key) unique index. A tuple IN scanned the whole table on SQLite (IN (VALUES ...))
    and rechecked every OR per row on PostgreSQL, so each batch of an import cost more than the last."""
    by_source: dict[str, list[str]] = {}
    for source, natural_key in keys:
        by_source.setdefault(source, []).append(natural_key)
    return {
        (row.source, row.natural_key): row
        for source, natural_keys in by_source.items()
        for row in conn.execute(select(table).where(table.c.source == source, table.c.natural_key.in_(natural_keys)))
    }
