"""One reading each (issue 14): the drift between bills and per-call logs, and a source's freshness,
are computed once and shown alike by `aispend status`, the App Home/digest and the data-quality rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine
from sqlmodel import Session

from aispend.bot.data import LedgerData
from aispend.core.ledger.models import SyncState
from aispend.core.ledger.queries import sync_states
from aispend.core.reports.reconcile import reconcile_period
from aispend.core.rules.data_quality import DataQualityPolicy, reconciliation_findings, stale_source_findings
from aispend.core.rules.findings import Level
from aispend.core.rules.periods import Period
from aispend.jobs.status import statuses
from tests.slack_seed import seed, seed_openai_bills

NOW = datetime(2026, 11, 25, 10, tzinfo=UTC)
WEEK = Period("week", date(2026, 11, 16), date(2026, 11, 23))


def test_the_drift_note_and_the_finding_read_one_reconciliation(engine: Engine) -> None:
    seed(engine, date(2026, 11, 16), 7, NOW)  # per-call logs under the provider name "openai"
    seed_openai_bills(engine, WEEK.start, 7, Decimal(80), NOW)
    with engine.connect() as conn:
        rows = reconcile_period(conn, start=WEEK.start, end=WEEK.end)
    [note] = LedgerData(engine).reconciliation_drift(WEEK.start, WEEK.end)
    [finding] = reconciliation_findings(rows, WEEK, datetime(2026, 12, 1, tzinfo=UTC), DataQualityPolicy())
    assert finding.scope.key == "openai" and finding.level is Level.YELLOW
    # The same drift: the finding measures logs against the bill, the note the bill against the logs.
    assert note.startswith("openai: ") and f"({-Decimal(finding.numbers['drift_pct']):+}% of the bill)" in note


def test_status_app_home_and_the_finding_read_one_freshness(engine: Engine) -> None:
    with Session(engine) as session:
        hours = {"last_success_at": 50, "last_error_at": 1, "freshest_data_at": 60}
        aws = {name: NOW - timedelta(hours=h) for name, h in hours.items()}
        session.add(SyncState(source="aws", last_error="403 Forbidden", **aws))
        session.add(SyncState(source="openai", last_success_at=NOW - timedelta(hours=1), freshest_data_at=NOW))
        session.commit()
    limit = timedelta(hours=48)
    status = {s.source: s for s in statuses(engine, [("aws", True), ("openai", True)], NOW, limit)}
    home = {s.source: s for s in LedgerData(engine, stale_after=limit).sources(NOW)}
    with engine.connect() as conn:
        found = {f.scope.key: f for f in stale_source_findings(sync_states(conn), NOW, DataQualityPolicy(), WEEK)}
    assert (status["aws"].state, home["aws"].stale, home["aws"].last_error) == ("failing", True, "403 Forbidden")
    assert found["aws"].level is Level.YELLOW and found["aws"].numbers["age_hours"] == 60
    assert (status["openai"].state, home["openai"].stale, home["openai"].last_error) == ("ok", False, None)
    assert found["openai"].level is Level.OK
