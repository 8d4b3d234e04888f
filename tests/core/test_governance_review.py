"""Estimate, unit economics and model review: table-driven, plus the CLI on a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from aispend.core.governance import store
from aispend.core.governance.config import GovernanceConfig
from aispend.core.governance.evaluate import evaluate
from aispend.core.governance.review import model_review
from aispend.core.pricing import lookup_price
from aispend.core.rules.estimate import EstimateInput, estimate_monthly
from aispend.core.rules.findings import Level, MixedCurrencyError
from aispend.core.rules.model_review import ModelUsage, caching_candidates, self_hosting_candidates, what_if
from aispend.core.rules.periods import period_of
from aispend.core.rules.unit_economics import FeatureRevenue, unit_economics
from aispend.core.settings import Settings
from tests.governance_builders import call, insert, rollup

NOV = period_of("month", date(2026, 11, 1))

D = Decimal


@pytest.mark.parametrize(
    ("spec", "price_in", "price_out", "cost"),
    [
        # 1,000 DAU x 10 actions x 2,000 tokens x 30 days = 600M tokens; 450M in, 150M out
        (EstimateInput(1000, D(10), 2000), D("0.15"), D("0.60"), D("157.5")),
        (EstimateInput(1000, D(10), 2000, agentic_multiplier=D(5)), D("0.15"), D("0.60"), D("787.5")),
        (EstimateInput(0, D(10), 2000), D("3"), D("15"), D(0)),
        (EstimateInput(1, D(1), 1_000_000, output_share=D(0), days=1), D("2.5"), D("10"), D("2.5")),
    ],
)
def test_estimate(spec: EstimateInput, price_in: Decimal, price_out: Decimal, cost: Decimal) -> None:
    assert estimate_monthly(spec, price_in, price_out).monthly_cost == cost


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"output_share": D(2)}, "between 0 and 1"), ({"agentic_multiplier": D("0.5")}, "at least 1")],
)
def test_estimate_rejects_bad_input(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EstimateInput(10, D(1), 100, **kwargs)


def test_prices_come_from_genai_prices_at_the_normal_tier() -> None:
    mini = lookup_price("openai:gpt-4o-mini")
    assert (mini.input_per_mtok, mini.output_per_mtok, mini.tier) == (D("0.15"), D("0.6"), "small")
    assert lookup_price("anthropic:claude-sonnet-4-5").input_per_mtok == D(3)  # not the >200k-token tier
    with pytest.raises(LookupError, match="no price known"):
        lookup_price("no-such-model-anywhere")


def test_estimate_cli_shows_small_and_frontier_side_by_side() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "aispend.cli.main",
            "estimate",
            "--dau",
            "1000",
            "--actions",
            "10",
            "--tokens",
            "2000",
            "--model",
            "openai:gpt-4o-mini",
            "--agentic-multiplier",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "AISPEND_DATABASE_URL": "sqlite://"},
    )
    data = json.loads(out.stdout)
    by_role = {e["role"]: e for e in data["estimates"]}
    assert by_role["requested"]["monthly_cost"] == {"amount": "315", "currency": "USD"}
    assert by_role["small"]["tier"] == "small" and by_role["frontier"]["tier"] == "frontier"


@pytest.mark.parametrize(
    ("cost", "revenue", "margin", "level"),
    [
        ("230", "1000", None, Level.OK),
        ("310", "1000", None, Level.YELLOW),
        ("50", "1000", "400", Level.YELLOW),
        ("-20", "1000", "400", Level.OK),
    ],
)
def test_unit_economics(cost: str, revenue: str, margin: str | None, level: Level) -> None:
    [f] = unit_economics(
        {"chat": D(cost)},
        {"chat": FeatureRevenue(D(revenue), D(margin) if margin else None, "USD")},
        D(cost),
        "USD",
        NOV,
    )
    assert f.level is level


def test_unit_economics_finops_note_and_currency_mix() -> None:
    found = unit_economics({}, {}, D(50_000), "USD", NOV)
    assert [f.rule for f in found] == ["finops_hire"]
    with pytest.raises(MixedCurrencyError):
        unit_economics({"chat": D(1)}, {"chat": FeatureRevenue(D(10), None, "EUR")}, D(1), "USD", NOV)


def _usage(model: str, provider: str, cost: str, tokens: int = 1_000_000) -> ModelUsage:
    return ModelUsage("triage", "", provider, model, 100, tokens, tokens // 10, 0, D(cost), "USD")


def test_what_if_reprices_frontier_usage_on_the_cheap_model() -> None:
    tiers = {"gpt-4o": "frontier", "gpt-4o-mini": "small"}
    mini = lookup_price("openai:gpt-4o-mini")
    [f] = what_if(
        [_usage("gpt-4o", "openai", "3.5"), _usage("gpt-4o-mini", "openai", "0.21")],
        lambda p, m: tiers[m],
        "openai:gpt-4o-mini",
        mini.cost,
        "q",
        "USD",
    )
    assert f.numbers["repriced"] == {"amount": "0.21", "currency": "USD"}  # 1M in x 0.15 + 100k out x 0.6
    assert f.numbers["saving"] == {"amount": "3.29", "currency": "USD"}


def test_caching_and_self_hosting_candidates() -> None:
    found = caching_candidates([("rag", "abc123", 500, 900_000), ("rag", "zzz", 5, 10)], "q", 100)
    assert [f.numbers["prefix_hash"] for f in found] == ["abc123"]
    days = [date(2026, 11, 1) + timedelta(days=i) for i in range(10)]
    steady = {d: 12_000_000 for d in days}
    spiky = {days[0]: 120_000_000}
    found = self_hosting_candidates({("bulk", "m"): steady, ("spiky", "m"): spiky}, days, 10_000_000, "q")
    assert [f.scope.key for f in found] == ["bulk"]


def test_model_review_on_the_ledger(engine: Engine) -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    rows = [
        rollup(date(2026, 11, d), "3.5", "triage", model="gpt-4o", tokens=1_000_000, calls=100) for d in range(1, 11)
    ]
    ts = datetime(2026, 11, 20, 9, tzinfo=UTC)
    calls = [call(f"c{i}", f"r{i}", "triage", "classify", "gpt-4o", ts + timedelta(seconds=i)) for i in range(3)]
    insert(engine, *rows, *calls)
    with Session(engine) as session:
        findings = model_review(session, now=now, settings=Settings(batch_workflows=["triage"]))
    rules = {f.rule for f in findings}
    assert {"model_review", "model_review_tiers", "model_review_what_if", "model_review_batch"} <= rules
    tiers = next(f for f in findings if f.rule == "model_review_tiers")
    assert (tiers.numbers["step"], tiers.numbers["tier"], tiers.numbers["calls"]) == (
        "classify",
        "frontier",
        3,
    )
    batch = next(f for f in findings if f.rule == "model_review_batch")
    assert batch.numbers["saving"] == {"amount": "17.5", "currency": "USD"}


def test_unit_economics_in_evaluation(engine: Engine) -> None:
    insert(engine, rollup(date(2026, 11, 2), "400", "chatbot"))
    with Session(engine) as session:
        store.set_feature_revenue(
            session, "", month=date(2026, 11, 1), revenue=D(1000), currency="USD", now=datetime(2026, 11, 2, tzinfo=UTC)
        )
        session.commit()
    result = evaluate(engine, now=datetime(2026, 11, 3, tzinfo=UTC), config=GovernanceConfig())
    [f] = [f for f in result.findings if f.rule == "unit_economics"]
    assert f.level is Level.YELLOW and f.numbers["inference_to_revenue_pct"] == "40.0"
