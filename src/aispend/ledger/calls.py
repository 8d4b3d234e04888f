"""Idempotent writes of per-call records, and the hourly rollups and run totals kept beside them.

A call is inserted once (unique call_key); only calls actually inserted add to rollups and runs, so
importing a file twice, or two overlapping files, never double counts. Re-pricing applies the
difference, not the new total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, Dialect, bindparam, case, func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from aispend.core.money import to_ledger
from aispend.core.timeutil import floor_hour, start_of_day
from aispend.ledger.bulk import dict_rows, execute_many
from aispend.ledger.models import AgentRun, CallRecord, CallRollup, CallRollupDaily, LedgerMeta, table_of

CALLS = table_of(CallRecord)
ROLLUPS = table_of(CallRollup)
DAILY = table_of(CallRollupDaily)
RUNS = table_of(AgentRun)
META = table_of(LedgerMeta)

ROLLUP_KEY = ("hour", "provider", "model", "workflow", "feature", "team", "customer", "currency")
PURGE_WATERMARK = "calls_purged_before"


@dataclass(slots=True)
class StoredCall:
    """A call ready for the ledger: normalized, with its cost decided."""

    call_key: str
    ts: datetime
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost: Decimal | None
    currency: str
    cost_source: str
    zero_cost_flag: bool
    workflow: str
    feature: str
    team: str
    customer: str
    user: str
    run_id: str
    step: str
    outcome: str
    latency_ms: int | None
    prompt_prefix_hash: str | None


_CALL_COLUMNS = [f.name for f in fields(StoredCall)]


def _insert(conn: Connection, table: Any) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (both SQLite and PostgreSQL spell it the same)."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    return dialect.insert(table)


class CallEncoder:
    """Turns StoredCalls into bind-ready tuples (column order of _CALL_COLUMNS, then ingested_at) for one
    database driver, using the columns' own bind processors. Built from the dialect class, so a worker
    process can encode while the main process writes."""

    def __init__(self, dialect_class: type[Dialect]) -> None:
        self.dialect_class = dialect_class
        dialect = dialect_class()
        columns = [*_CALL_COLUMNS, "ingested_at"]
        processors = [CALLS.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
        self._processed = [(index, proc) for index, proc in enumerate(processors[:-1]) if proc is not None]
        self._stamp = processors[-1]
        self._values = attrgetter(*_CALL_COLUMNS)

    def encode(self, calls: Sequence[StoredCall], now: datetime) -> list[tuple[Any, ...]]:
        stamp = self._stamp(now) if self._stamp else now
        rows = []
        for call in calls:
            values = list(self._values(call))
            for index, processor in self._processed:
                values[index] = processor(values[index])
            values.append(stamp)
            rows.append(tuple(values))
        return rows


def insert_encoded(conn: Connection, rows: Sequence[tuple[Any, ...]], now: datetime) -> int:
    """Insert encoded calls (see CallEncoder) that are not in the ledger yet; return how many were new.

    One DBAPI executemany of INSERT .. ON CONFLICT (call_key) DO NOTHING: rows already there are
    skipped by the unique index itself. The new rows are then exactly those with an id above the
    batch's start that carry this import's timestamp, and the rollups and run totals are aggregated
    in SQL from them. (On PostgreSQL a concurrent importer's rows carry its own timestamp.)
    """
    if not rows:
        return 0
    before = last_call_id(conn)
    quote = conn.dialect.identifier_preparer.quote
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    columns = [*_CALL_COLUMNS, "ingested_at"]
    conn.exec_driver_sql(
        f"INSERT INTO {quote(CALLS.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join([marker] * len(columns))}) ON CONFLICT (call_key) DO NOTHING",
        list(rows),
    )
    inserted = int(
        conn.execute(select(func.count()).where(CALLS.c.id > before, CALLS.c.ingested_at == now)).scalar_one()
    )
    if inserted:
        roll_up_inserted(conn, before, now)
    return inserted


def last_call_id(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(CALLS.c.id), 0))).scalar_one())


def cost_inserted(conn: Connection, after_id: int, now: datetime) -> dict[str, Decimal]:
    """Cost of the calls an import inserted (ids above `after_id`, stamped `now`), per currency."""
    stmt = (
        select(CALLS.c.currency, func.sum(CALLS.c.cost))
        .where(CALLS.c.id > after_id, CALLS.c.ingested_at == now, CALLS.c.cost.is_not(None))
        .group_by(CALLS.c.currency)
    )
    return {currency: total for currency, total in conn.execute(stmt)}


def _run_sql(dialect_name: str) -> tuple[str, str]:
    """SQL for a run's UTC start day and its last non-empty outcome (by call time)."""
    if dialect_name == "sqlite":
        # ts is 'YYYY-MM-DD HH:MM:SS.ffffff' (26 characters): the max of ts || outcome is the latest outcome.
        return "substr(MIN(ts), 1, 10)", "COALESCE(substr(MAX(CASE WHEN outcome <> '' THEN ts || outcome END), 27), '')"
    return (
        "CAST(MIN(ts) AT TIME ZONE 'UTC' AS DATE)",
        "COALESCE((array_agg(outcome ORDER BY ts DESC) FILTER (WHERE outcome <> ''))[1], '')",
    )


def _hour_and_day_sql(dialect_name: str) -> tuple[str, str]:
    if dialect_name == "sqlite":
        # SQLAlchemy stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC) and dates as 'YYYY-MM-DD'.
        return "substr(ts, 1, 13) || ':00:00.000000'", "substr(ts, 1, 10)"
    return "date_trunc('hour', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'", "CAST(ts AT TIME ZONE 'UTC' AS DATE)"


def roll_up_inserted(conn: Connection, after_id: int, now: datetime) -> None:
    """Add the rows this batch inserted (ids above `after_id`, stamped `now`) to the hourly and daily
    rollups and to the run totals, aggregated inside the database."""
    batch = "FROM call_record WHERE id > :after_id AND ingested_at = :now"
    params = {"after_id": after_id, "now": now}
    stamp = bindparam("now", type_=CALLS.c.ingested_at.type)
    for table in ("call_rollup", "call_rollup_daily"):
        conn.execute(_rollup_insert_sql(conn.dialect.name, table, batch).bindparams(stamp), params)
    run_day, last_outcome = _run_sql(conn.dialect.name)
    later = "excluded.ended_at >= agent_run.ended_at"
    earlier = "excluded.started_at < agent_run.started_at"
    sql = text(
        "INSERT INTO agent_run (run_id, workflow, team, started_at, ended_at, day, calls, input_tokens, "
        "output_tokens, cost, currency, unpriced_calls, outcome) "
        f"SELECT run_id, MAX(workflow), MAX(team), MIN(ts), MAX(ts), {run_day}, COUNT(*), SUM(input_tokens), "
        "SUM(output_tokens), COALESCE(SUM(cost), 0), MAX(currency), SUM(CASE WHEN cost IS NULL THEN 1 ELSE 0 END), "
        f"{last_outcome} {batch} AND run_id <> '' GROUP BY run_id "
        "ON CONFLICT (run_id) DO UPDATE SET "
        "calls = agent_run.calls + excluded.calls, "
        "input_tokens = agent_run.input_tokens + excluded.input_tokens, "
        "output_tokens = agent_run.output_tokens + excluded.output_tokens, "
        "cost = agent_run.cost + excluded.cost, "
        "unpriced_calls = agent_run.unpriced_calls + excluded.unpriced_calls, "
        f"started_at = CASE WHEN {earlier} THEN excluded.started_at ELSE agent_run.started_at END, "
        f"day = CASE WHEN {earlier} THEN excluded.day ELSE agent_run.day END, "
        f"ended_at = CASE WHEN {later} THEN excluded.ended_at ELSE agent_run.ended_at END, "
        f"outcome = CASE WHEN {later} AND excluded.outcome <> '' THEN excluded.outcome ELSE agent_run.outcome END, "
        "workflow = CASE WHEN agent_run.workflow = '' THEN excluded.workflow ELSE agent_run.workflow END, "
        "team = CASE WHEN agent_run.team = '' THEN excluded.team ELSE agent_run.team END"
    ).bindparams(stamp)
    conn.execute(sql, params)


_DIMS = "provider, model, workflow, feature, team, customer, currency"
_SUMS = (
    "COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens), "
    "COALESCE(SUM(cost), 0), SUM(CASE WHEN cost IS NULL THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN cost IS NULL THEN input_tokens + output_tokens ELSE 0 END), "
    "SUM(CASE WHEN zero_cost_flag THEN 1 ELSE 0 END), COALESCE(SUM(latency_ms), 0)"
)


def _rollup_insert_sql(dialect_name: str, table: str, source: str) -> Any:
    """INSERT .. SELECT aggregating the raw calls of `source` (a FROM .. WHERE clause) into `table`,
    adding to rows already there."""
    hour, day = _hour_and_day_sql(dialect_name)
    hourly = table == "call_rollup"
    time_columns, time_select = (
        ("hour, day", f"{hour} AS r_hour, {day} AS r_day") if hourly else ("day", f"{day} AS r_day")
    )
    group = "r_hour, r_day" if hourly else "r_day"
    key = "hour" if hourly else "day"
    updates = ", ".join(f"{m} = {table}.{m} + excluded.{m}" for m in _ROLLUP_MEASURES)
    return text(
        f"INSERT INTO {table} ({time_columns}, {_DIMS}, {', '.join(_ROLLUP_MEASURES)}) "
        f"SELECT {time_select}, {_DIMS}, {_SUMS} {source} GROUP BY {group}, {_DIMS} "
        f"ON CONFLICT ({key}, {_DIMS}) DO UPDATE SET {updates}"
    )


@dataclass(frozen=True)
class RebuildResult:
    first_day: date | None
    rows_before: int
    rows_after: int
    drifted: bool


def rebuild_rollups(conn: Connection, since: date) -> RebuildResult:
    """Recompute the hourly and daily rollups of whole UTC days from `since` on, from raw calls.

    Only days whose raw calls are all still kept (on or after the purge watermark) are rebuilt; older
    rollups are the only record left and stay as they are. Returns whether anything had drifted.
    """
    first = since
    watermark = purge_watermark(conn)
    if watermark is not None:
        # The first whole day at or after the watermark: the earliest fully backed by raw calls.
        backed = watermark.date() if watermark == start_of_day(watermark.date()) else watermark.date() + timedelta(1)
        first = max(first, backed)
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    measures = [func.count(), *(func.sum(ROLLUPS.c[m]) for m in ("calls", "input_tokens", "cost", "unpriced_calls"))]
    before = conn.execute(select(*measures).where(ROLLUPS.c.day >= first)).one()
    before_daily = conn.execute(
        select(*(func.sum(DAILY.c[m]) for m in ("calls", "input_tokens", "cost", "unpriced_calls"))).where(
            DAILY.c.day >= first
        )
    ).one()
    conn.execute(ROLLUPS.delete().where(ROLLUPS.c.day >= first))
    conn.execute(DAILY.delete().where(DAILY.c.day >= first))
    source = "FROM call_record WHERE ts >= :start"
    stamp = bindparam("start", type_=CALLS.c.ts.type)
    for table in ("call_rollup", "call_rollup_daily"):
        conn.execute(_rollup_insert_sql(conn.dialect.name, table, source).bindparams(stamp), {"start": start})
    after = conn.execute(select(*measures).where(ROLLUPS.c.day >= first)).one()
    drifted = tuple(before[1:]) != tuple(after[1:]) or tuple(before_daily) != tuple(after[1:])
    return RebuildResult(first, int(before[0]), int(after[0]), drifted)


def rollup_deltas(calls: Sequence[StoredCall], sign: int = 1) -> list[dict[str, Any]]:
    totals: dict[tuple[Any, ...], dict[str, Any]] = {}
    for call in calls:
        hour = floor_hour(call.ts)
        key = (hour, call.provider, call.model, call.workflow, call.feature, call.team, call.customer, call.currency)
        entry: dict[str, Any] | None = totals.get(key)
        if entry is None:
            entry = totals[key] = {
                **dict(zip(ROLLUP_KEY, key, strict=True)),
                "day": hour.date(),
                "calls": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cache_read_tokens": 0,
                "cache_write_tokens": 0,
                "cost": Decimal(0),
                "unpriced_calls": 0,
                "unpriced_tokens": 0,
                "zero_cost_calls": 0,
                "latency_ms_sum": 0,
            }
        entry["calls"] += sign
        entry["input_tokens"] += sign * call.input_tokens
        entry["output_tokens"] += sign * call.output_tokens
        entry["cache_read_tokens"] += sign * call.cache_read_tokens
        entry["cache_write_tokens"] += sign * call.cache_write_tokens
        if call.cost is None:
            entry["unpriced_calls"] += sign
            entry["unpriced_tokens"] += sign * (call.input_tokens + call.output_tokens)
        else:
            entry["cost"] += sign * to_ledger(call.cost)
        if call.zero_cost_flag:
            entry["zero_cost_calls"] += sign
        entry["latency_ms_sum"] += sign * (call.latency_ms or 0)
    return list(totals.values())


_ROLLUP_MEASURES = (
    "calls",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost",
    "unpriced_calls",
    "unpriced_tokens",
    "zero_cost_calls",
    "latency_ms_sum",
)


def apply_rollup_deltas(conn: Connection, deltas: list[dict[str, Any]]) -> None:
    """Add signed hourly deltas to the hourly rollups and, summed by day, to the daily ones."""
    if not deltas:
        return
    stmt = _insert(conn, ROLLUPS)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(ROLLUP_KEY),
        set_={m: ROLLUPS.c[m] + stmt.excluded[m] for m in _ROLLUP_MEASURES},
    )
    execute_many(conn, stmt, *dict_rows(deltas))
    daily: dict[tuple[Any, ...], dict[str, Any]] = {}
    for delta in deltas:
        key = (delta["day"], *(delta[k] for k in ROLLUP_KEY[1:]))
        entry = daily.get(key)
        if entry is None:
            daily[key] = {k: v for k, v in delta.items() if k != "hour"}
        else:
            for m in _ROLLUP_MEASURES:
                entry[m] += delta[m]
    stmt = _insert(conn, DAILY)
    stmt = stmt.on_conflict_do_update(
        index_elements=["day", *ROLLUP_KEY[1:]],
        set_={m: DAILY.c[m] + stmt.excluded[m] for m in _ROLLUP_MEASURES},
    )
    execute_many(conn, stmt, *dict_rows(list(daily.values())))


def run_deltas(calls: Sequence[StoredCall], sign: int = 1) -> list[dict[str, Any]]:
    runs: dict[str, dict[str, Any]] = {}
    for call in sorted((c for c in calls if c.run_id), key=lambda c: c.ts):
        entry: dict[str, Any] | None = runs.get(call.run_id)
        if entry is None:
            entry = runs[call.run_id] = {
                "run_id": call.run_id,
                "workflow": call.workflow,
                "team": call.team,
                "started_at": call.ts,
                "ended_at": call.ts,
                "day": call.ts.date(),
                "calls": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cost": Decimal(0),
                "currency": call.currency,
                "unpriced_calls": 0,
                "outcome": "",
            }
        entry["ended_at"] = call.ts
        entry["workflow"] = entry["workflow"] or call.workflow
        entry["team"] = entry["team"] or call.team
        entry["calls"] += sign
        entry["input_tokens"] += sign * call.input_tokens
        entry["output_tokens"] += sign * call.output_tokens
        if call.cost is None:
            entry["unpriced_calls"] += sign
        else:
            entry["cost"] += sign * to_ledger(call.cost)
        if call.outcome:
            entry["outcome"] = call.outcome
    return list(runs.values())


def apply_run_deltas(conn: Connection, deltas: list[dict[str, Any]]) -> None:
    if not deltas:
        return
    stmt = _insert(conn, RUNS)
    new = stmt.excluded
    earlier = new.started_at < RUNS.c.started_at
    later = new.ended_at >= RUNS.c.ended_at
    stmt = stmt.on_conflict_do_update(
        index_elements=["run_id"],
        set_={
            "calls": RUNS.c.calls + new.calls,
            "input_tokens": RUNS.c.input_tokens + new.input_tokens,
            "output_tokens": RUNS.c.output_tokens + new.output_tokens,
            "cost": RUNS.c.cost + new.cost,
            "unpriced_calls": RUNS.c.unpriced_calls + new.unpriced_calls,
            "started_at": case((earlier, new.started_at), else_=RUNS.c.started_at),
            "day": case((earlier, new.day), else_=RUNS.c.day),
            "ended_at": case((later, new.ended_at), else_=RUNS.c.ended_at),
            "outcome": case((later & (new.outcome != ""), new.outcome), else_=RUNS.c.outcome),
            "workflow": case((RUNS.c.workflow == "", new.workflow), else_=RUNS.c.workflow),
            "team": case((RUNS.c.team == "", new.team), else_=RUNS.c.team),
        },
    )
    execute_many(conn, stmt, *dict_rows(deltas))


def purge_watermark(conn: Connection) -> datetime | None:
    """Raw calls before this instant were purged; their hours are sealed in the rollups."""
    value = conn.execute(select(META.c.value).where(META.c.key == PURGE_WATERMARK)).scalar_one_or_none()
    return datetime.fromisoformat(value) if value else None


def set_purge_watermark(conn: Connection, before: datetime) -> None:
    stmt = _insert(conn, META)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={"value": stmt.excluded.value},
    )
    conn.execute(stmt, {"key": PURGE_WATERMARK, "value": before.isoformat()})
