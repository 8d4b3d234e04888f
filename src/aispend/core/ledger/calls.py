"""Idempotent writes of per-call records, and the hourly rollups and run totals kept beside them.

A call is inserted once (unique call_key); only calls actually inserted add to rollups and runs, so
importing a file twice, or two overlapping files, never double counts. Re-pricing applies the
difference, not the new total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, bindparam, case, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from aispend.core.ledger.bulk import dict_rows, execute_many
from aispend.core.ledger.models import AgentRun, CallRecord, CallRollup, CallRollupDaily, LedgerMeta, table_of
from aispend.core.ledger.types import ledger_units
from aispend.core.money import LEDGER_SCALE, to_ledger
from aispend.core.timeutil import as_utc, floor_hour, start_of_day

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
    cache_write_1h_tokens: int = 0  # included in cache_write_tokens
    service_tier: str = ""  # as the log gave it, lowercased; "" when it did not say


_CALL_COLUMNS = [f.name for f in fields(StoredCall)]


def _insert(conn: Connection, table: Any) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (both SQLite and PostgreSQL spell it the same)."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    return dialect.insert(table)


class CallEncoder:
    """Turns StoredCalls into bind-ready tuples (column order of _CALL_COLUMNS, then ingested_at) for one
    database driver. Built from the dialect class, so that worker processes can build their own.

    On SQLite the two columns that need converting are done directly (the time as SQLAlchemy's text
    form, money as the column type's integer 10^-12 units; a test checks the rows against the columns'
    own bind processors):
    the generic processors were a third of the per-row cost of an import. Other databases use the
    columns' bind processors."""

    def __init__(self, dialect_class: type[Dialect]) -> None:
        self.dialect_class = dialect_class
        dialect = dialect_class()
        self.sqlite = dialect.name == "sqlite"
        columns = [*_CALL_COLUMNS, "ingested_at"]
        processors = [CALLS.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
        self._processed = [(index, proc) for index, proc in enumerate(processors[:-1]) if proc is not None]
        self._stamp = processors[-1]
        self._values = attrgetter(*_CALL_COLUMNS)

    def encode(self, calls: Sequence[StoredCall], now: datetime) -> list[tuple[Any, ...]]:
        if not self.sqlite:
            return self.encode_with_processors(calls, now)
        stamp = self._stamp(now) if self._stamp else now
        return [
            (
                c.call_key,
                sqlite_time(c.ts),
                c.provider,
                c.model,
                c.input_tokens,
                c.output_tokens,
                c.cache_read_tokens,
                c.cache_write_tokens,
                None if c.cost is None else ledger_units(c.cost),
                c.currency,
                c.cost_source,
                int(c.zero_cost_flag),
                c.workflow,
                c.feature,
                c.team,
                c.customer,
                c.user,
                c.run_id,
                c.step,
                c.outcome,
                c.latency_ms,
                c.prompt_prefix_hash,
                c.cache_write_1h_tokens,
                c.service_tier,
                stamp,
            )
            for c in calls
        ]

    def encode_with_processors(self, calls: Sequence[StoredCall], now: datetime) -> list[tuple[Any, ...]]:
        stamp = self._stamp(now) if self._stamp else now
        rows = []
        for call in calls:
            values = list(self._values(call))
            for index, processor in self._processed:
                values[index] = processor(values[index])
            values.append(stamp)
            rows.append(tuple(values))
        return rows


_TWO_DIGITS = [f"{n:02d}" for n in range(60)]
_HOUR_TEXT: dict[tuple[int, int, int, int], str] = {}


def sqlite_time(ts: datetime) -> str:
    """A UTC time as SQLAlchemy stores it in SQLite ('YYYY-MM-DD HH:MM:SS.ffffff').

    Built from a cached 'YYYY-MM-DD HH:' and table lookups: datetime formatting was the largest
    single cost of encoding a call. A naive time is taken as UTC already, as the column's processor does."""
    if ts.tzinfo is not UTC and ts.tzinfo is not None:
        ts = ts.astimezone(UTC)
    key = (ts.year, ts.month, ts.day, ts.hour)
    hour = _HOUR_TEXT.get(key)
    if hour is None:
        if len(_HOUR_TEXT) > 100_000:
            _HOUR_TEXT.clear()
        hour = _HOUR_TEXT[key] = f"{key[0]:04d}-{key[1]:02d}-{key[2]:02d} {key[3]:02d}:"
    micro = ts.microsecond
    return f"{hour}{_TWO_DIGITS[ts.minute]}:{_TWO_DIGITS[ts.second]}.{'000000' if micro == 0 else f'{micro:06d}'}"


# Where each column sits in an encoded call row.
_AT = {name: index for index, name in enumerate(_CALL_COLUMNS)}


@dataclass(slots=True)
class BatchTotals:
    """What a batch of encoded calls adds to the hourly and daily rollups and to the run totals, as
    bind-ready rows. Computed before writing (in a parser process when there is one), so the writer
    only applies them; valid when every call of the batch turns out to be new."""

    hourly: list[tuple[Any, ...]]
    daily: list[tuple[Any, ...]]
    runs: list[tuple[Any, ...]]


def batch_totals(rows: Sequence[tuple[Any, ...]], sqlite_encoded: bool) -> BatchTotals:
    """Sum encoded call rows (see CallEncoder) exactly as roll_up_inserted's SQL does."""
    ts_at, run_at, outcome_at = _AT["ts"], _AT["run_id"], _AT["outcome"]
    w, t, cur = _AT["workflow"], _AT["team"], _AT["currency"]
    # One C call per row for the rollup dimensions and one for the measures.
    dimensions = itemgetter(*(_AT[n] for n in (*ROLLUP_KEY[1:7], "currency")))
    measures = itemgetter(
        *(_AT[n] for n in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost"))
    )
    zero_at, latency_at = _AT["zero_cost_flag"], _AT["latency_ms"]
    hourly: dict[tuple[Any, ...], list[Any]] = {}
    runs: dict[str, list[Any]] = {}
    for row in rows:
        ts = row[ts_at]
        key = (ts[:13] if sqlite_encoded else ts.replace(minute=0, second=0, microsecond=0), dimensions(row))
        sums = hourly.get(key)
        if sums is None:
            sums = hourly[key] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        inputs, outputs, reads, writes, cost = measures(row)
        sums[0] += 1
        sums[1] += inputs
        sums[2] += outputs
        sums[3] += reads
        sums[4] += writes
        if cost is None:
            sums[6] += 1
            sums[7] += inputs + outputs
        else:
            sums[5] += cost
        if row[zero_at]:
            sums[8] += 1
        latency = row[latency_at]
        if latency is not None:
            sums[9] += latency
        run_id = row[run_at]
        if run_id:
            outcome = row[outcome_at]
            last = (ts, outcome) if outcome else None
            run = runs.get(run_id)
            if run is None:
                unpriced = int(cost is None)
                runs[run_id] = [row[w], row[t], ts, ts, 1, inputs, outputs, cost or 0, row[cur], unpriced, last]
                continue
            # Comparisons rather than min()/max() calls: this loop runs once per imported call.
            if row[w] > run[0]:
                run[0] = row[w]
            if row[t] > run[1]:
                run[1] = row[t]
            if ts < run[2]:
                run[2] = ts
            elif ts > run[3]:
                run[3] = ts
            run[4] += 1
            run[5] += inputs
            run[6] += outputs
            if cost is None:
                run[9] += 1
            else:
                run[7] += cost
            if row[cur] > run[8]:
                run[8] = row[cur]
            if last is not None and (run[10] is None or last > run[10]):
                run[10] = last
    daily: dict[tuple[Any, ...], list[Any]] = {}
    hourly_rows = []
    for (hour, dims), sums in hourly.items():
        if sqlite_encoded:
            hour_value, day = f"{hour}:00:00.000000", hour[:10]
        else:
            hour_value, day = hour, hour.date()
        hourly_rows.append((hour_value, day, *dims, *sums))
        day_sums = daily.get((day, *dims))
        if day_sums is None:
            daily[(day, *dims)] = list(sums)
        else:
            for index, value in enumerate(sums):
                day_sums[index] += value
    run_rows = [
        (
            run_id,
            workflow,
            team,
            start,
            end,
            start[:10] if sqlite_encoded else start.date(),
            calls,
            inputs,
            outputs,
            cost,
            currency,
            unpriced,
            last[1] if last else "",
        )
        for run_id, (workflow, team, start, end, calls, inputs, outputs, cost, currency, unpriced, last) in runs.items()
    ]
    return BatchTotals(hourly_rows, [(*key, *sums) for key, sums in daily.items()], run_rows)


def insert_encoded(
    conn: Connection, rows: Sequence[tuple[Any, ...]], *, now: datetime, totals: BatchTotals | None = None
) -> int:
    """Insert encoded calls (see CallEncoder) that are not in the ledger yet; return how many were new.

    One DBAPI executemany of INSERT .. ON CONFLICT (call_key) DO NOTHING: rows already there are
    skipped by the unique index itself. When all rows were new, the batch's precomputed totals are
    added to the rollups and runs; otherwise the totals of just the new rows (those with an id above
    the batch's start that carry this import's timestamp: on PostgreSQL a concurrent importer's rows
    carry its own) are aggregated in SQL.
    """
    if not rows:
        return 0
    before = last_call_id(conn)
    columns = [*_CALL_COLUMNS, "ingested_at"]
    # Both drivers report the rows an executemany actually inserted (skipped conflicts not counted).
    inserted = conn.exec_driver_sql(
        f"INSERT INTO {_quote(conn, CALLS.name)} ({', '.join(_quote(conn, c) for c in columns)}) "
        f"VALUES ({_markers(conn, len(columns))}) ON CONFLICT (call_key) DO NOTHING",
        list(rows),
    ).rowcount
    if inserted == len(rows) and totals is not None:
        apply_batch_totals(conn, totals)
    elif inserted:
        roll_up_inserted(conn, before, now=now)
    return inserted


# What makes two rows with one call id the same call (the cost when it was given; a computed cost
# follows the prices, and re-pricing changes it). Provider and call id are the key itself.
_CONTENT = [c for c in _CALL_COLUMNS if c not in ("call_key", "provider", "cost", "cost_source", "zero_cost_flag")]
_KEY_CHUNK = 1000


def conflicting_calls(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> list[tuple[int, str]]:
    """(index, what differs) for each encoded row (see CallEncoder) whose call id is in the ledger with
    other content: the insert skipped it, and a second version of a call must be said, not dropped.
    Identical re-imports are no conflict. Run only when a batch had rows already there."""
    keys = list({row[0] for row in rows if row[0].startswith("id:")})
    if not keys:
        return []
    wanted = ["call_key", "cost", "cost_source", *_CONTENT]
    stored: dict[str, tuple[Any, ...]] = {}
    for start in range(0, len(keys), _KEY_CHUNK):
        part = keys[start : start + _KEY_CHUNK]
        # Driver-level values, as the encoded rows hold them (on SQLite: text times, integer money).
        found = conn.exec_driver_sql(
            f"SELECT {', '.join(_quote(conn, c) for c in wanted)} FROM {_quote(conn, CALLS.name)} "
            f"WHERE call_key IN ({_markers(conn, len(part))})",
            tuple(part),
        )
        stored.update((row[0], tuple(row[1:])) for row in found)
    sqlite_money = conn.dialect.name == "sqlite"
    pick = itemgetter(*(_AT[c] for c in ("cost", "cost_source", *_CONTENT)))
    result = []
    for index, row in enumerate(rows):
        old = stored.get(row[0])
        if old is None:
            continue
        new = pick(row)
        if new == old:  # the common case of a re-import: the very same call
            continue
        differences = [
            f"{name}: ledger {_readable(name, before, sqlite_money)}, this row {_readable(name, after, sqlite_money)}"
            for name, before, after in zip(_CONTENT, old[2:], new[2:], strict=True)
            if before != after
        ]
        old_given, new_given = old[1] == "given", new[1] == "given"
        if (old_given or new_given) and (old_given != new_given or old[0] != new[0]):
            differences.insert(
                0,
                f"cost: ledger {_readable('cost', old[0] if old_given else None, sqlite_money)}, "
                f"this row {_readable('cost', new[0] if new_given else None, sqlite_money)}",
            )
        if differences:
            result.append((index, "; ".join(differences)))
    return result


def _readable(column: str, value: Any, sqlite_money: bool) -> str:
    if value is None:
        return "none given" if column == "cost" else "none"
    if column == "cost":
        amount = Decimal(int(value)).scaleb(-LEDGER_SCALE) if sqlite_money else Decimal(value)
        return format(amount.normalize(), "f")
    if isinstance(value, str) and column != "ts":
        return repr(value)
    return str(value)


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _markers(conn: Connection, count: int) -> str:
    return ", ".join(["?" if conn.dialect.paramstyle == "qmark" else "%s"] * count)


def apply_batch_totals(conn: Connection, totals: BatchTotals) -> None:
    """Add precomputed batch totals (see batch_totals) to the rollups and the run totals."""
    for table, rows in (("call_rollup", totals.hourly), ("call_rollup_daily", totals.daily)):
        if rows:
            time_columns = "hour, day" if table == "call_rollup" else "day"
            columns = f"{time_columns}, {_DIMS}, {', '.join(_ROLLUP_MEASURES)}"
            conn.exec_driver_sql(
                f"INSERT INTO {table} ({columns}) VALUES ({_markers(conn, len(rows[0]))}) {_rollup_upsert(table)}",
                rows,
            )
    if totals.runs:
        conn.exec_driver_sql(
            f"INSERT INTO agent_run ({_RUN_COLUMNS}) VALUES ({_markers(conn, len(totals.runs[0]))}) {_RUN_UPSERT}",
            totals.runs,
        )


def last_call_id(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(CALLS.c.id), 0))).scalar_one())


def cost_inserted(conn: Connection, after_id: int, *, now: datetime) -> dict[str, Decimal]:
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


def roll_up_inserted(conn: Connection, after_id: int, *, now: datetime) -> None:
    """Add the rows this batch inserted (ids above `after_id`, stamped `now`) to the hourly and daily
    rollups and to the run totals, aggregated inside the database."""
    batch = "FROM call_record WHERE id > :after_id AND ingested_at = :now"
    params = {"after_id": after_id, "now": now}
    stamp = bindparam("now", type_=CALLS.c.ingested_at.type)
    for table in ("call_rollup", "call_rollup_daily"):
        conn.execute(_rollup_insert_sql(conn.dialect.name, table, batch).bindparams(stamp), params)
    run_day, last_outcome = _run_sql(conn.dialect.name)
    sql = text(
        f"INSERT INTO agent_run ({_RUN_COLUMNS}) "
        f"SELECT run_id, MAX(workflow), MAX(team), MIN(ts), MAX(ts), {run_day}, COUNT(*), SUM(input_tokens), "
        "SUM(output_tokens), COALESCE(SUM(cost), 0), MAX(currency), SUM(CASE WHEN cost IS NULL THEN 1 ELSE 0 END), "
        f"{last_outcome} {batch} AND run_id <> '' GROUP BY run_id {_RUN_UPSERT}"
    ).bindparams(stamp)
    conn.execute(sql, params)


_RUN_COLUMNS = (
    "run_id, workflow, team, started_at, ended_at, day, calls, input_tokens, output_tokens, cost, currency, "
    "unpriced_calls, outcome"
)
_LATER = "excluded.ended_at >= agent_run.ended_at"
_EARLIER = "excluded.started_at < agent_run.started_at"
_RUN_UPSERT = (
    "ON CONFLICT (run_id) DO UPDATE SET "
    "calls = agent_run.calls + excluded.calls, "
    "input_tokens = agent_run.input_tokens + excluded.input_tokens, "
    "output_tokens = agent_run.output_tokens + excluded.output_tokens, "
    "cost = agent_run.cost + excluded.cost, "
    "unpriced_calls = agent_run.unpriced_calls + excluded.unpriced_calls, "
    f"started_at = CASE WHEN {_EARLIER} THEN excluded.started_at ELSE agent_run.started_at END, "
    f"day = CASE WHEN {_EARLIER} THEN excluded.day ELSE agent_run.day END, "
    f"ended_at = CASE WHEN {_LATER} THEN excluded.ended_at ELSE agent_run.ended_at END, "
    f"outcome = CASE WHEN {_LATER} AND excluded.outcome <> '' THEN excluded.outcome ELSE agent_run.outcome END, "
    "workflow = CASE WHEN agent_run.workflow = '' THEN excluded.workflow ELSE agent_run.workflow END, "
    "team = CASE WHEN agent_run.team = '' THEN excluded.team ELSE agent_run.team END"
)
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
    return text(
        f"INSERT INTO {table} ({time_columns}, {_DIMS}, {', '.join(_ROLLUP_MEASURES)}) "
        f"SELECT {time_select}, {_DIMS}, {_SUMS} {source} GROUP BY {group}, {_DIMS} {_rollup_upsert(table)}"
    )


def _rollup_upsert(table: str) -> str:
    key = "hour" if table == "call_rollup" else "day"
    updates = ", ".join(f"{m} = {table}.{m} + excluded.{m}" for m in _ROLLUP_MEASURES)
    return f"ON CONFLICT ({key}, {_DIMS}) DO UPDATE SET {updates}"


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
    keys, values = dict_rows(deltas)
    execute_many(conn, stmt, keys=keys, rows=values)
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
    keys, values = dict_rows(list(daily.values()))
    execute_many(conn, stmt, keys=keys, rows=values)


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
    keys, values = dict_rows(deltas)
    execute_many(conn, stmt, keys=keys, rows=values)


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


@dataclass
class CallUpsert:
    """What one `upsert_calls` did: new calls, restated calls updated in place, calls already there as
    they are, and calls older than the purge watermark (their hours are sealed in the rollups: not written)."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    sealed: int = 0

    def __iadd__(self, other: CallUpsert) -> CallUpsert:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.sealed += other.sealed
        return self


def upsert_calls(conn: Connection, calls: Sequence[StoredCall], *, now: datetime) -> CallUpsert:
    """Write calls from a source that restates them (a sync): new ones are inserted as the file import
    inserts them (insert_encoded: rollups and runs in the same transaction); one whose call id is there
    with other values (a changed cost, tokens, attribution) replaces the stored version in place, and
    the rollups and run totals receive the difference (old version out, new in), so re-running changes
    nothing. Within `calls` the last version of a key wins. The caller owns the transaction."""
    result = CallUpsert()
    watermark = purge_watermark(conn)
    latest: dict[str, StoredCall] = {}
    for call in calls:
        if watermark is not None and call.ts < watermark:
            result.sealed += 1
            continue
        latest[call.call_key] = call
    if not latest:
        return result
    stored = _stored_by_key(conn, list(latest))
    new = [call for key, call in latest.items() if key not in stored]
    if new:
        encoder = CallEncoder(type(conn.dialect))
        encoded = encoder.encode(new, now)
        result.inserted = insert_encoded(conn, encoded, now=now, totals=batch_totals(encoded, encoder.sqlite))
        result.unchanged += len(new) - result.inserted  # written meanwhile by another writer
    old_versions: list[StoredCall] = []
    new_versions: list[StoredCall] = []
    for key, (row_id, old) in stored.items():
        call = latest[key]
        fresh = replace(call, cost=None if call.cost is None else to_ledger(call.cost))
        if fresh == old:
            result.unchanged += 1
            continue
        values = {name: getattr(fresh, name) for name in _CALL_COLUMNS if name != "call_key"}
        conn.execute(update(CALLS).where(CALLS.c.id == row_id).values(**values))
        old_versions.append(old)
        new_versions.append(fresh)
    result.updated = len(new_versions)
    if new_versions:
        apply_rollup_deltas(conn, rollup_deltas(old_versions, sign=-1) + rollup_deltas(new_versions))
        apply_run_deltas(conn, run_deltas(old_versions, sign=-1))
        apply_run_deltas(conn, run_deltas(new_versions))
    return result


def _stored_by_key(conn: Connection, keys: list[str]) -> dict[str, tuple[int, StoredCall]]:
    """(row id, stored version) of each of `keys` that is in the ledger."""
    found: dict[str, tuple[int, StoredCall]] = {}
    columns = [CALLS.c.id, *(CALLS.c[name] for name in _CALL_COLUMNS)]
    for start in range(0, len(keys), _KEY_CHUNK):
        part = keys[start : start + _KEY_CHUNK]
        for row in conn.execute(select(*columns).where(CALLS.c.call_key.in_(part))):
            call = StoredCall(**{name: getattr(row, name) for name in _CALL_COLUMNS})
            call.ts = as_utc(call.ts)  # SQLite hands times back without their zone
            found[row.call_key] = (row.id, call)
    return found
