from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, func, select

from aispend.core.ledger.calls import set_purge_watermark
from aispend.core.ledger.models import AgentRun, CallRecord, CallRollup, table_of
from tests.clihelp import run_cli

ROWS = [
    {
        "call_id": "c1",
        "timestamp": "2026-11-20T10:00:00Z",
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": 1000,
        "output_tokens": 200,
        "workflow": "support-triage",
        "run_id": "r1",
        "step": "classify",
    },
    {
        "call_id": "c2",
        "timestamp": "2026-11-20T10:20:00Z",
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "input_tokens": 5000,
        "output_tokens": 800,
        "cache_read_tokens": 3000,
        "workflow": "support-triage",
        "run_id": "r1",
        "step": "answer",
        "outcome": "resolved",
    },
    {
        "call_id": "c3",
        "timestamp": "2026-11-20T11:00:00Z",
        "provider": "openai",
        "model": "acme-ft-classifier",
        "input_tokens": 100,
        "output_tokens": 5,
        "workflow": "rag-search",
    },
    {
        "call_id": "c4",
        "timestamp": "2026-11-20T11:30:00Z",
        "provider": "openai",
        "model": "acme-ft-classifier",
        "input_tokens": 120,
        "output_tokens": 5,
        "workflow": "rag-search",
    },
    {
        "call_id": "c5",
        "timestamp": "2026-11-20T11:40:00Z",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input_tokens": 100,
        "output_tokens": 5,
        "cost": "0",
        "workflow": "rag-search",
    },
    {
        "call_id": "c6",
        "timestamp": "2026-11-21T09:00:00Z",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input_tokens": 100,
        "output_tokens": 5,
        "cost": 0.000123,
        "currency": "usd",
        "workflow": "rag-search",
    },
]
# gpt-4o: 1000 x $2.5/M + 200 x $10/M; sonnet: 2000 x $3/M + 3000 x $0.3/M + 800 x $15/M; plus the given 0.000123
EXPECTED_TOTAL = Decimal("0.0045") + Decimal("0.0189") + Decimal("0.000123")


def _write_jsonl(path: Path, rows: list[dict[str, object]], extra_lines: list[str] = ()) -> Path:  # type: ignore[assignment]
    path.write_text("\n".join([json.dumps(r) for r in rows] + list(extra_lines)) + "\n")
    return path


def _ledger_totals(engine: Engine) -> tuple[int, Decimal, int, int, int]:
    rollups = table_of(CallRollup)
    with engine.connect() as conn:
        raw = conn.execute(select(func.count()).select_from(table_of(CallRecord))).scalar_one()
        cost, calls, unpriced, zero = conn.execute(
            select(
                func.sum(rollups.c.cost),
                func.sum(rollups.c.calls),
                func.sum(rollups.c.unpriced_calls),
                func.sum(rollups.c.zero_cost_calls),
            )
        ).one()
    return raw, cost or Decimal(0), int(calls or 0), int(unpriced or 0), int(zero or 0)


def test_import_prices_keeps_unpriced_and_flags_zero_cost(engine: Engine, database_url: str, tmp_path: Path) -> None:
    result = run_cli(["ingest", "calls", str(_write_jsonl(tmp_path / "calls.jsonl", ROWS))], database_url)
    assert result.exit_code == 0, result.output
    assert "6 new" in result.output
    assert "acme-ft-classifier (openai): 2 calls" in result.output
    assert "1 calls with tokens but a cost of exactly 0" in result.output
    raw, cost, calls, unpriced, zero = _ledger_totals(engine)
    assert (raw, calls, unpriced, zero) == (6, 6, 2, 1)
    assert cost == EXPECTED_TOTAL


def test_reimporting_the_same_file_changes_nothing(engine: Engine, database_url: str, tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "calls.jsonl", ROWS)
    run_cli(["ingest", "calls", str(path)], database_url)
    before = _ledger_totals(engine)
    again = run_cli(["ingest", "calls", str(path)], database_url)
    assert again.exit_code == 0
    assert "0 new, 6 already in the ledger" in again.output
    assert _ledger_totals(engine) == before


def test_overlapping_files_and_a_restart_mid_import_do_not_double_count(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    first_half = _write_jsonl(tmp_path / "part.jsonl", ROWS[:3])  # as if a crash stopped after three rows
    whole = _write_jsonl(tmp_path / "all.jsonl", ROWS)
    run_cli(["ingest", "calls", str(first_half)], database_url)
    run_cli(["ingest", "calls", str(whole)], database_url)
    assert _ledger_totals(engine)[1] == EXPECTED_TOTAL
    with engine.connect() as conn:
        run = conn.execute(select(table_of(AgentRun)).where(table_of(AgentRun).c.run_id == "r1")).one()
    assert (run.calls, run.cost, run.outcome, run.workflow) == (2, Decimal("0.0234"), "resolved", "support-triage")


def test_bad_rows_are_reported_with_file_line_and_reason_and_good_rows_kept(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    path = _write_jsonl(
        tmp_path / "mixed.jsonl",
        ROWS[:2],
        ['{"timestamp": "2026-11-20T12:00:00Z", "input_tokens": 5}', "{not json", '{"model": "gpt-4o"}'],
    )
    result = run_cli(["ingest", "calls", str(path)], database_url)
    assert result.exit_code == 1
    assert f"{path}:3: missing model" in result.output
    assert f"{path}:4: not valid JSON" in result.output
    assert f"{path}:5: missing timestamp" in result.output
    assert "2 new" in result.output
    assert _ledger_totals(engine)[0] == 2


def test_csv_gzip_and_stdin_give_the_same_ledger(engine: Engine, database_url: str, tmp_path: Path) -> None:
    header = "call_id,timestamp,provider,model,input_tokens,output_tokens,cost,workflow\n"
    body = (
        'x1,2026-11-20T10:00:00Z,openai,gpt-4o,1000,200,,wf\r\nx2,2026-11-20T10:05:00Z,openai,gpt-4o,10,2,"0.5",wf\r\n'
    )
    csv_gz = tmp_path / "calls.csv.gz"
    csv_gz.write_bytes(gzip.compress(("\ufeff" + header + body).encode()))
    assert run_cli(["ingest", "calls", str(csv_gz)], database_url).exit_code == 0
    assert _ledger_totals(engine)[1] == Decimal("0.5045")
    stdin = "\n".join(json.dumps(r) for r in ROWS[:1])
    result = run_cli(["ingest", "calls", "-"], database_url, stdin=stdin)
    assert result.exit_code == 0, result.output
    assert _ledger_totals(engine)[1] == Decimal("0.5045") + Decimal("0.0045")


def test_rows_older_than_the_purge_watermark_are_refused(engine: Engine, database_url: str, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    with engine.begin() as conn:
        set_purge_watermark(conn, datetime(2026, 11, 21, tzinfo=UTC))
    result = run_cli(["ingest", "calls", str(_write_jsonl(tmp_path / "c.jsonl", ROWS))], database_url)
    assert result.exit_code == 1
    assert "older than the raw-call retention watermark" in result.output
    assert _ledger_totals(engine)[0] == 1  # only the 2026-11-21 row


def test_unknown_extension_is_a_clear_error(engine: Engine, database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "calls.txt"
    path.write_text("x")
    result = run_cli(["ingest", "calls", str(path)], database_url)
    assert result.exit_code == 2
    assert "cannot tell the format" in result.output


def test_rollups_agree_with_raw_calls_hour_by_hour(engine: Engine, database_url: str, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from aispend.core.timeutil import floor_hour

    run_cli(["ingest", "calls", str(_write_jsonl(tmp_path / "c.jsonl", ROWS))], database_url)
    calls, rollups = table_of(CallRecord), table_of(CallRollup)
    with engine.connect() as conn:
        raw = conn.execute(select(calls.c.ts, calls.c.workflow, calls.c.cost, calls.c.call_key)).all()
        rollup_rows = conn.execute(
            select(rollups.c.hour, rollups.c.workflow, rollups.c.calls, rollups.c.cost, rollups.c.day)
        ).all()
    rolled: dict[tuple[datetime, str], tuple[int, Decimal]] = {}
    for hour, workflow, n, cost, day in rollup_rows:
        assert day == hour.date()
        before = rolled.get((hour, workflow), (0, Decimal(0)))
        rolled[(hour, workflow)] = (before[0] + n, before[1] + cost)
    expected: dict[tuple[datetime, str], tuple[int, Decimal]] = {}
    for ts, workflow, cost, _ in raw:
        key = (floor_hour(ts), workflow)
        n, total = expected.get(key, (0, Decimal(0)))
        expected[key] = (n + 1, total + (cost or Decimal(0)))
    assert rolled == expected
    stamps = {key: ts for ts, _, _, key in raw}
    assert stamps["id:openai:c1"] == datetime(2026, 11, 20, 10, tzinfo=UTC)


def test_daily_rollups_equal_the_hourly_ones_summed(engine: Engine, database_url: str, tmp_path: Path) -> None:
    from aispend.core.ledger.models import CallRollupDaily

    run_cli(["ingest", "calls", str(_write_jsonl(tmp_path / "c.jsonl", ROWS))], database_url)
    hourly, daily = table_of(CallRollup), table_of(CallRollupDaily)
    dims = ["provider", "model", "workflow", "feature", "team", "customer", "currency"]
    with engine.connect() as conn:
        from_hourly = conn.execute(
            select(
                hourly.c.day, *[hourly.c[d] for d in dims], func.sum(hourly.c.cost), func.sum(hourly.c.calls)
            ).group_by(hourly.c.day, *[hourly.c[d] for d in dims])
        ).all()
        from_daily = conn.execute(select(daily.c.day, *[daily.c[d] for d in dims], daily.c.cost, daily.c.calls)).all()
    assert sorted(map(tuple, from_hourly)) == sorted(map(tuple, from_daily))
    assert len(from_daily) == 5
