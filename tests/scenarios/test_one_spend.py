"""One definition of spend (issue 13 items 2, 5 and 8): every view shows the same figure, to the cent.

The ledger here is what a real company has and the demo has not: bills that cover some days and not
others, logs that explain less than the bill on one day and more on another, a provider with no bill
source, a second currency, and a commitment bought on one day and amortized over the month. Before,
`report top` used the bills while the digest's chart, `/aispend workflow`, the rules and App Home's
colours used the raw per-call rollups, so one digest could show a table, a chart and colours built from
different figures.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session
from typer.testing import CliRunner

from aispend.bot.data import GovernanceSource, LedgerData
from aispend.bot.digest import gather_digest
from aispend.cli.main import app
from aispend.cli.runtime import Runtime
from aispend.core.governance import store
from aispend.core.governance.config import GovernanceConfig
from aispend.core.governance.evaluate import collect_findings
from aispend.core.ledger.calls import apply_rollup_deltas
from aispend.core.ledger.costlines import CostLineIn, upsert_cost_lines
from aispend.core.ledger.models import CallRecord, table_of
from aispend.core.ledger.spend import SpendPolicy, spend
from aispend.core.rates import load_rates
from aispend.core.rules.findings import Scope
from aispend.core.rules.share import SharePolicy
from aispend.core.rules.thresholds import Threshold
from aispend.core.settings import load_settings
from aispend.core.timeutil import start_of_day

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)  # a Monday: the digest covers 16-22 November
WEEK = (date(2026, 11, 16), date(2026, 11, 23))
MONTH = (date(2026, 11, 1), date(2026, 11, 24))  # the month so far, today included
A, B, C = date(2026, 11, 17), date(2026, 11, 18), date(2026, 11, 19)


def bill(day: date, key: str, amount: str, effective: str | None = None, currency: str = "USD") -> CostLineIn:
    return CostLineIn(
        source="openai",
        natural_key=f"{day}:{key}",
        charge_period_start=start_of_day(day),
        charge_period_end=start_of_day(day + timedelta(days=1)),
        billed_cost=Decimal(amount),
        effective_cost=Decimal(effective) if effective is not None else None,
        billing_currency=currency,
        provider="OpenAI",
        service_name="OpenAI API",
        is_ai=True,
    )


def logged(provider: str, day: date, workflow: str, cost: str, currency: str = "USD") -> dict[str, Any]:
    return {
        "hour": start_of_day(day) + timedelta(hours=10),
        "day": day,
        "provider": provider,
        "model": "gpt-4o" if provider == "openai" else "claude-sonnet-4-5",
        "workflow": workflow,
        "team": "support" if workflow == "support" else "growth",
        "feature": "",
        "customer": "",
        "currency": currency,
        "calls": 10,
        "input_tokens": 10_000,
        "output_tokens": 1_000,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "latency_ms_sum": 0,
        "cost": Decimal(cost),
        "unpriced_calls": 0,
        "unpriced_tokens": 0,
        "zero_cost_calls": 0,
    }


def seed(engine: Engine) -> None:
    with engine.begin() as conn:
        upsert_cost_lines(
            conn,
            [
                bill(A, "usage", "100.00"),  # logs explain 80 of it: 20 unattributed
                bill(B, "usage", "30.00"),  # logs say 45 (list price): shares scaled to the bill
                bill(date(2026, 11, 2), "commitment", "300.00", effective="0"),  # bought on the 2nd
                *[bill(date(2026, 11, d), "amortized", "0", effective="10.00") for d in range(2, 24)],
            ],
            now=NOW,
        )
        apply_rollup_deltas(
            conn,
            [
                logged("openai", A, "support", "60.00"),
                logged("openai", A, "search", "20.00"),
                logged("openai", B, "support", "30.00"),
                logged("openai", B, "search", "15.00"),
                logged("anthropic", C, "support", "12.50"),  # no bill source for this provider
                logged("anthropic", C, "search", "40.00", currency="EUR"),  # converted at 1.10
                logged("anthropic", date(2026, 11, 10), "search", "7.00"),
            ],
        )


def rates_file(tmp_path: Path) -> Path:
    path = tmp_path / "rates.csv"
    path.write_text("currency,effective_from,rate\nEUR,2026-11-01,1.10\n", encoding="utf-8")
    return path


def report_json(database_url: str, rates: Path, *args: str, basis: str = "billed") -> dict[str, Any]:
    settings = load_settings(database_url=database_url, rates_file=rates, cost_basis=basis)
    result = CliRunner().invoke(app, ["report", *args, "--json"], obj=Runtime(settings=settings, clock=lambda: NOW))
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.output)
    return parsed


def costs(report: dict[str, Any]) -> dict[str, Decimal]:
    return {r["key"]: Decimal(r["cost"]["amount"]) for r in report["rows"]}


def test_every_view_shows_the_same_spend(engine: Engine, database_url: str, tmp_path: Path) -> None:
    seed(engine)
    rates = rates_file(tmp_path)
    policy = SpendPolicy("USD", "billed", load_rates(rates, "USD"))
    config = GovernanceConfig(spend=policy, share=SharePolicy(min_total=Decimal(0)))
    with Session(engine) as session:
        store.set_threshold(
            session,
            Threshold(Scope("workflow", "support"), "month", Decimal(500), Decimal(900), "USD"),
            actor="cfo",
            now=NOW,
        )
        session.commit()

    # The ledger's figure, worked by hand: A: bill 100 = support 60 + search 20 + 20 unattributed;
    # B: bill 30 split 2:1 = support 20 + search 10; C: no bill: support 12.50, search 40 EUR x 1.10.
    week = {"support": Decimal("92.5"), "search": Decimal("74"), "": Decimal("20")}
    # The month adds the commitment's 300 on the 2nd (billed basis, unattributed) and search's 7 on the 10th.
    month = {"support": Decimal("92.5"), "search": Decimal("81"), "": Decimal("320")}
    with engine.connect() as conn:
        assert {
            k[0]: v
            for k, v in spend(conn, start=WEEK[0], end=WEEK[1], dims=["workflow"], policy=policy).by("workflow").items()
        } == week

    # `aispend report top --json`, week and month.
    weekly = report_json(database_url, rates, "top", "--period", "week", "--at", "2026-11-16", "--limit", "10")
    assert costs(weekly) == week
    assert weekly["totals"] == [{"amount": "186.5", "currency": "USD"}]
    assert weekly["cost_basis"] == "billed" and weekly["converted_from"] == ["EUR"]
    monthly = report_json(database_url, rates, "top", "--period", "month", "--limit", "10")
    assert costs(monthly) == month

    # The digest: its table, its chart (per day and workflow) and the chart's totals.
    ledger = LedgerData(engine, policy=policy)
    governance = GovernanceSource(engine, config)
    digest = gather_digest(ledger, governance, NOW)
    assert {r.key: r.cost.amount for r in digest.top.rows} == week
    charted: dict[str, Decimal] = {}
    for point in digest.daily:
        if WEEK[0] <= point.day < WEEK[1]:
            key = "" if point.series == "(unattributed)" else point.series
            charted[key] = charted.get(key, Decimal(0)) + point.cost
    assert charted == week
    assert any("converted" in note for note in digest.top.notes)

    # `/aispend workflow support`, `/aispend team growth`, App Home's top five, the colours.
    detail = ledger.workflow("support", NOW)
    assert detail is not None and detail.cost.amount == month["support"]
    assert {m: c.amount for m, c in detail.models} == {"gpt-4o": Decimal(80), "claude-sonnet-4-5": Decimal("12.5")}
    team = ledger.breakdown("team", "growth", NOW)
    assert team is not None and team.cost.amount == month["search"]
    home = ledger.top("month", NOW)
    assert {r.key: r.cost.amount for r in home.rows} == month
    colour = next(c for c in governance.colours(NOW) if c.scope == "support")
    assert colour.spent.amount == month["support"]

    # The alerts' figures: share of spend and the threshold.
    with Session(engine) as session:
        findings, errors = collect_findings(session, now=NOW, config=config)
    assert errors == []
    share = {f.scope.key: f.numbers for f in findings if f.rule == "share"}
    assert Decimal(share["support"]["workflow_spend"]["amount"]) == month["support"]
    assert Decimal(share["support"]["total_spend"]["amount"]) == sum(month.values())
    threshold = next(f for f in findings if f.rule == "threshold")
    assert Decimal(threshold.numbers["forecast"]["actual_to_date"]["amount"]) == month["support"]


def test_the_amortized_basis_spreads_a_commitment_and_every_view_says_which(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """Item 8: BilledCost shows the commitment as a one-day spike of 300 with 0 on the days it
    covers; EffectiveCost spreads it (10 a day). The basis is a setting and every view names it."""
    seed(engine)
    rates = rates_file(tmp_path)
    billed = report_json(
        database_url, rates, "spend", "--since", "2026-11-01", "--until", "2026-11-09", "--by", "workflow"
    )
    amortized = report_json(
        database_url,
        rates,
        "spend",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-09",
        "--by",
        "workflow",
        basis="amortized",
    )
    assert (billed["cost_basis"], amortized["cost_basis"]) == ("billed", "amortized")
    assert billed["totals"] == [{"amount": "300", "currency": "USD"}]  # the purchase day only
    assert amortized["totals"] == [{"amount": "70", "currency": "USD"}]  # 2nd to 8th, 10 a day
    policy = SpendPolicy("USD", "amortized", load_rates(rates, "USD"))
    with engine.connect() as conn:
        days = {
            line.day: line.amount
            for line in spend(conn, start=date(2026, 11, 1), end=date(2026, 11, 9), policy=policy).lines
        }
    assert set(days.values()) == {Decimal(10)} and min(days) == date(2026, 11, 2)
    # Slack says which figure it shows.
    top = LedgerData(engine, policy=policy).top("month", NOW)
    assert top.basis == "amortized"
    detail = LedgerData(engine, policy=policy).workflow("support", NOW)
    assert detail is not None and detail.basis == "amortized"


def test_reconciliation_compares_the_logs_with_the_chosen_bill_figure(engine: Engine, tmp_path: Path) -> None:
    """Item 8: the drift check reads the same bill figure as spend, or an amortized ledger would show
    a 300 drift on the purchase day and -10 on every other."""
    seed(engine)
    amortized = GovernanceConfig(spend=SpendPolicy("USD", "amortized"))
    with Session(engine) as session:
        findings, _ = collect_findings(session, now=NOW, config=amortized)
        billed, _ = collect_findings(session, now=NOW, config=replace(amortized, spend=SpendPolicy("USD", "billed")))
    drift = next(f for f in findings if f.rule == "dq_reconciliation").numbers
    drift_billed = next(f for f in billed if f.rule == "dq_reconciliation").numbers
    # Settled days (the rule leaves out the last bill-lag days): usage 130, and the commitment's 300
    # billed on the 2nd, or 10 a day effective from the 2nd to the 20th.
    assert drift_billed["bills"] == {"amount": "430", "currency": "USD"}
    assert drift["bills"] == {"amount": "320", "currency": "USD"}
    assert drift["logs"] == drift_billed["logs"] == {"amount": "125", "currency": "USD"}  # EUR: no rate here


def test_a_missing_rate_is_named_and_nothing_crashes(engine: Engine, database_url: str, tmp_path: Path) -> None:
    """Item 5: one EUR row made `digest` crash (MixedCurrencyError) and the rules raise red "currency"
    alerts. Now the amount is left out, named with its currency and day, and the rest is shown."""
    seed(engine)
    no_rates = tmp_path / "none.csv"
    no_rates.write_text("currency,effective_from,rate\n", encoding="utf-8")
    weekly = report_json(database_url, no_rates, "top", "--period", "week", "--at", "2026-11-16", "--limit", "10")
    assert weekly["totals"] == [{"amount": "142.5", "currency": "USD"}]  # 186.5 without the 44
    assert weekly["not_converted"] == [
        {
            "currency": "EUR",
            "day": "2026-11-19",
            "amount": {"amount": "40", "currency": "EUR"},
            "reason": weekly["not_converted"][0]["reason"],
        }
    ]
    assert "no EUR -> USD rate for 2026-11-19" in weekly["not_converted"][0]["reason"]
    assert any(n.startswith("Not included: €40.00 in EUR (2026-11-19)") for n in weekly["notes"])
    policy = SpendPolicy("USD", "billed", load_rates(no_rates, "USD"))
    digest = gather_digest(
        LedgerData(engine, policy=policy), GovernanceSource(engine, GovernanceConfig(spend=policy)), NOW
    )
    assert sum(r.cost.amount for r in digest.top.rows) == Decimal("142.5")
    assert any("Not included" in n for n in digest.top.notes)


def test_an_import_in_another_currency_says_how_it_will_be_counted(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """Item 5: a call row in EUR was accepted without a word, then crashed `digest`. The import now
    says that the EUR amount has no rate for its day (so reports leave it out, naming it), and once a
    rate is there that it is converted; the stored row keeps its own amount and currency."""
    calls = tmp_path / "calls.jsonl"
    row = {
        "call_id": "eur-1",
        "timestamp": "2026-11-19T10:00:00Z",
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "input_tokens": 100,
        "output_tokens": 10,
        "cost": "40.00",
        "currency": "EUR",
        "workflow": "search",
    }
    calls.write_text(json.dumps(row) + "\n", encoding="utf-8")

    def run(rates: Path | None, *args: str) -> Any:
        settings = load_settings(database_url=database_url, rates_file=rates)
        obj = Runtime(settings=settings, clock=lambda: NOW)
        return CliRunner().invoke(app, list(args), obj=obj)

    first = run(None, "ingest", "calls", str(calls))
    assert first.exit_code == 0, first.output
    assert "warning: amounts in EUR on 2026-11-19 have no EUR -> USD rate" in first.output
    assert "left out of every report and alert" in first.output
    converted = run(rates_file(tmp_path), "ingest", "calls", str(calls))  # the same file again: nothing new
    assert converted.exit_code == 0 and "0 new" in converted.output
    top = run(rates_file(tmp_path), "report", "top", "--period", "week", "--at", "2026-11-16", "--json")
    report = json.loads(top.output)
    assert report["totals"] == [{"amount": "44", "currency": "USD"}] and report["converted_from"] == ["EUR"]
    table = run(rates_file(tmp_path), "report", "top", "--period", "week", "--at", "2026-11-16")
    assert "Includes amounts converted to USD from EUR at dated rates." in table.output
    with engine.connect() as conn:
        stored = conn.execute(select(table_of(CallRecord).c.cost, table_of(CallRecord).c.currency)).one()
    assert (Decimal(stored[0]), stored[1]) == (Decimal(40), "EUR")
