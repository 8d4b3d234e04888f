"""The one sync engine: incremental windows, restatement look-back, retries, time limit, sync state.

Connectors only fetch a window; everything stateful happens here, the same way for every source:

* window: from the end of the last synced window minus the look-back (bills are restated for
  days), or the backfill period on a first sync, up to and including today; split into chunks of
  at most `chunk_days`, each committed with its own sync-state update, so progress survives a
  failure or the time limit;
* writes: `upsert_cost_lines` / `upsert_usage_lines` with `replace_window` = the chunk, so a
  restated day replaces the stored one (lines the provider no longer reports are removed); per-call
  records (LiteLLM, Langfuse) through `upsert_calls`, keyed by the source's call id, so a restated
  call is updated in place (a call the source no longer returns is kept: sources expire old data);
* failures: one source failing never stops the others; its error is recorded in `sync_state`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine, select

from aispend.connectors.base import Connector, ConnectorError, FatalError, FetchResult, Window
from aispend.core.ledger.calls import CallUpsert, upsert_calls
from aispend.core.ledger.costlines import UpsertResult, upsert_cost_lines
from aispend.core.ledger.models import SyncState
from aispend.core.ledger.usage import upsert_usage_lines
from aispend.core.redact import redact
from aispend.core.settings import Settings
from aispend.core.timeutil import Clock, system_clock
from aispend.jobs.retry import RetryPolicy, RetryStats, Sleep, TimeLimitError, Timer, call_with_retries

log = logging.getLogger(__name__)

_STATE = SyncState.__table__  # type: ignore[attr-defined]
_ERROR_MAX = 4000


@dataclass(frozen=True)
class SyncPolicy:
    lookback_days: int = 3
    backfill_days: int = 90
    chunk_days: int = 31  # the admin APIs page up to 31 daily buckets; Azure advises <= 1 month per query
    month_close_days: int = 5  # in the first days of a month, re-pull all of the previous month
    time_limit_seconds: float = 900.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def from_settings(cls, settings: Settings) -> SyncPolicy:
        return cls(
            lookback_days=settings.sync_lookback_days,
            month_close_days=settings.sync_month_close_days,
            backfill_days=settings.sync_backfill_days,
            time_limit_seconds=settings.sync_time_limit_seconds,
            retry=RetryPolicy(
                max_attempts=settings.sync_max_attempts,
                base_delay=settings.sync_retry_base_seconds,
                max_delay=settings.sync_retry_max_seconds,
            ),
        )


def plan_window(synced_until: date | None, today: date, policy: SyncPolicy, since: date | None = None) -> Window:
    """The days to pull: [start, tomorrow). Pure.

    `synced_until` is the exclusive end of the last window written; the look-back re-pulls the
    days before it because providers restate them. Until the previous month's invoice is final
    (the first `month_close_days` days of a month) the whole previous month is re-pulled too.
    `since` forces the start (a manual re-pull).
    """
    end = today + timedelta(days=1)
    if since is not None:
        start = since
    elif synced_until is None:
        start = end - timedelta(days=policy.backfill_days)
    else:
        start = min(synced_until, end) - timedelta(days=policy.lookback_days)
        if today.day <= policy.month_close_days:
            start = min(start, (today.replace(day=1) - timedelta(days=1)).replace(day=1))
    return Window(min(start, today), end)


def split_window(window: Window, max_days: int) -> list[Window]:
    """Consecutive chunks of at most `max_days` days covering `window`, oldest first. Pure."""
    chunks: list[Window] = []
    start = window.start
    while start < window.end:
        end = min(start + timedelta(days=max_days), window.end)
        chunks.append(Window(start, end))
        start = end
    return chunks


@dataclass
class SourceReport:
    """What one source's sync did (for the CLI and the digest)."""

    source: str
    status: str  # ok | failed | not configured
    window: Window | None = None
    synced_until: date | None = None
    lines: UpsertResult = field(default_factory=UpsertResult)
    usage: UpsertResult = field(default_factory=UpsertResult)
    calls: CallUpsert = field(default_factory=CallUpsert)
    rejected: list[str] = field(default_factory=list)  # records the source returned that were unreadable
    requests: int = 0
    attempts: int = 0
    fetches: int = 0  # successful fetches (chunks written)
    waited_seconds: float = 0.0
    freshest_data_at: datetime | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class SyncEngine:
    """Runs connectors against the ledger. Every side input is a parameter (clock, sleep, timer, rng)."""

    engine: Engine
    policy: SyncPolicy = field(default_factory=SyncPolicy)
    clock: Clock = system_clock
    sleep: Sleep = time.sleep
    timer: Timer = time.monotonic
    rng: random.Random = field(default_factory=random.Random)

    def sync(self, connectors: Mapping[str, Connector], *, since: date | None = None) -> list[SourceReport]:
        """Sync each configured connector in turn; a failure is recorded and the next source runs."""
        reports = []
        for name, connector in connectors.items():
            if not connector.is_configured():
                reports.append(SourceReport(source=name, status="not configured"))
                continue
            reports.append(self.sync_one(name, connector, since=since))
        return reports

    def sync_one(self, name: str, connector: Connector, *, since: date | None = None) -> SourceReport:
        report = SourceReport(source=name, status="ok")
        started_at = self.clock()
        deadline = self.timer() + self.policy.time_limit_seconds
        with self.engine.begin() as conn:
            state = _load_state(conn, name)
            _save_state(conn, name, exists=state is not None, last_attempt_at=started_at)
        synced_until = _cursor_day(state)
        window = report.window = plan_window(synced_until, started_at.date(), self.policy, since)
        stats = RetryStats()
        try:
            for chunk in split_window(window, _chunk_days(connector, self.policy)):
                result = call_with_retries(
                    partial(connector.fetch, chunk),
                    policy=self.policy.retry,
                    sleep=self.sleep,
                    timer=self.timer,
                    deadline=deadline,
                    rng=self.rng,
                    stats=stats,
                )
                self._write_chunk(name, chunk, result, report)
        except (ConnectorError, TimeLimitError) as exc:
            report.status = "failed"
            report.error = redact(_describe(name, exc, report, self.policy))
        except Exception as exc:  # a connector bug must not stop the other sources
            log.exception("sync of %s failed unexpectedly", name)
            report.status = "failed"
            report.error = redact(f"{name}: unexpected {type(exc).__name__}: {exc}")
        report.attempts = stats.attempts
        report.waited_seconds = stats.waited
        # Failed attempts made a request each that the connector could not report.
        report.requests += stats.attempts - report.fetches
        self._finish(name, report)
        log.info(
            "sync %s: %s window=%s..%s lines +%d ~%d -%d calls +%d ~%d rejected=%d requests=%d attempts=%d%s",
            name,
            report.status,
            window.start,
            window.end,
            report.lines.inserted,
            report.lines.updated,
            report.lines.removed,
            report.calls.inserted,
            report.calls.updated,
            len(report.rejected),
            report.requests,
            report.attempts,
            f" error={report.error}" if report.error else "",
        )
        return report

    def _write_chunk(self, name: str, chunk: Window, result: FetchResult, report: SourceReport) -> None:
        foreign = {line.source for line in result.lines if line.source != name}
        foreign |= {line.source for line in result.usage if line.source != name}
        if foreign:
            raise FatalError(
                name,
                f"connector returned records of other sources {sorted(foreign)}",
                "fix the connector: every record's source must be its name",
            )
        now = self.clock()
        freshest = result.freshest_data_at
        if freshest is None and result.lines:
            freshest = max(line.charge_period_end for line in result.lines)
        if freshest is None and result.calls:
            freshest = max(call.ts for call in result.calls)
        if freshest is not None:
            freshest = min(freshest, now)
        window = (name, chunk.start, chunk.end)
        with self.engine.begin() as conn:
            report.lines += upsert_cost_lines(conn, result.lines, now=now, replace_window=window)
            report.usage += upsert_usage_lines(conn, result.usage, now=now, replace_window=window)
            if result.calls:
                report.calls += upsert_calls(conn, result.calls, now=now)
            state = _load_state(conn, name)
            previous = state["freshest_data_at"] if state else None
            if freshest is not None and (previous is None or freshest > previous):
                _save_state(conn, name, exists=True, freshest_data_at=freshest)
            _save_state(conn, name, exists=True, cursor=chunk.end.isoformat())
        report.requests += result.requests
        report.synced_until = chunk.end
        report.notes.extend(result.notes)
        report.rejected.extend(result.rejected)
        report.fetches += 1
        if freshest is not None and (report.freshest_data_at is None or freshest > report.freshest_data_at):
            report.freshest_data_at = freshest

    def _finish(self, name: str, report: SourceReport) -> None:
        now = self.clock()
        rows = report.lines.inserted + report.lines.updated + report.lines.unchanged
        rows += report.calls.inserted + report.calls.updated + report.calls.unchanged
        values: dict[str, Any] = {"rows_last_sync": rows, "requests_last_sync": report.requests}
        if report.ok:
            values["last_success_at"] = now
        else:
            values["last_error"] = (report.error or "failed")[:_ERROR_MAX]
            values["last_error_at"] = now
        with self.engine.begin() as conn:
            _save_state(conn, name, exists=True, **values)


def sync_engine_from_settings(
    engine: Engine, settings: Settings, clock: Clock = system_clock, sleep: Sleep = time.sleep
) -> SyncEngine:
    return SyncEngine(engine=engine, policy=SyncPolicy.from_settings(settings), clock=clock, sleep=sleep)


def _chunk_days(connector: Connector, policy: SyncPolicy) -> int:
    """The connector's declared `max_window_days` (e.g. Cost Explorer, where every request is billed
    and one request covers months), else the policy's chunk size."""
    declared = connector.max_window_days
    return declared if declared is not None and declared > 0 else policy.chunk_days


def _describe(name: str, exc: Exception, report: SourceReport, policy: SyncPolicy) -> str:
    if isinstance(exc, TimeLimitError):
        progress = f"synced up to {report.synced_until}" if report.synced_until else "nothing written"
        return (
            f"{name}: time limit of {policy.time_limit_seconds:g} s reached ({exc}); {progress}; "
            "the next run continues from there (raise AISPEND_SYNC_TIME_LIMIT_SECONDS for a long backfill)"
        )
    return str(exc)


def _cursor_day(state: Mapping[str, Any] | None) -> date | None:
    if not state or not state["cursor"]:
        return None
    try:
        return date.fromisoformat(state["cursor"])
    except ValueError:
        return None  # an unreadable cursor means "start over": the backfill is idempotent


def _load_state(conn: Connection, source: str) -> dict[str, Any] | None:
    row = conn.execute(select(_STATE).where(_STATE.c.source == source)).mappings().first()
    return dict(row) if row else None


def _save_state(conn: Connection, source: str, *, exists: bool, **values: Any) -> None:
    if exists:
        conn.execute(_STATE.update().where(_STATE.c.source == source).values(**values))
    else:
        conn.execute(_STATE.insert().values(source=source, rows_last_sync=0, requests_last_sync=0, **values))
