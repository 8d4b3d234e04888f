"""LiteLLM spend logs: a real PostgreSQL table with the schema LiteLLM publishes, synced into the ledger.

The source table lives in a schema of its own on the test server (named the Prisma way, `?schema=`),
created with the DDL Prisma generates for LiteLLM's `LiteLLM_SpendLogs` model. Skipped cleanly when
no PostgreSQL answers.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from aispend.connectors.litellm import LiteLLMSpendLogsConnector
from aispend.core.rules.attribution import parse_rules
from aispend.jobs.retry import RetryPolicy
from aispend.jobs.sync import SyncEngine, SyncPolicy
from tests.sync_helpers import NOW, FakeTime, call_rows, call_totals, fixed_clock

PG_URL = os.environ.get("AISPEND_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TODAY = NOW.date()

# What `prisma migrate` creates for LiteLLM's model LiteLLM_SpendLogs (schema.prisma).
SPEND_LOGS_DDL = """
CREATE TABLE "LiteLLM_SpendLogs" (
    "request_id" TEXT NOT NULL,
    "call_type" TEXT NOT NULL,
    "api_key" TEXT NOT NULL DEFAULT '',
    "spend" DOUBLE PRECISION NOT NULL DEFAULT 0.0,
    "total_tokens" INTEGER NOT NULL DEFAULT 0,
    "prompt_tokens" INTEGER NOT NULL DEFAULT 0,
    "completion_tokens" INTEGER NOT NULL DEFAULT 0,
    "startTime" TIMESTAMP(3) NOT NULL,
    "endTime" TIMESTAMP(3) NOT NULL,
    "request_duration_ms" INTEGER,
    "completionStartTime" TIMESTAMP(3),
    "model" TEXT NOT NULL DEFAULT '',
    "model_id" TEXT DEFAULT '',
    "model_group" TEXT DEFAULT '',
    "custom_llm_provider" TEXT DEFAULT '',
    "api_base" TEXT DEFAULT '',
    "user" TEXT DEFAULT '',
    "metadata" JSONB DEFAULT '{}',
    "cache_hit" TEXT DEFAULT '',
    "cache_key" TEXT DEFAULT '',
    "request_tags" JSONB DEFAULT '[]',
    "team_id" TEXT,
    "organization_id" TEXT,
    "end_user" TEXT,
    "requester_ip_address" TEXT,
    "messages" JSONB DEFAULT '{}',
    "response" JSONB DEFAULT '{}',
    "session_id" TEXT,
    "status" TEXT,
    "mcp_namespaced_tool_name" TEXT,
    "agent_id" TEXT,
    "proxy_server_request" JSONB DEFAULT '{}',
    CONSTRAINT "LiteLLM_SpendLogs_pkey" PRIMARY KEY ("request_id")
);
CREATE INDEX "LiteLLM_SpendLogs_startTime_idx" ON "LiteLLM_SpendLogs"("startTime");
CREATE INDEX "LiteLLM_SpendLogs_startTime_request_id_idx" ON "LiteLLM_SpendLogs"("startTime", "request_id");
CREATE INDEX "LiteLLM_SpendLogs_end_user_idx" ON "LiteLLM_SpendLogs"("end_user");
CREATE INDEX "LiteLLM_SpendLogs_session_id_idx" ON "LiteLLM_SpendLogs"("session_id");
"""

RULES = parse_rules(
    {
        "rules": [
            {"match": {"source": "litellm", "key_alias": "support-bot"}, "set": {"workflow": "support-triage"}},
            {"match": {"source": "litellm", "tag:feature": "summaries"}, "set": {"feature": "summaries"}},
        ]
    }
)


class SpendLogs:
    """The proxy's database: a schema of its own holding LiteLLM_SpendLogs."""

    def __init__(self, admin: Engine, schema: str) -> None:
        self.admin = admin
        self.schema = schema
        self.url = f"{PG_URL}?schema={schema}"

    def add(self, request_id: str, start: datetime, **values: Any) -> None:
        row: dict[str, Any] = {
            "request_id": request_id,
            "call_type": "acompletion",
            "api_key": "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b",
            "spend": 0.00123,
            "prompt_tokens": 1000,
            "completion_tokens": 200,
            "startTime": start.replace(tzinfo=None),
            "endTime": (start + timedelta(milliseconds=850)).replace(tzinfo=None),
            "model": "gpt-4o-mini",
            "model_group": "gpt-4o-mini",
            "custom_llm_provider": "openai",
            "metadata": {"user_api_key_alias": "support-bot", "user_api_key_team_alias": "support"},
            "request_tags": [],
            **values,
        }
        row["total_tokens"] = row["prompt_tokens"] + row["completion_tokens"]
        for name in ("metadata", "request_tags"):
            row[name] = json.dumps(row[name])
        columns = ", ".join(f'"{c}"' for c in row)
        marks = ", ".join(f"CAST(:{c} AS JSONB)" if c in ("metadata", "request_tags") else f":{c}" for c in row)
        with self.admin.begin() as conn:
            conn.execute(text(f'SET LOCAL search_path TO "{self.schema}"'))
            conn.execute(text(f'INSERT INTO "LiteLLM_SpendLogs" ({columns}) VALUES ({marks})'), row)

    def restate(self, request_id: str, **values: Any) -> None:
        sets = ", ".join(f'"{c}" = :{c}' for c in values)
        with self.admin.begin() as conn:
            conn.execute(text(f'SET LOCAL search_path TO "{self.schema}"'))
            conn.execute(
                text(f'UPDATE "LiteLLM_SpendLogs" SET {sets} WHERE "request_id" = :rid'), {**values, "rid": request_id}
            )


@pytest.fixture
def spend_logs() -> Iterator[SpendLogs]:
    admin = create_engine(PG_URL)
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError:
        admin.dispose()
        pytest.skip(f"no PostgreSQL at {PG_URL} for the LiteLLM source table")
    schema = f"litellm_src_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
        for statement in SPEND_LOGS_DDL.split(";"):
            if statement.strip():
                conn.execute(text(statement))
    try:
        yield SpendLogs(admin, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def connector(logs: SpendLogs, **kwargs: Any) -> LiteLLMSpendLogsConnector:
    return LiteLLMSpendLogsConnector(database_url=logs.url, rules=RULES, clock=fixed_clock(), timeout=10, **kwargs)


def syncer(engine: Engine, attempts: int = 2) -> SyncEngine:
    time = FakeTime()
    return SyncEngine(
        engine=engine,
        policy=SyncPolicy(backfill_days=4, retry=RetryPolicy(max_attempts=attempts, base_delay=1.0, max_delay=2.0)),
        clock=fixed_clock(),
        sleep=time.sleep,
        timer=time.timer,
        rng=random.Random(1),
    )


def at(days_ago: int, hour: int) -> datetime:
    day = TODAY - timedelta(days=days_ago)
    return datetime(day.year, day.month, day.day, hour, 15, tzinfo=UTC)


def seed(logs: SpendLogs) -> None:
    logs.add("chatcmpl-a1", at(2, 9), session_id="sess-1")
    logs.add(
        "chatcmpl-a2",
        at(2, 9),
        session_id="sess-1",
        spend=0.0105,
        prompt_tokens=3000,
        completion_tokens=500,
        metadata={
            "user_api_key_alias": "support-bot",
            "user_api_key_team_alias": "support",
            "usage_object": {"prompt_tokens": 3000, "prompt_tokens_details": {"cached_tokens": 1024}},
        },
    )
    logs.add(
        "msg_01b",
        at(1, 14),
        model="claude-sonnet-4-5-20250929",
        model_group="claude-sonnet",
        custom_llm_provider="anthropic",
        spend=0.25,
        end_user="acme",
        team_id="team-7f",
        metadata={"user_api_key_alias": "batch-key"},
        request_tags=["feature:summaries", "nightly"],
        request_duration_ms=4200,
    )


def test_first_sync_inserts_second_changes_nothing(engine: Engine, spend_logs: SpendLogs) -> None:
    seed(spend_logs)
    [first] = syncer(engine).sync({"litellm": connector(spend_logs)})
    assert first.ok, first.error
    assert (first.calls.inserted, first.calls.updated, first.calls.unchanged) == (3, 0, 0)
    rows = call_rows(engine)
    a1, a2, b = rows["id:litellm:chatcmpl-a1"], rows["id:litellm:chatcmpl-a2"], rows["id:litellm:msg_01b"]
    assert a1["cost"] == Decimal("0.00123") and a1["cost_source"] == "given" and a1["currency"] == "USD"
    assert (a1["workflow"], a1["team"], a1["run_id"], a1["provider"]) == (
        "support-triage",
        "support",
        "sess-1",
        "openai",
    )
    assert a1["latency_ms"] == 850 and a1["input_tokens"] == 1000 and a1["output_tokens"] == 200
    assert a2["cost"] == Decimal("0.0105") and a2["cache_read_tokens"] == 1024
    assert (b["model"], b["provider"], b["customer"], b["team"], b["feature"]) == (
        "claude-sonnet-4-5-20250929",
        "anthropic",
        "acme",
        "team-7f",
        "summaries",
    )
    assert b["workflow"] == "" and b["latency_ms"] == 4200
    before = call_totals(engine)
    assert before["calls"] == (3, 5000, 900, Decimal("0.26173"))
    assert before["hourly"] == before["daily"] == before["calls"]
    assert before["runs"] == before["runs_expected"] == (2, Decimal("0.01173"))

    [second] = syncer(engine).sync({"litellm": connector(spend_logs)})
    assert second.ok, second.error
    assert (second.calls.inserted, second.calls.updated, second.calls.unchanged) == (0, 0, 3)
    assert call_totals(engine) == before
    assert call_rows(engine) == rows


def test_a_restated_row_updates_in_place_and_the_totals_follow(engine: Engine, spend_logs: SpendLogs) -> None:
    seed(spend_logs)
    syncer(engine).sync({"litellm": connector(spend_logs)})
    before = call_rows(engine)["id:litellm:chatcmpl-a1"]
    spend_logs.restate("chatcmpl-a1", spend=0.5, prompt_tokens=4000, total_tokens=4200)
    [report] = syncer(engine).sync({"litellm": connector(spend_logs)})
    assert report.ok, report.error
    assert (report.calls.inserted, report.calls.updated, report.calls.unchanged) == (0, 1, 2)
    rows = call_rows(engine)
    after = rows["id:litellm:chatcmpl-a1"]
    assert after["id"] == before["id"]  # the same row, updated in place
    assert (after["cost"], after["input_tokens"]) == (Decimal("0.5"), 4000)
    totals = call_totals(engine)
    assert totals["calls"] == (3, 8000, 900, Decimal("0.7605"))
    assert totals["hourly"] == totals["daily"] == totals["calls"]
    assert totals["runs"] == totals["runs_expected"] == (2, Decimal("0.5105"))
    # And re-syncing the restated table changes nothing more.
    [again] = syncer(engine).sync({"litellm": connector(spend_logs)})
    assert (again.calls.inserted, again.calls.updated) == (0, 0)
    assert call_totals(engine) == totals


def test_bad_rows_are_reported_and_the_others_written(engine: Engine, spend_logs: SpendLogs) -> None:
    seed(spend_logs)
    spend_logs.add("bad-tokens", at(1, 15), prompt_tokens=-5)
    spend_logs.add("bad-model", at(1, 16), model="", model_group="")
    spend_logs.add("too-dear", at(1, 17), spend=5000.0)
    [report] = syncer(engine).sync({"litellm": connector(spend_logs)})
    assert report.ok, report.error
    assert report.calls.inserted == 3
    reasons = sorted(report.rejected)
    assert len(reasons) == 3
    assert "request_id 'bad-model'" in reasons[0] and "missing model" in reasons[0]
    assert "request_id 'bad-tokens'" in reasons[1] and "input_tokens" in reasons[1]
    assert "request_id 'too-dear'" in reasons[2] and "implausible" in reasons[2]
    assert len(call_rows(engine)) == 3


def test_a_failing_source_does_not_stop_the_others(engine: Engine, spend_logs: SpendLogs) -> None:
    seed(spend_logs)
    missing = LiteLLMSpendLogsConnector(
        database_url=f"{PG_URL}?schema=no_such_schema_{uuid.uuid4().hex[:6]}", name="litellm-old", timeout=5
    )
    unreachable = LiteLLMSpendLogsConnector(
        database_url="postgresql://reader:secret-pw@127.0.0.1:9/litellm", name="litellm-down", timeout=2
    )
    reports = syncer(engine).sync(
        {"litellm-old": missing, "litellm-down": unreachable, "litellm": connector(spend_logs)}
    )
    by_name = {r.source: r for r in reports}
    assert by_name["litellm-old"].status == "failed"
    assert 'table "LiteLLM_SpendLogs" not found' in (by_name["litellm-old"].error or "")
    assert by_name["litellm-down"].status == "failed"
    assert "cannot read the LiteLLM database" in (by_name["litellm-down"].error or "")
    assert "secret-pw" not in (by_name["litellm-down"].error or "")
    assert by_name["litellm"].ok and by_name["litellm"].calls.inserted == 3


def test_not_configured_and_no_password_in_repr() -> None:
    assert not LiteLLMSpendLogsConnector().is_configured()
    c = LiteLLMSpendLogsConnector(database_url="postgresql://u:hunter2@db/litellm")
    assert c.is_configured() and "hunter2" not in repr(c)
