"""`aispend status` and /metrics show each live source by token name, from the live ingest log (issue 15
item 9); the retention job trims the log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from prometheus_client import generate_latest
from sqlalchemy import Engine
from sqlmodel import Session

from aispend.core.ledger.ingest_log import live_sources, record_ingest_batch
from aispend.core.settings import load_settings
from aispend.jobs.metrics import OpsMetrics
from aispend.jobs.registry import JobContext
from aispend.jobs.retention import retention_job
from tests.clihelp import run_cli
from tests.notifier import Posts


def seed(engine: Engine, now: datetime) -> None:
    """What a receiver does: log each batch in the transaction that writes it."""
    with Session(engine) as session:
        for token, accepted, refused, ago in [
            ("web", 500, 2, timedelta(minutes=5)),
            ("web", 300, 0, timedelta(minutes=30)),
            ("web", 999, 9, timedelta(hours=2)),  # before the last hour: only its time counts
            ("batch", 10, 1, timedelta(days=40)),  # past the log's retention
        ]:
            record_ingest_batch(
                session, source="otlp", token_name=token, accepted=accepted, refused=refused, received_at=now - ago
            )
        session.commit()


def test_status_and_metrics_show_the_live_sources_by_token(engine: Engine, database_url: str) -> None:
    now = datetime.now(UTC)  # the CLI reads the system clock; every figure is relative to it
    seed(engine, now)
    result = run_cli(["status", "--json"], database_url)
    assert result.exit_code == 0, result.output
    live = {(e["source"], e["token_name"]): e for e in json.loads(result.stdout) if e.get("live")}
    web = live[("otlp", "web")]
    assert (web["batches_last_hour"], web["accepted_last_hour"], web["refused_last_hour"]) == (2, 800, 2)
    assert datetime.fromisoformat(web["last_batch_at"]) == now - timedelta(minutes=5)
    assert live[("otlp", "batch")]["accepted_last_hour"] == 0

    table = run_cli(["status"], database_url)
    assert "live sources" in table.stdout and "web" in table.stdout

    text = generate_latest(OpsMetrics(engine, lambda: now).registry).decode()
    assert 'aispend_ingest_accepted_last_hour{source="otlp",token_name="web"} 800.0' in text
    assert 'aispend_ingest_refused_last_hour{source="otlp",token_name="web"} 2.0' in text
    assert 'aispend_ingest_last_batch_age_seconds{source="otlp",token_name="web"} 300.0' in text


def test_retention_trims_the_live_ingest_log(engine: Engine) -> None:
    now = datetime(2026, 11, 20, 3, 30, tzinfo=UTC)
    seed(engine, now)
    settings = load_settings(ingest_log_retention_days=30)
    context = JobContext(name="retention", settings=settings, engine=engine, now=now, slot=now, notifier=Posts())
    assert retention_job(context).data.get("ingest_log_deleted") == 1
    with engine.connect() as conn:
        assert [s.token_name for s in live_sources(conn, now)] == ["web"]
