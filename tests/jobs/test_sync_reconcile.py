"""Reconciliation: per-call rollups vs bills, the causes it names, and the bill/per-call merge."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Connection, Engine
from typer.testing import CliRunner

from aispend.cli.main import app
from aispend.core.ledger.calls import apply_rollup_deltas
from aispend.core.ledger.costlines import CostLineIn, upsert_cost_lines
from aispend.core.ledger.spend import SpendPolicy, spend
from aispend.core.reports.reconcile import reconcile_period
from aispend.core.rules.reconciliation import (
    AttributedSpend,
    BillSlice,
    CallSlice,
    merge_bills_with_call_shares,
    period_totals,
    provider_key,
)
from aispend.core.timeutil import start_of_day

D1 = date(2026, 11, 3)
D2 = date(2026, 11, 4)
NOW = datetime(2026, 11, 26, tzinfo=UTC)


def bill(source: str, provider: str, day: date, key: str, amount: str, team: str = "") -> CostLineIn:
    return CostLineIn(
        source=source,
        natural_key=f"{day}:{key}",
        charge_period_start=start_of_day(day),
        charge_period_end=start_of_day(day + timedelta(days=1)),
        billed_cost=Decimal(amount),
        billing_currency="USD",
        provider=provider,
        service_name=f"{provider} API",
        is_ai=True,
        team=team,
    )


def rollup(provider: str, day: date, model: str, cost: str, calls: int, team: str = "", **counts: int) -> dict:
    return {
        "hour": start_of_day(day) + timedelta(hours=10),
        "day": day,
        "provider": provider,
        "model": model,
        "team": team,
        "currency": "USD",
        "calls": calls,
        "input_tokens": 1000 * calls,
        "output_tokens": 100 * calls,
        "cost": Decimal(cost),
        "workflow": "",
        "feature": "",
        "customer": "",
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "latency_ms_sum": 0,
        **{name: counts.get(name, 0) for name in ("unpriced_calls", "unpriced_tokens", "zero_cost_calls")},
    }


def insert_rollups(conn: Connection, rows: list[dict[str, object]]) -> None:
    """Hourly rollups and, summed, the daily ones — as ingestion keeps them."""
    apply_rollup_deltas(conn, rows)


def seed(engine: Engine) -> None:
    with engine.begin() as conn:
        upsert_cost_lines(
            conn,
            [
                bill("openai", "OpenAI", D1, "a", "60.00", team="support"),
                bill("openai", "OpenAI", D1, "b", "40.00"),
                bill("openai", "OpenAI", D2, "a", "10.00", team="support"),  # a day with no logs
            ],
            now=NOW,
        )
        insert_rollups(
            conn,
            [
                rollup("openai", D1, "gpt-4o", "70.00", 900, team="support", zero_cost_calls=3),
                rollup("openai", D1, "gpt-4o-mini", "23.00", 400, team="sales"),
                rollup(
                    "openai",
                    D1,
                    "gpt-9-preview",
                    "0",
                    50,
                    team="sales",
                    unpriced_calls=50,
                    unpriced_tokens=55000,
                ),
                rollup("anthropic", D1, "claude-sonnet-5", "5.00", 10, team="sales"),  # no bill synced
            ],
        )


def test_known_seven_percent_gap_names_the_unpriced_model(engine: Engine) -> None:
    seed(engine)
    with engine.connect() as conn:
        days = reconcile_period(conn, start=date(2026, 11, 1), end=date(2026, 12, 1))
    openai_d1 = next(r for r in days if r.provider == "openai" and r.day == D1)
    assert (openai_d1.bill, openai_d1.calls_cost, openai_d1.drift) == (Decimal(100), Decimal(93), Decimal(7))
    assert openai_d1.drift_percent == Decimal("7.0")
    assert openai_d1.causes[0].kind == "unpriced_model" and openai_d1.causes[0].model == "gpt-9-preview"
    assert "unpriced model gpt-9-preview: 50 calls" in openai_d1.causes[0].message
    assert any(c.kind == "zero_cost_calls" and c.model == "gpt-4o" and c.calls == 3 for c in openai_d1.causes)
    openai_d2 = next(r for r in days if r.provider == "openai" and r.day == D2)
    assert [c.kind for c in openai_d2.causes] == ["no_logs"] and openai_d2.drift_percent == Decimal("100.0")
    anthropic = next(r for r in days if r.provider == "anthropic")
    assert anthropic.bill is None and anthropic.drift_percent is None
    assert [c.kind for c in anthropic.causes] == ["no_bill"]
    [_anthropic_total, openai_total] = period_totals(days)
    assert (openai_total.bill, openai_total.calls_cost, openai_total.drift) == (
        Decimal(110),
        Decimal(93),
        Decimal(17),
    )
    assert [c.kind for c in openai_total.causes] == ["unpriced_model", "zero_cost_calls", "no_logs"]


def test_reconcile_cli_json_shows_seven_percent(engine: Engine, database_url: str) -> None:
    seed(engine)
    result = CliRunner().invoke(
        app,
        ["report", "reconcile", "--month", "2026-11", "--json"],
        env={"AISPEND_DATABASE_URL": database_url},
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    day = next(d for d in data["days"] if d["provider"] == "openai" and d["day"] == "2026-11-03")
    assert (day["bill"], day["per_call"], day["drift"], day["drift_percent"]) == ("100", "93", "7", "7")
    assert day["causes"][0] == {
        "kind": "unpriced_model",
        "message": day["causes"][0]["message"],
        "model": "gpt-9-preview",
        "calls": 50,
    }
    table = CliRunner().invoke(
        app,
        ["report", "reconcile", "--month", "2026-11"],
        env={"AISPEND_DATABASE_URL": database_url, "COLUMNS": "200"},
    )
    assert table.exit_code == 0 and "7.0%" in table.output and "gpt-9-preview" in table.output


def test_reconcile_cli_rejects_a_bad_month(database_url: str) -> None:
    result = CliRunner().invoke(
        app, ["report", "reconcile", "--month", "11/2026"], env={"AISPEND_DATABASE_URL": database_url}
    )
    assert result.exit_code == 2 and "YYYY-MM" in result.output


def test_spend_by_team_uses_bill_totals_and_call_shares(engine: Engine) -> None:
    seed(engine)
    with engine.connect() as conn:
        merged = spend(
            conn, start=date(2026, 11, 1), end=date(2026, 12, 1), dims=["provider", "team"], policy=SpendPolicy()
        )
    by_key: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for line in merged.lines:
        by_key[(*line.values, line.basis)] += line.amount
    # D1: logs explain 93 of the 100 billed: support 70, sales 23, 7 unattributed.
    # D2: no logs: the bill's own attribution (team "support" on line a).
    assert by_key == {
        ("openai", "support", "calls"): Decimal(70),
        ("openai", "sales", "calls"): Decimal(23),
        ("openai", "", "unattributed"): Decimal(7),
        ("openai", "support", "bill"): Decimal(10),
        ("anthropic", "sales", "calls_without_bill"): Decimal(5),
    }
    openai_total = sum(a for (provider, _, _), a in by_key.items() if provider == "openai")
    assert openai_total == Decimal(110)  # the bill, not bill + logs


def test_merge_scales_shares_when_logs_exceed_the_bill() -> None:
    spend = merge_bills_with_call_shares(
        [BillSlice("aws", D1, "USD", "", Decimal("90"))],
        [
            CallSlice("aws", D1, "USD", "a", Decimal("66.66")),
            CallSlice("aws", D1, "USD", "b", Decimal("33.34")),
        ],
    )
    assert sum(s.amount for s in spend) == Decimal(90)
    assert [(s.value, s.basis) for s in spend] == [("a", "calls"), ("b", "calls")]
    assert spend[0].amount == Decimal("59.994")


def test_merge_keeps_unattributed_bill_when_there_are_no_logs() -> None:
    spend = merge_bills_with_call_shares([BillSlice("google", D1, "EUR", "", Decimal("5"))], [])
    assert spend == [AttributedSpend("google", "EUR", "", Decimal(5), "unattributed")]


def test_provider_keys_match_bills_and_logs() -> None:
    assert provider_key("OpenAI") == provider_key("openai") == "openai"
    assert provider_key("AWS", "Amazon Bedrock") == provider_key("bedrock") == "aws"
    assert provider_key("Microsoft", "Azure OpenAI") == provider_key("azure_openai") == "azure"
    assert provider_key("Google Cloud", "Vertex AI") == provider_key("google-vertex") == "google"
    assert provider_key("", "Amazon SageMaker") == "aws"
