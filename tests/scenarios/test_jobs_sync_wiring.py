"""The sync engine wired as scheduled jobs: one `sync:<source>` job per configured source, run
against the local OpenAI admin fake; a failing source makes a failed run with the source's error."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from aispend.cli.main import app
from aispend.jobs.store import JobStore
from tests.fakes.openai_admin import FakeOpenAIAdmin
from tests.sync_helpers import cost_rows, sync_state

YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`aispend jobs ...` configures logging for the process; give the next test the old setup back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def env(database_url: str) -> Iterator[dict[str, str]]:
    fake = FakeOpenAIAdmin()
    fake.set_cost(YESTERDAY, "proj_a", "gpt-4o-2024-08-06, input", "4.2")
    with fake.running() as url:
        yield {
            "AISPEND_DATABASE_URL": database_url,
            "AISPEND_OPENAI_ADMIN_KEY": fake.admin_key,
            "AISPEND_OPENAI_BASE_URL": url,
            "AISPEND_ANTHROPIC_ADMIN_KEY": "",  # not configured: no sync job for it
            "AISPEND_SYNC_BACKFILL_DAYS": "5",
            "AISPEND_SYNC_MAX_ATTEMPTS": "1",
        }


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_each_configured_source_gets_a_sync_job_that_runs_the_sync_engine(engine: Engine, env: dict[str, str]) -> None:
    code, out = run(env, "jobs", "list", "--json")
    assert code == 0, out
    jobs = {row["job"]: row for row in json.loads(out)}
    assert jobs["sync:openai"]["wired"] is True and jobs["sync:openai"]["schedule"] == "5 * * * *"
    assert "sync:anthropic" not in jobs

    code, out = run(env, "jobs", "run", "sync:openai")
    assert code == 0, out
    assert "sync:openai: ok" in out and "+1 ~0 -0 lines" in out
    assert [str(row["billed_cost"]) for row in cost_rows(engine, "openai")] == ["4.200000000000"]
    state = sync_state(engine, "openai")
    assert state is not None and state["last_success_at"] is not None

    code, out = run(env, "jobs", "run", "sync:openai")  # idempotent: nothing changes upstream
    assert code == 0 and "+0 ~0 -0 lines" in out


def test_a_failing_source_is_a_failed_run_with_the_sources_error(engine: Engine, env: dict[str, str]) -> None:
    broken = {**env, "AISPEND_OPENAI_ADMIN_KEY": "sk-admin-revoked"}
    code, out = run(broken, "jobs", "run", "sync:openai")
    assert code == 1
    assert "sync:openai: failed" in out and "AISPEND_OPENAI_ADMIN_KEY" in out
    state = JobStore(engine).states()["sync:openai"]
    assert state.last_status == "failed" and state.consecutive_failures == 1
    assert "SyncFailedError" in (state.last_error or "")
