"""The service pieces in-process: leader lock, graceful shutdown, metrics, logs and the jobs CLI."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from sqlalchemy import Engine, select, text
from sqlmodel import Session
from typer.testing import CliRunner

from aispend.cli.main import app
from aispend.core.ledger.db import make_engine
from aispend.core.ledger.models import SyncState
from aispend.core.settings import Settings
from aispend.jobs.catalog import DIGEST
from aispend.jobs.leader import (
    FileLockLeadership,
    PostgresAdvisoryLeadership,
    SingleProcessLeadership,
    leadership_for,
)
from aispend.jobs.logs import JsonFormatter
from aispend.jobs.metrics import MetricFeeds, OpsMetrics
from aispend.jobs.models import STATUS_FAILED, STATUS_HANDED_BACK, STATUS_OK, JobRun
from aispend.jobs.registry import JobContext, JobHandedBack, JobRegistry
from aispend.jobs.runner import RunOutcome
from aispend.jobs.service import Service
from aispend.jobs.store import JobStore
from tests.notifier import Posts

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`aispend jobs ...` configures logging for the process; give the next test the old setup back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_the_postgresql_leader_lock_is_exclusive_and_fails_over(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the advisory lock is PostgreSQL's; SQLite runs one process")
    first, second = PostgresAdvisoryLeadership(engine), PostgresAdvisoryLeadership(engine)
    try:
        assert first.poll() is True
        assert second.poll() is False
        assert first.poll() is True  # confirmed, still held
        # The leader's connection dies (as when its process is killed): the server frees the lock.
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first.backend_pid})
        assert first.poll() is False  # it notices at its next poll and stops leading
        assert second.poll() is True
        assert first.poll() is False  # and cannot take it back while the new leader lives
    finally:
        first.release()
        second.release()


def _service(engine: Engine, body: object, **settings: object) -> Service:
    registry = JobRegistry()
    registry.register(DIGEST, body)  # type: ignore[arg-type]
    config = Settings(
        jobs_digest_cron="* * * * * *",
        jobs_tick_seconds=0.05,
        jobs_lock_poll_seconds=0.05,
        ops_port=None,
        jobs_disabled=["retention"],
        **settings,  # type: ignore[arg-type]
    )
    return Service(
        settings=config,
        engine=engine,
        registry=registry,
        notifier=Posts(),
        leadership=SingleProcessLeadership(),
    )


def _run_in_thread(service: Service) -> tuple[threading.Thread, list[int]]:
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(service.run(install_signals=False)))
    thread.start()
    return thread, codes


def test_graceful_shutdown_finishes_the_job_in_hand(engine: Engine) -> None:
    started = threading.Event()

    def body(context: JobContext) -> str:
        started.set()
        assert service.stop.wait(30), "the test stops the service"
        return "finished after the stop request"

    service = _service(engine, body)
    thread, codes = _run_in_thread(service)
    assert started.wait(30)
    service.stop.set()
    thread.join(30)
    assert codes == [0]
    runs = JobStore(engine).recent_runs(DIGEST)
    assert [(run.status, run.summary) for run in runs] == [(STATUS_OK, "finished after the stop request")]


def test_a_job_that_cannot_finish_in_time_is_handed_back(engine: Engine) -> None:
    started, release = threading.Event(), threading.Event()

    def body(context: JobContext) -> str:
        started.set()
        release.wait(30)
        if context.stop_requested():
            raise JobHandedBack("stopped by shutdown")
        return "done"

    service = _service(engine, body, jobs_shutdown_grace_seconds=0)
    finished = threading.Event()
    service.runner.on_finish = lambda _outcome: finished.set()
    thread, codes = _run_in_thread(service)
    assert started.wait(30)
    service.stop.set()
    thread.join(30)
    assert codes == [3]  # the CLI leaves at once with this code; the claim goes to the next leader
    release.set()
    assert finished.wait(30)  # the worker finishes its hand-back; the slot was not marked handled
    runs = JobStore(engine).recent_runs(DIGEST)
    assert [run.status for run in runs] == [STATUS_HANDED_BACK]
    state = JobStore(engine).states()[DIGEST]
    assert state.last_status is None and state.running_owner is None


def test_metrics_expose_sync_durations_failures_ages_and_wired_feeds(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(SyncState(source="openai", last_success_at=NOW - timedelta(minutes=90)))
        session.commit()
    metrics = OpsMetrics(
        engine,
        lambda: NOW,
        MetricFeeds(open_alerts_by_level=lambda: {"warning": 2, "critical": 1}, outbox_depth=lambda: 4),
    )
    metrics.observe(RunOutcome("sync:openai", STATUS_OK, "schedule", NOW, 0, 12.5))
    metrics.observe(RunOutcome("sync:openai", STATUS_FAILED, "schedule", NOW, 0, 1.0, error="boom"))
    metrics.observe(RunOutcome("digest", STATUS_OK, "manual", None, 0, 0.2))
    page = generate_latest(metrics.registry).decode()
    assert 'aispend_sync_duration_seconds_count{source="openai"} 2.0' in page
    assert 'aispend_sync_duration_seconds_sum{source="openai"} 13.5' in page
    assert 'aispend_sync_failures_total{source="openai"} 1.0' in page
    assert 'aispend_sync_last_success_age_seconds{source="openai"} 5400.0' in page
    assert 'aispend_open_alerts{level="critical"} 1.0' in page
    assert 'aispend_open_alerts{level="warning"} 2.0' in page
    assert "aispend_outbox_depth 4.0" in page
    assert 'aispend_job_runs_total{job="digest",status="ok"} 1.0' in page
    assert 'sync_failures_total{source="digest"}' not in page


def test_unwired_feeds_are_absent_not_zero(engine: Engine) -> None:
    page = generate_latest(OpsMetrics(engine, lambda: NOW).registry).decode()
    assert "aispend_open_alerts" not in page and "aispend_outbox_depth" not in page


def test_json_logs_carry_the_extra_fields() -> None:
    record = logging.makeLogRecord(
        {
            "name": "aispend.jobs",
            "levelname": "INFO",
            "msg": "job %s ok",
            "args": ("digest",),
            "job": "digest",
            "duration_s": 0.25,
        }
    )
    payload = json.loads(JsonFormatter().format(record))
    assert payload["msg"] == "job digest ok"
    assert payload["job"] == "digest" and payload["duration_s"] == 0.25 and payload["level"] == "info"


def test_jobs_cli_lists_and_runs(engine: Engine, database_url: str, tmp_path: object) -> None:
    env = {"AISPEND_DATABASE_URL": database_url, "AISPEND_TIMEZONE": "Europe/Berlin"}
    runner = CliRunner()
    ran = runner.invoke(app, ["jobs", "run", "retention"], env=env)
    assert ran.exit_code == 0, ran.output
    assert "retention: ok" in ran.output and "deleted 0 call records" in ran.output

    listed = runner.invoke(app, ["jobs", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    rows = {row["job"]: row for row in json.loads(listed.stdout)}
    assert rows["retention"]["last_status"] == "ok" and rows["retention"]["wired"] is True
    assert rows["retention"]["next_run"].endswith("03:30:00+01:00")  # company time zone, next 03:30
    assert rows[DIGEST]["wired"] is True  # the bot's digest, on the terminal without a Slack token
    assert rows["rollups"]["wired"] is True and rows["rollups"]["next_run"].endswith("03:45:00+01:00")

    table = runner.invoke(app, ["jobs", "list"], env=env)
    assert table.exit_code == 0 and "rollups" in table.output

    rolled = runner.invoke(app, ["jobs", "run", "rollups"], env=env)
    assert rolled.exit_code == 0 and "no drift" in rolled.output, rolled.output
    unknown = runner.invoke(app, ["jobs", "run", "nope"], env=env)
    assert unknown.exit_code == 2 and "no job named 'nope'" in unknown.output
    with Session(engine) as session:
        runs = session.execute(select(JobRun.job, JobRun.trigger)).all()
    assert [tuple(r) for r in runs] == [("retention", "manual"), ("rollups", "manual")]


def test_on_sqlite_a_second_process_on_the_same_file_waits_as_follower(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    first, second = leadership_for(engine), leadership_for(engine)
    assert isinstance(first, FileLockLeadership)
    assert first.poll() is True
    assert second.poll() is False
    first.release()
    assert second.poll() is True
    second.release()
    assert isinstance(leadership_for(make_engine("sqlite://")), SingleProcessLeadership)
