from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.pool import StaticPool

from aispend.connectors.files.calls import import_calls
from aispend.connectors.files.parallel import CHUNK_LINES, chunks, import_jsonl_parallel
from aispend.connectors.files.readers import iter_rows, open_binary
from aispend.core.ledger.db import make_engine, upgrade
from aispend.core.ledger.models import AgentRun, CallRecord, CallRollup, CallRollupDaily, table_of
from aispend.core.pricing import PriceBook

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def _write(path: Path, count: int) -> Path:
    lines = []
    for i in range(count):
        if i == 7:
            lines.append("{broken")
            continue
        lines.append(
            json.dumps(
                {
                    "call_id": f"c{i}",
                    "timestamp": f"2026-11-{1 + i % 20:02d}T{i % 24:02d}:00:00Z",
                    "provider": "openai",
                    "model": "gpt-4o-mini" if i % 5 else "in-house-model",
                    "input_tokens": 1000 + i,
                    "output_tokens": 10 + i % 7,
                    "workflow": f"wf{i % 4}",
                    "run_id": f"r{i // 3}",
                    "outcome": "ok" if i % 3 == 2 else "",
                }
            )
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def _snapshot(engine: Engine) -> tuple[object, ...]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(select(func.count(), func.sum(table.c.cost))).one()
            for table in (table_of(CallRecord), table_of(CallRollup), table_of(CallRollupDaily), table_of(AgentRun))
        )


def test_parallel_import_equals_the_serial_one(engine: Engine, tmp_path: Path) -> None:
    path = _write(tmp_path / "calls.jsonl", CHUNK_LINES * 2 + 123)
    serial = import_calls(engine, iter_rows(str(path), open_binary(str(path)), "jsonl"), now=NOW)
    expected = _snapshot(engine)
    from tests.conftest import _empty_all_tables

    _empty_all_tables(engine)
    with open_binary(str(path)) as handle:
        parallel = import_jsonl_parallel(
            engine, [(str(path), handle)], now=NOW, prices=PriceBook(), default_currency="USD", workers=2
        )
    assert _snapshot(engine) == expected
    assert (parallel.rows_read, parallel.inserted, parallel.rejected_count) == (serial.rows_read, serial.inserted, 1)
    assert [str(r) for r in parallel.rejections] == [
        f"{path}:8: not valid JSON: JSON is malformed: object keys must be strings (byte 1)"
    ]
    assert parallel.unpriced_models == serial.unpriced_models
    assert parallel.cost_inserted == serial.cost_inserted

    with open_binary(str(path)) as handle:
        again = import_jsonl_parallel(
            engine, [(str(path), handle)], now=NOW, prices=PriceBook(), default_currency="USD", workers=2
        )
    assert again.inserted == 0 and again.duplicates == serial.inserted
    assert _snapshot(engine) == expected


def test_chunks_keep_every_line_whole_and_numbered() -> None:
    lines = [b"x" * (i % 13) + b"%d\n" % i for i in range(1000)]
    data = b"".join(lines) + b"last line without a newline"
    pieces = list(chunks(io.BytesIO(data), lines_per_chunk=50, block_size=97))
    assert b"".join(piece for _, piece in pieces) == data
    for first, piece in pieces:
        assert piece.startswith(lines[first - 1])
        assert piece.endswith(b"\n") or piece.endswith(b"newline")
    assert [first for first, _ in pieces] == sorted({first for first, _ in pieces})
    assert all(50 <= piece.count(b"\n") <= 50 + 97 for _, piece in pieces[:-1])


def test_in_memory_database_is_written_by_the_importing_process(tmp_path: Path) -> None:
    # Workers cannot open an in-memory database: they parse, and this process writes in file order.
    memory = make_engine("sqlite://", poolclass=StaticPool)
    upgrade(memory)
    path = _write(tmp_path / "calls.jsonl", CHUNK_LINES + 50)
    with open_binary(str(path)) as handle:
        summary = import_jsonl_parallel(
            memory, [(str(path), handle)], now=NOW, prices=PriceBook(), default_currency="USD", workers=2
        )
    assert (summary.rows_read, summary.inserted, summary.rejected_count) == (CHUNK_LINES + 50, CHUNK_LINES + 49, 1)
    calls = _snapshot(memory)[0][0]
    with memory.connect() as conn:
        rollup_calls = conn.execute(select(func.sum(table_of(CallRollup).c.calls))).scalar_one()
    assert calls == rollup_calls == CHUNK_LINES + 49
