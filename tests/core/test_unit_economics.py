"""Unit economics without a database: the rule's lines, the report's cost per outcome, the CSV reader."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from aispend.connectors.files.revenue import parse_revenue
from aispend.core.ledger.queries import WorkflowInfo
from aispend.core.reports.periods import Period
from aispend.core.reports.unit_economics import Outcomes, build_unit_economics_report
from aispend.core.rules.findings import Level
from aispend.core.rules.unit_economics import FeatureRevenue, assess

NOV = Period("month", date(2026, 11, 1), date(2026, 12, 1), complete=True)
LIMIT = D(10) ** 26


def test_the_seed_ratio_and_the_company_over_ai_product_revenue_only() -> None:
    features, company = assess(
        {"assistant": D(230_000), "copilot": D(3_700), "internal": D(9_999)},
        {
            "assistant": FeatureRevenue(D(1_000_000), None, "USD"),
            "copilot": FeatureRevenue(D(100_000), D(10_000), "USD"),
        },
        "USD",
    )
    assistant, copilot = features
    assert (assistant.ratio_pct, assistant.level, assistant.above_benchmark) == (D("23.0"), Level.OK, False)
    assert assistant.margin_share_pct is None  # no gross margin given: the 10% rule cannot be judged
    assert (copilot.margin_share_pct, copilot.above_margin_rule, copilot.level) == (D("37.0"), True, Level.YELLOW)
    assert company is not None
    assert (company.cost, company.revenue) == (D(233_700), D(1_100_000))  # "internal" earns nothing: left out
    assert company.gross_margin is None  # not known for every feature


def test_above_the_review_trigger_and_no_revenue() -> None:
    [line], company = assess({"chat": D(301)}, {"chat": FeatureRevenue(D(1000), D(900), "USD")}, "USD")
    assert line.above_review_trigger and line.notes[0] == "above the 30% review trigger"
    assert company is not None and company.above_review_trigger
    assert assess({}, {}, "USD") == ([], None)
    [free], _ = assess({"chat": D(5)}, {"chat": FeatureRevenue(D(0), D(0), "USD")}, "USD")
    assert (free.ratio_pct, free.margin_share_pct, free.level) == (None, None, Level.OK)


def _report(cost: dict[tuple[str, str], D], outcomes: dict[str, int], units: dict[str, str]) -> dict[str, object]:
    revenue = {f: FeatureRevenue(D(1000), D(500), "USD") for f, _ in cost}
    by_feature: dict[str, D] = {}
    for (f, _w), amount in cost.items():
        by_feature[f] = by_feature.get(f, D(0)) + amount
    features, company = assess(by_feature, revenue, "USD")
    info = {w: WorkflowInfo(w, "", "", "", unit) for w, unit in units.items()}
    return build_unit_economics_report(
        period=NOV,
        currency="USD",
        features=features,
        company=company,
        outcomes=Outcomes(cost, outcomes, info),
    )


@pytest.mark.parametrize(
    ("cost", "outcomes", "units", "per_outcome", "missing"),
    [
        ({("a", "w1"): D(10)}, {"w1": 4}, {"w1": "ticket"}, {"amount": "2.5", "currency": "USD"}, None),
        ({("a", "w1"): D(10), ("b", "w1"): D(5)}, {"w1": 4}, {}, None, "workflow w1 also serves other features"),
        ({("a", ""): D(10)}, {}, {}, None, "part of the cost has no workflow"),
        (
            {("a", "w1"): D(10), ("a", "w2"): D(5)},
            {"w1": 1, "w2": 1},
            {"w1": "ticket", "w2": "lead"},
            None,
            "the workflows count different outcomes (lead, ticket)",
        ),
    ],
)
def test_cost_per_outcome_only_where_it_means_something(
    cost: dict[tuple[str, str], D],
    outcomes: dict[str, int],
    units: dict[str, str],
    per_outcome: dict[str, str] | None,
    missing: str | None,
) -> None:
    report = _report(cost, outcomes, units)
    [feature, *_] = report["features"]  # type: ignore[misc]
    assert (feature["cost_per_outcome"], feature["cost_per_outcome_missing"]) == (per_outcome, missing)


def test_the_workflow_line_gives_its_own_cost_per_outcome() -> None:
    report = _report({("a", "w1"): D(10), ("b", "w1"): D(5)}, {"w1": 3}, {"w1": "ticket"})
    [first, second] = report["features"]  # type: ignore[misc]
    assert first["workflows"][0]["ai_cost"] == {"amount": "10", "currency": "USD"}
    assert first["workflows"][0]["cost_per_outcome"] == {"amount": "5", "currency": "USD"}  # 15 / 3
    assert second["workflows"][0]["workflow_ai_cost"] == {"amount": "15", "currency": "USD"}


def _parse(tmp_path: Path, text: str, limit: D = LIMIT) -> tuple[list[str], list[tuple[object, ...]]]:
    path = tmp_path / "r.csv"
    path.write_bytes(text.encode("utf-8"))
    result = parse_revenue(path, "USD", limit)
    return [str(r) for r in result.rejections], [
        (f.month, f.feature, f.customer, f.revenue, f.gross_margin, f.currency) for f in result.figures
    ]


def test_header_names_in_any_case_and_order_with_other_columns(tmp_path: Path) -> None:
    errors, rows = _parse(
        tmp_path,
        "Currency,Notes,Gross Margin,Revenue,Feature,Period\r\nEUR,x,40,100,chat,2026-02\r\n,,1,2,chat,2026-03",
    )
    assert errors == []
    assert rows == [
        (date(2026, 2, 1), "chat", "", D(100), D(40), "EUR"),
        (date(2026, 3, 1), "chat", "", D(2), D(1), "USD"),  # no currency: the company's
    ]


def test_gross_margin_and_cogs_must_agree(tmp_path: Path) -> None:
    header = "period,feature,revenue,gross_margin,cogs\n"
    errors, rows = _parse(tmp_path, header + "2026-02,a,100,40,60\n2026-02,b,100,50,60\n2026-02,c,100,,-1\n")
    assert [r[1] for r in rows] == ["a"]
    assert errors == [
        "r.csv:3: gross_margin '50': is not revenue - cogs (40): give one of them",
        "r.csv:4: cogs '-1': negative: cost of goods sold is a cost",
    ]


def test_what_the_database_cannot_store_and_text_it_cannot_hold(tmp_path: Path) -> None:
    text = "period,feature,revenue,gross_margin\n2026-02,a,10000000,1\n2026-02,b\x00,1,1\n2026-02,c,1,2\n"
    errors, rows = _parse(tmp_path, text, limit=D("9223372.036854775808"))
    assert rows == []
    assert errors == [
        "r.csv:2: revenue '10000000': beyond what the ledger can store (below 9,223,372)",
        "r.csv:3: column 'feature' contains a NUL character",
        "r.csv:4: gross_margin '2': more than the revenue (1): it is revenue - cogs",
    ]
