"""Render a ShadowReport for an audience. Pure.

Privacy: per-person lines (names, evidence rows, per-person spend) only for finance admins. The
general audience sees teams only, and a team with fewer people than the minimum group size is folded
into "(small teams)" so that nobody's spend can be read off a one-person team.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from aispend.core.money import format_money
from aispend.core.shadow.findings import DUPLICATE_SUBSCRIPTION, Finding, ShadowReport, Spend

FINANCE = "finance"
GENERAL = "general"
AUDIENCES = (FINANCE, GENERAL)
SMALL_TEAMS = "(small teams)"
UNATTRIBUTED_TEAM = "(no team)"
_CENT = Decimal("0.01")


def _s(amount: Decimal) -> str:
    return format(amount.quantize(_CENT, rounding=ROUND_HALF_EVEN), "f")


def audience_for(
    user_id: str | None, channel_id: str | None, finance_admins: list[str], finance_channel: str | None
) -> str:
    """Finance only for a configured admin, or in the configured finance channel; everyone else: general."""
    if user_id and user_id in finance_admins:
        return FINANCE
    if channel_id and finance_channel and channel_id == finance_channel:
        return FINANCE
    return GENERAL


def visible(finding: Finding, audience: str, min_group_size: int) -> bool:
    """Finance sees everything; others never see a person, or a team smaller than the minimum group."""
    if audience == FINANCE:
        return True
    if finding.kind == DUPLICATE_SUBSCRIPTION or finding.person:
        return False
    return not (finding.team and finding.people < min_group_size)


def teams_for_audience(report: ShadowReport, audience: str, min_group_size: int) -> dict[str, Spend]:
    if audience == FINANCE:
        return dict(report.by_team)
    folded: dict[str, Spend] = {}
    for team, spend in report.by_team.items():
        name = team or UNATTRIBUTED_TEAM
        if len(spend.people) < min_group_size:
            name = SMALL_TEAMS
        target = folded.setdefault(name, Spend())
        target.net += spend.net
        target.run_rate += spend.run_rate
        target.lines += spend.lines
        target.people |= spend.people
    return folded


def report_json(report: ShadowReport, audience: str, min_group_size: int) -> dict[str, object]:
    finance = audience == FINANCE
    findings: list[dict[str, object]] = [
        f.as_json(with_people=finance) for f in report.findings if visible(f, audience, min_group_size)
    ]
    withheld = len(report.findings) - len(findings)
    if withheld:
        findings.append(
            {
                "kind": "withheld",
                "title": f"{withheld} finding(s) about individuals or small teams (finance admins only)",
                "count": withheld,
            }
        )
    data: dict[str, object] = {
        "month": report.month.strftime("%Y-%m"),
        "audience": audience,
        "currency": report.currency,
        "ai_total": _s(report.ai_total),
        "all_expense_total": _s(report.all_total),
        "ai_share_percent": str(report.ai_share_percent) if report.ai_share_percent is not None else None,
        "fx_fees_total": _s(report.fx_fees_total),
        "by_vendor": [
            {
                "vendor": v,
                "name": report.vendor_names.get(v, v),
                "net": _s(s.net),
                "run_rate": _s(s.run_rate),
                "people": len(s.people),
                "lines": s.lines,
            }
            for v, s in sorted(report.by_vendor.items(), key=lambda kv: -kv[1].net)
        ],
        "by_team": [
            {
                "team": t or UNATTRIBUTED_TEAM,
                "net": _s(s.net),
                "run_rate": _s(s.run_rate),
                "people": len(s.people),
            }
            for t, s in sorted(teams_for_audience(report, audience, min_group_size).items(), key=lambda kv: -kv[1].net)
        ],
        "findings": findings,
        "needs_review": len(report.needs_review),
    }
    if finance:
        data["by_person"] = [
            {"person": p or "(unknown)", "net": _s(s.net), "run_rate": _s(s.run_rate), "lines": s.lines}
            for p, s in sorted(report.by_person.items(), key=lambda kv: -kv[1].net)
        ]
        data["needs_review"] = [e.as_json() for e in report.needs_review]
    return data


def report_text(report: ShadowReport, audience: str, min_group_size: int) -> str:
    cur = report.currency
    share = report.ai_share_percent
    lines = [
        f"Shadow AI — {report.month.strftime('%Y-%m')} ({audience})",
        f"AI spend on cards and expenses: {format_money(report.ai_total, cur)} of "
        f"{format_money(report.all_total, cur)} ({share if share is not None else '-'}%); "
        f"foreign-transaction fees {format_money(report.fx_fees_total, cur)}",
        "",
        "By vendor:",
    ]
    for vendor, spend in sorted(report.by_vendor.items(), key=lambda kv: -kv[1].net):
        lines.append(
            f"  {report.vendor_names.get(vendor, vendor):<28} {format_money(spend.net, cur):>12}  "
            f"run rate {format_money(spend.run_rate, cur)}/mo  {len(spend.people)} people"
        )
    lines.append("By team:")
    for team, spend in sorted(teams_for_audience(report, audience, min_group_size).items(), key=lambda kv: -kv[1].net):
        lines.append(f"  {team or UNATTRIBUTED_TEAM:<28} {format_money(spend.net, cur):>12}")
    if audience == FINANCE:
        lines.append("By person:")
        for person, spend in sorted(report.by_person.items(), key=lambda kv: -kv[1].net):
            lines.append(f"  {person or '(unknown)':<28} {format_money(spend.net, cur):>12}")
    lines.append("")
    shown = [f for f in report.findings if visible(f, audience, min_group_size)]
    lines.append(f"Findings ({len(shown)}):")
    for finding in shown:
        lines.append(f"- [{finding.kind}] {finding.title}")
        if audience == FINANCE:
            for e in finding.evidence:
                lines.append(
                    f"    {e.day.isoformat()} {e.person or '-'} {e.descriptor!r} {_s(e.amount)} {e.currency} ({e.key})"
                )
    if len(shown) < len(report.findings):
        withheld = len(report.findings) - len(shown)
        lines.append(f"- {withheld} finding(s) about individuals or small teams (finance admins only)")
    lines.append(f"Needs review: {len(report.needs_review)} line(s) look like AI but match no vendor")
    if audience == FINANCE:
        for e in report.needs_review:
            lines.append(
                f"    {e.day.isoformat()} {e.person or '-'} {e.descriptor!r} {_s(e.amount)} {e.currency}: {e.reason}"
            )
    return "\n".join(lines)
