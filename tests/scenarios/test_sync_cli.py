"""`aispend sync`, `aispend status` and `aispend connectors check` end to end against the local fakes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from aispend.cli.main import app
from tests.fakes.anthropic_admin import FakeAnthropicAdmin
from tests.fakes.openai_admin import FakeOpenAIAdmin
from tests.sync_helpers import cost_rows

YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)


@pytest.fixture
def env(database_url: str) -> Iterator[dict[str, str]]:
    openai_fake = FakeOpenAIAdmin()
    openai_fake.set_cost(YESTERDAY, "proj_a", "gpt-4o-2024-08-06, input", "4.2")
    anthropic_fake = FakeAnthropicAdmin()
    anthropic_fake.set_cost(YESTERDAY, "wrk_a", "claude-sonnet-5", "output_tokens", "310")
    with openai_fake.running() as openai_url, anthropic_fake.running() as anthropic_url:
        yield {
            "AISPEND_DATABASE_URL": database_url,
            "AISPEND_OPENAI_ADMIN_KEY": openai_fake.admin_key,
            "AISPEND_OPENAI_BASE_URL": openai_url,
            "AISPEND_ANTHROPIC_ADMIN_KEY": anthropic_fake.admin_key,
            "AISPEND_ANTHROPIC_BASE_URL": anthropic_url + "/v1",
            "AISPEND_SYNC_BACKFILL_DAYS": "5",
            "AISPEND_SYNC_MAX_ATTEMPTS": "1",  # no real sleeping in a CLI test
        }


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_sync_then_status_and_check(engine: Engine, env: dict[str, str]) -> None:
    code, out = run(env, "sync", "--json")
    assert code == 0, out
    reports = {r["source"]: r for r in json.loads(out)}
    assert reports["openai"]["status"] == reports["anthropic"]["status"] == "ok"
    assert reports["openai"]["lines"]["inserted"] == 1 and reports["openai"]["requests"] == 2
    assert sorted(str(r["billed_cost"]) for r in cost_rows(engine)) == ["3.100000000000", "4.200000000000"]

    code, out = run(env, "status", "--json")
    assert code == 0, out
    status = {s["source"]: s for s in json.loads(out)}
    assert status["openai"]["state"] == "ok" and status["openai"]["last_success_at"]
    assert status["anthropic"]["freshest_data_at"] is not None and status["anthropic"]["stale"] is False

    code, out = run(env, "connectors", "check", "--json")
    assert code == 0, out
    checks = {c["source"]: c for c in json.loads(out)}
    assert checks["openai"]["configured"] and checks["openai"]["authenticated"] is True
    assert checks["anthropic"]["authenticated"] is True

    code, out = run(env, "sync", "--json")  # unchanged upstream: nothing changes
    assert all(r["lines"]["inserted"] == r["lines"]["updated"] == r["lines"]["removed"] == 0 for r in json.loads(out))


def test_failing_source_exits_nonzero_and_is_visible_in_status(engine: Engine, env: dict[str, str]) -> None:
    broken = {**env, "AISPEND_OPENAI_ADMIN_KEY": "sk-admin-revoked"}
    code, out = run(broken, "sync", "--json")
    assert code == 1
    reports = {r["source"]: r for r in json.loads(out)}
    assert reports["openai"]["status"] == "failed" and "AISPEND_OPENAI_ADMIN_KEY" in reports["openai"]["error"]
    assert reports["anthropic"]["status"] == "ok"
    code, out = run(broken, "status", "--json")
    status = {s["source"]: s for s in json.loads(out)}
    assert status["openai"]["state"] == "failing" and "HTTP 401" in status["openai"]["last_error"]
    code, out = run(broken, "connectors", "check", "--json")
    assert code == 1
    checks = {c["source"]: c for c in json.loads(out)}
    assert checks["openai"]["authenticated"] is False and checks["anthropic"]["authenticated"] is True


def test_unconfigured_and_unknown_sources(engine: Engine, database_url: str) -> None:
    bare = {
        "AISPEND_DATABASE_URL": database_url,
        "AISPEND_OPENAI_ADMIN_KEY": "",
        "AISPEND_ANTHROPIC_ADMIN_KEY": "",
    }
    code, out = run(bare, "sync", "--json")
    assert code == 0 and {r["status"] for r in json.loads(out)} == {"not configured"}
    code, out = run(bare, "sync", "openai")
    assert code == 1 and "not configured" in out
    code, out = run(bare, "sync", "nosuch")
    assert code == 2 and "unknown source(s) nosuch" in out
    code, out = run(bare, "connectors", "check", "--json")
    assert code == 0 and all(c["configured"] is False for c in json.loads(out))


def test_check_of_an_unreachable_source_exits_3_and_a_refused_key_1(engine: Engine, env: dict[str, str]) -> None:
    """Nothing listens on a closed port: the check cannot tell, and says so in its exit status."""
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: connection refused
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    unreachable = {**env, "AISPEND_OPENAI_BASE_URL": closed}
    code, out = run(unreachable, "connectors", "check", "openai", "--json")
    assert code == 3, out
    (entry,) = json.loads(out)
    assert entry["authenticated"] is None and "cannot reach" in entry["check_error"]

    both = {**unreachable, "AISPEND_ANTHROPIC_ADMIN_KEY": "sk-ant-admin-revoked"}
    code, out = run(both, "connectors", "check", "--json")
    assert code == 1, out  # a refusal is a definite answer: it wins over "could not tell"

    result = CliRunner().invoke(app, ["connectors", "check", "--help"], env={"COLUMNS": "200"})
    assert "3 a source could not be reached" in " ".join(result.output.split())
