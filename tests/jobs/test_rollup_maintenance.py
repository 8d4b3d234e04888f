from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select, update

from aispend.core.ledger.calls import rebuild_rollups, set_purge_watermark
from aispend.core.ledger.models import CallRollup, CallRollupDaily, table_of
from tests.clihelp import run_cli


def _load(tmp_path: Path, database_url: str) -> None:
    rows = [
        {
            "call_id": f"c{d}-{h}",
            "timestamp": f"2026-11-{d:02d}T{h:02d}:10:00Z",
            "provider": "openai",
            "model": "gpt-4o",
            "input_tokens": 100,
            "output_tokens": 10,
            "cost": "1.25",
            "workflow": "wf",
        }
        for d in (20, 21, 22)
        for h in (1, 9)
    ]
    path = tmp_path / "calls.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    assert run_cli(["ingest", "calls", str(path)], database_url).exit_code == 0


def _totals(engine: Engine) -> tuple[object, object]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.sum(table_of(CallRollup).c.cost), func.sum(table_of(CallRollup).c.calls))).one(),
            conn.execute(select(func.sum(table_of(CallRollupDaily).c.cost))).scalar_one(),
        )


def test_rebuild_finds_no_drift_after_a_normal_import(engine: Engine, database_url: str, tmp_path: Path) -> None:
    _load(tmp_path, database_url)
    before = _totals(engine)
    with engine.begin() as conn:
        result = rebuild_rollups(conn, date(2026, 11, 1))
    assert not result.drifted and result.rows_after == 6
    assert _totals(engine) == before


def test_rebuild_repairs_drift_but_never_touches_days_whose_raw_calls_are_gone(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    _load(tmp_path, database_url)
    rollups = table_of(CallRollup)
    with engine.begin() as conn:
        conn.execute(update(rollups).values(calls=99))  # corrupt every hour
        set_purge_watermark(conn, datetime(2026, 11, 21, 5, tzinfo=UTC))  # raw calls before this are "gone"
        result = rebuild_rollups(conn, date(2026, 11, 1))
    assert result.drifted and result.first_day == date(2026, 11, 22)
    with engine.connect() as conn:
        by_day = dict(conn.execute(select(rollups.c.day, func.sum(rollups.c.calls)).group_by(rollups.c.day)).all())
    assert by_day == {date(2026, 11, 20): 198, date(2026, 11, 21): 198, date(2026, 11, 22): 2}
