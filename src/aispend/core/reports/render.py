"""Terminal rendering of report JSON (rich tables). Reads only the documented JSON shape."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from aispend.core.money import format_money


def _money(value: dict[str, str] | None) -> str:
    if not value:
        return "—"
    return format_money(Decimal(value["amount"]), value["currency"])


def _pct(value: str | None, signed: bool = False) -> str:
    if value is None:
        return "new" if signed else "—"
    return f"{'+' if signed and not value.startswith('-') else ''}{value}%"


def _footer(report: dict[str, Any]) -> list[Text]:
    lines = []
    comparison = report.get("comparison")
    if comparison:
        lines.append(Text(f"vs prev: {comparison['label']} (complete days, the same weekdays)", style="dim"))
    else:
        lines.append(Text("vs prev: no comparison yet, the period has no complete day", style="dim"))
    lines.append(Text(f"Spend basis: {report.get('cost_basis', 'billed')} cost (AISPEND_COST_BASIS)", style="dim"))
    unpriced = report["unpriced"]
    if unpriced["calls"]:
        models = ", ".join(f"{m['model']} ({m['calls']:,})" for m in unpriced["models"][:5])
        lines.append(Text(f"Unpriced: {unpriced['calls']:,} calls not in the totals — {models}", style="yellow"))
    if report["zero_cost_calls"]:
        lines.append(Text(f"Flagged: {report['zero_cost_calls']:,} calls with tokens but a cost of 0", style="yellow"))
    for note in report.get("notes", []):
        lines.append(Text(note, style="yellow" if note.startswith("Not included") else "dim"))
    return lines


def render_top(report: dict[str, Any]) -> Group:
    period = report["period"]
    state = "" if period["complete"] else " (to date)"
    totals = ", ".join(_money(t) for t in report["totals"]) or "$0.00"
    title = (
        f"Top {len(report['rows'])} by {report['by']} — {report['period']['kind']} of {period['start']}{state}: "
        f"total {totals}"
    )
    if report.get("total_change_pct") is not None:
        title += f" ({_pct(report['total_change_pct'], signed=True)} vs previous)"
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column(report["by"].capitalize())
    table.add_column("Cost", justify="right")
    table.add_column("vs prev", justify="right")
    table.add_column("Share", justify="right")
    table.add_column("Calls", justify="right")
    if report["by"] == "workflow":
        table.add_column("Runs", justify="right")
        table.add_column("Per run", justify="right")
        table.add_column("Per outcome", justify="right")
        table.add_column("Owner")
    for row in report["rows"]:
        cells = [
            str(row["rank"]),
            row["label"],
            _money(row["cost"]),
            _pct(row["change_pct"], signed=True),
            _pct(row["share_pct"]),
            f"{row['calls']:,}",
        ]
        if report["by"] == "workflow":
            per_outcome = _money(row["cost_per_outcome"])
            if row["cost_per_outcome"] and row["outcome_unit"]:
                per_outcome += f" / {row['outcome_unit']}"
            cells += [f"{row['runs']:,}", _money(row["cost_per_run"]), per_outcome, row["owner"] or "—"]
        table.add_row(*cells)
    parts: list[Any] = [table]
    if report["other"]["count"]:
        others = ", ".join(_money(c) for c in report["other"]["costs"])
        parts.append(Text(f"Other {report['other']['count']} {report['by']}(s): {others}"))
    return Group(*parts, *_footer(report))


def render_spend(report: dict[str, Any]) -> Group:
    totals = ", ".join(_money(t) for t in report["totals"]) or "$0.00"
    table = Table(
        title=f"Spend by {report['by']}, {report['since']} to {report['until']} (exclusive): {totals}",
        title_justify="left",
    )
    for name, justify in (
        (report["by"].capitalize(), "left"),
        ("Cost", "right"),
        ("Share", "right"),
        ("Calls", "right"),
        ("Unpriced calls", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in report["rows"]:
        table.add_row(
            row["label"], _money(row["cost"]), _pct(row["share_pct"]), f"{row['calls']:,}", f"{row['unpriced_calls']:,}"
        )
    return Group(table, *_footer(report))


def render_unit_economics(report: dict[str, Any]) -> Group:
    period = report["period"]
    state = "" if period["complete"] else " (to date)"
    title = (
        f"Unit economics — {report['month']}{state}: AI cost vs AI-product revenue "
        f"(benchmark {report['benchmark_pct']}%, review above {report['review_trigger_pct']}%, "
        f"AI cost at most {report['margin_rule_pct']}% of gross margin)"
    )
    table = Table(title=title, title_justify="left")
    for name, justify in (
        ("Feature", "left"),
        ("AI cost", "right"),
        ("Revenue", "right"),
        ("Cost/revenue", "right"),
        ("Gross margin", "right"),
        ("Of margin", "right"),
        ("Per outcome", "right"),
        ("", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    lines = [(f["feature"], f) for f in report["features"]]
    if report["company"]:
        lines.append(("Company", report["company"]))
    for label, line in lines:
        flag = "; ".join(line["notes"]) or ("above the benchmark" if line["above_benchmark"] else "")
        table.add_row(
            Text(label, style="bold" if label == "Company" else ""),
            _money(line["ai_cost"]),
            _money(line["revenue"]),
            _pct(line["cost_to_revenue_pct"]),
            _money(line["gross_margin"]),
            _pct(line["share_of_gross_margin_pct"]),
            _money(line["cost_per_outcome"]) if line["cost_per_outcome"] else "—",
            Text(flag, style="yellow" if line["level"] != "ok" else "dim"),
        )
    footer = [Text(f"Spend basis: {report.get('cost_basis', 'billed')} cost (AISPEND_COST_BASIS)", style="dim")]
    if not report["features"]:
        footer.append(Text(f"No revenue entered for {report['month']}: aispend ingest revenue FILE", style="yellow"))
    if report["features_without_revenue"]:
        footer.append(
            Text(
                f"Not in the ratios: {_money(report['ai_spend_without_revenue'])} of AI spend on features without "
                f"revenue (of {_money(report['ai_spend'])} in all)",
                style="dim",
            )
        )
    unpriced = report["unpriced"]
    if unpriced["calls"]:
        models = ", ".join(f"{m['model']} ({m['calls']:,})" for m in unpriced["models"][:5])
        footer.append(Text(f"Unpriced: {unpriced['calls']:,} calls not in the AI cost — {models}", style="yellow"))
    for note in report.get("notes", []):
        footer.append(Text(note, style="yellow" if note.startswith("Not included") else "dim"))
    return Group(table, *footer)
