from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from sqlalchemy import Engine

from aispend.demo.company import RUNAWAY_WORKFLOW, UNPRICED_MODEL
from aispend.demo.generate import generate_calls
from tests.clihelp import run_cli


def test_generation_is_deterministic_for_a_seed() -> None:
    first, _ = generate_calls(end=date(2026, 11, 26), days=3, seed=7)
    second, _ = generate_calls(end=date(2026, 11, 26), days=3, seed=7)
    other, _ = generate_calls(end=date(2026, 11, 26), days=3, seed=8)
    rows = list(first)
    assert rows == list(second)
    assert rows != list(other)


def test_demo_prints_the_weekly_top_five_and_can_be_rerun(engine: Engine, database_url: str) -> None:
    args = ["demo", "--days", "21", "--as-of", "2026-11-26"]
    first = run_cli(args, database_url)
    assert first.exit_code == 0, first.output
    assert "Top 5 by workflow — week of 2026-11-16" in first.output
    assert "Support triage agent" in first.output
    assert UNPRICED_MODEL in first.output
    # Then what Slack would receive (no token: the terminal sink): governance's alerts, then the digest.
    slack = first.output[first.output.index("What Slack would receive") :]
    assert "--- Slack message to #ai-finance [alert:share|workflow:support-triage|2026-11:post] ---" in slack
    assert "Red alert: workflow support-triage, share of AI spend" in slack and "Owner: @maria.garcia" in slack
    assert "--- Slack message to #ai-governance [digest:2026-W47:message] ---" in slack
    assert "budget $3,000.00" in slack and "forecast $" in slack
    again = run_cli(args, database_url)
    assert again.exit_code == 0
    assert " 0 new (nothing new)" in again.output
    assert "0 new governance notification(s)" in again.output and "--- Slack message" not in again.output

    report = json.loads(run_cli(["report", "top", "--at", "2026-11-16", "--json"], database_url).output)
    runaway = next(r for r in report["rows"] if r["key"] == RUNAWAY_WORKFLOW)
    assert Decimal(runaway["share_pct"]) > 20  # the runaway workflow crosses the red share line
    assert Decimal(runaway["change_pct"]) > 50
    assert report["unpriced"]["calls"] > 0
    assert len(report["rows"]) == 5


def test_the_demo_runaway_is_one_change_alert_per_comparison_not_one_per_scope(
    engine: Engine, database_url: str
) -> None:
    """Issue 13 item 3: the default demo's first run raised 5 week-over-week and 4 month-over-month
    change alerts for one runaway (the workflow, its team, its model, its provider, the company)."""
    first = run_cli(["demo"], database_url)
    assert first.exit_code == 0, first.output
    alerts = [line for line in first.output.splitlines() if line.startswith("--- Slack message to #ai-finance [alert:")]
    changes = sorted(line.split("[alert:")[1].split("|2026")[0] for line in alerts if "alert:change_" in line)
    assert changes == ["change_mom|workflow:support-triage", "change_wow|workflow:support-triage"]
    status = json.loads(
        run_cli(["report", "changes", "--period", "week", "--at", "2026-11-23", "--json"], database_url).output
    )
    company = next(f for f in status["findings"] if f["scope"] == {"kind": "company", "key": ""})
    assert company["level"] == "ok" and company["numbers"]["folded_into"] == {
        "kind": "workflow",
        "key": RUNAWAY_WORKFLOW,
    }
    assert "alerted on its own" in company["summary"]
