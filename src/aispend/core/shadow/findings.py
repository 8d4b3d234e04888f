"""The month's shadow-AI findings from classified expense lines. Pure: rows and rules in, a report out.

Every amount is in the company currency (rows carry company_amount). Refunds net, data duplicates
are dropped (and listed), annual plans are spread over 12 months for the run rate, card
foreign-transaction fees are kept apart.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TypeVar

from aispend.core.money import percent
from aispend.core.shadow.catalog import Vendor
from aispend.core.shadow.classify import Classified
from aispend.core.shadow.expense import KIND_CHARGE, KIND_FX_FEE
from aispend.core.shadow.matcher import Matcher
from aispend.core.timeutil import next_month

NEW_VENDOR = "new_vendor"
CONSOLIDATION = "consolidation"
DUPLICATE_SUBSCRIPTION = "duplicate_subscription"
FUNCTIONAL_OVERLAP = "functional_overlap"
SPEND_SPIKE = "spend_spike"
OUTSIDE_PROCUREMENT = "sanctioned_outside_procurement"
DATA_DUPLICATE = "data_duplicate"

_ANNUAL_WORDS = re.compile(r"\b(annual|annually|yearly|per year|12 months|1 year)\b", re.I)
_TEAM_WORDS = re.compile(r"\b(team|business|enterprise|seats)\b", re.I)
_CENT = Decimal("0.01")
K = TypeVar("K")


@dataclass(frozen=True)
class Rules:
    """Thresholds (each a setting, defaults documented in docs/shadow.md)."""

    new_vendor_lookback_days: int = 180
    consolidation_min_people: int = 3
    consolidation_saving_percent: Decimal = Decimal(20)
    overlap_min_tools: int = 2
    spike_ratio: Decimal = Decimal(2)
    spike_min_increase: Decimal = Decimal(100)
    spike_baseline_months: int = 3
    min_group_size: int = 5

    @property
    def history_days(self) -> int:
        """How far back the rules look before the month (the loader reads this much)."""
        return max(self.new_vendor_lookback_days, 31 * self.spike_baseline_months)


@dataclass(frozen=True)
class Evidence:
    key: str  # source:natural_key (or file:row when scanning)
    day: date
    person: str
    team: str
    descriptor: str
    memo: str
    amount: Decimal
    currency: str
    company_amount: Decimal
    vendor: str
    reason: str

    def as_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "day": self.day.isoformat(),
            "person": self.person,
            "team": self.team,
            "descriptor": self.descriptor,
            "memo": self.memo,
            "amount": _s(self.amount),
            "currency": self.currency,
            "company_amount": _s(self.company_amount),
            "vendor": self.vendor,
            "reason": self.reason,
        }


@dataclass
class Finding:
    kind: str
    title: str
    amount: Decimal | None = None  # the money at stake, company currency
    saving: Decimal | None = None  # estimated monthly saving
    vendor: str = ""
    team: str = ""
    person: str = ""  # set only on per-person findings
    people: int = 0
    evidence: list[Evidence] = field(default_factory=list)

    def as_json(self, with_people: bool = True) -> dict[str, object]:
        data: dict[str, object] = {
            "kind": self.kind,
            "title": self.title,
            "vendor": self.vendor,
            "team": self.team,
            "people": self.people,
            "amount": _s(self.amount) if self.amount is not None else None,
            "saving": _s(self.saving) if self.saving is not None else None,
        }
        if with_people:
            data["person"] = self.person
            data["evidence"] = [e.as_json() for e in self.evidence]
        return data


@dataclass
class Spend:
    net: Decimal = Decimal(0)
    run_rate: Decimal = Decimal(0)
    lines: int = 0
    people: set[str] = field(default_factory=set)

    def add(self, amount: Decimal, run_rate: Decimal, person: str) -> None:
        self.net += amount
        self.run_rate += run_rate
        self.lines += 1
        if person:
            self.people.add(person)


@dataclass
class ShadowReport:
    month: date
    currency: str
    findings: list[Finding]
    by_vendor: dict[str, Spend]
    by_team: dict[str, Spend]
    by_person: dict[str, Spend]
    ai_total: Decimal
    all_total: Decimal
    fx_fees_total: Decimal
    needs_review: list[Evidence]
    vendor_names: dict[str, str] = field(default_factory=dict)

    @property
    def ai_share_percent(self) -> Decimal | None:
        return percent(self.ai_total, self.all_total)


def month_report(rows: list[Classified], month: date, matcher: Matcher, rules: Rules, currency: str) -> ShadowReport:
    month = month.replace(day=1)
    end = next_month(month)
    counted = [c for c in rows if c.counts]
    in_month = [c for c in counted if month <= c.row.day < end]
    ai = [c for c in in_month if c.verdict.is_ai and c.row.kind != KIND_FX_FEE]

    by_vendor: dict[str, Spend] = defaultdict(Spend)
    by_team: dict[str, Spend] = defaultdict(Spend)
    by_person: dict[str, Spend] = defaultdict(Spend)
    for c in ai:
        amount, run_rate = _amount(c), _run_rate(c, matcher)
        person = _person(c)
        by_vendor[c.verdict.vendor or ""].add(amount, run_rate, person)
        by_team[c.row.department].add(amount, run_rate, person)
        by_person[person].add(amount, run_rate, person)

    findings: list[Finding] = []
    findings += _new_vendors(ai, counted, month, matcher, rules)
    findings += _consolidation(ai, matcher, rules, currency)
    findings += _duplicate_subscriptions(ai, rows, matcher)
    findings += _overlap(ai, matcher, rules)
    findings += _spikes(ai, counted, month, matcher, rules)
    findings += _outside_procurement(ai, matcher)
    findings += _data_duplicates([c for c in rows if not c.counts and month <= c.row.day < end], matcher)

    return ShadowReport(
        month=month,
        currency=currency,
        findings=findings,
        by_vendor=dict(by_vendor),
        by_team=dict(by_team),
        by_person=dict(by_person),
        ai_total=sum((_amount(c) for c in ai), Decimal(0)),
        all_total=sum((_amount(c) for c in in_month), Decimal(0)),
        fx_fees_total=sum((_amount(c) for c in in_month if c.row.kind == KIND_FX_FEE), Decimal(0)),
        needs_review=[_evidence(c, matcher) for c in in_month if c.verdict.needs_review],
        vendor_names={v.id: v.name for v in matcher.catalog.vendors.values()},
    )


def _s(amount: Decimal) -> str:
    return format(amount.quantize(_CENT, rounding=ROUND_HALF_EVEN), "f")


def _amount(c: Classified) -> Decimal:
    assert c.row.company_amount is not None, "rows must be converted to the company currency first"
    return c.row.company_amount


def _person(c: Classified) -> str:
    return c.row.email or c.row.employee


def _is_annual(c: Classified, vendor: Vendor | None) -> bool:
    if _ANNUAL_WORDS.search(c.row.memo):
        return True
    if vendor is None:
        return False
    size = abs(c.row.amount)
    return any(p.period == "year" and p.currency == c.row.currency and p.price == size for p in vendor.plans)


def _run_rate(c: Classified, matcher: Matcher) -> Decimal:
    vendor = matcher.catalog.vendors.get(c.verdict.vendor or "")
    return _amount(c) / 12 if _is_annual(c, vendor) else _amount(c)


def _evidence(c: Classified, matcher: Matcher) -> Evidence:
    vendor = matcher.catalog.vendors.get(c.verdict.vendor or "")
    return Evidence(
        key=f"{c.row.source}:{c.row.natural_key}",
        day=c.row.day,
        person=_person(c),
        team=c.row.department,
        descriptor=c.row.descriptor,
        memo=c.row.memo,
        amount=c.row.amount,
        currency=c.row.currency,
        company_amount=c.row.company_amount if c.row.company_amount is not None else c.row.amount,
        vendor=vendor.name if vendor else "",
        reason=c.duplicate_reason or c.verdict.reason,
    )


def _both_rows(duplicate: Classified, matcher: Matcher) -> list[Evidence]:
    """A data duplicate's own line (not counted) and the line it repeats (counted), side by side."""
    assert duplicate.duplicate_of is not None
    first = _evidence(duplicate, matcher)
    original = replace(
        _evidence(Classified(row=duplicate.duplicate_of, verdict=duplicate.verdict), matcher),
        reason=f"counted once: the line {first.key} repeats",
    )
    return [replace(first, reason=f"not counted: {first.reason}; repeats {original.key}"), original]


def _name(matcher: Matcher, vendor_id: str) -> str:
    vendor = matcher.catalog.vendors.get(vendor_id)
    return vendor.name if vendor else vendor_id


def _group(rows: list[Classified], key: Callable[[Classified], K]) -> dict[K, list[Classified]]:
    groups: dict[K, list[Classified]] = defaultdict(list)
    for c in rows:
        groups[key(c)].append(c)
    return groups


def _new_vendors(
    ai: list[Classified], counted: list[Classified], month: date, matcher: Matcher, rules: Rules
) -> list[Finding]:
    since = month - timedelta(days=rules.new_vendor_lookback_days)
    seen_before = {
        c.verdict.vendor
        for c in counted
        if c.verdict.is_ai and since <= c.row.day < month and c.row.kind != KIND_FX_FEE
    }
    findings = []
    for vendor_id, lines in sorted(_group(ai, lambda c: c.verdict.vendor or "").items(), key=lambda kv: kv[0]):
        charges = [c for c in lines if c.row.kind == KIND_CHARGE]
        if vendor_id in seen_before or not charges:
            continue
        first = min(charges, key=lambda c: c.row.day)
        findings.append(
            Finding(
                kind=NEW_VENDOR,
                vendor=vendor_id,
                title=f"New AI vendor {_name(matcher, vendor_id)}: first charge {first.row.day.isoformat()}, "
                f"none in the prior {rules.new_vendor_lookback_days} days",
                amount=sum((_amount(c) for c in lines), Decimal(0)),
                people=len({_person(c) for c in lines if _person(c)}),
                evidence=[_evidence(c, matcher) for c in lines],
            )
        )
    return findings


def _consolidation(ai: list[Classified], matcher: Matcher, rules: Rules, currency: str) -> list[Finding]:
    findings = []
    for vendor_id, lines in sorted(_group(ai, lambda c: c.verdict.vendor or "").items(), key=lambda kv: kv[0]):
        vendor = matcher.catalog.vendors.get(vendor_id)
        if vendor is None:
            continue
        team_lines = {id(c) for c in lines if _TEAM_WORDS.search(c.row.memo)}
        individual: dict[str, Decimal] = defaultdict(lambda: Decimal(0))
        for c in lines:
            if id(c) not in team_lines and _person(c):
                individual[_person(c)] += _run_rate(c, matcher)
        payers = {p: amount for p, amount in individual.items() if amount > 0}
        has_team_plan = bool(team_lines) or vendor.sanctioned
        if len(payers) < rules.consolidation_min_people and not (has_team_plan and payers):
            continue
        total = sum(payers.values(), Decimal(0))
        seat = vendor.team_seat_price()
        if seat is not None and seat.currency == currency:
            saving = max(Decimal(0), total - seat.price * len(payers))
            basis = f"vs {len(payers)} seat(s) of {seat.name} at {seat.price} {seat.currency}"
        else:
            saving = total * rules.consolidation_saving_percent / 100
            basis = f"at the assumed {rules.consolidation_saving_percent}% team-plan discount"
        why = "a team plan already exists" if has_team_plan else f"{len(payers)} people pay individually"
        findings.append(
            Finding(
                kind=CONSOLIDATION,
                vendor=vendor.id,
                amount=total,
                saving=saving,
                people=len(payers),
                title=f"Consolidate {vendor.name}: {why} "
                f"({total.quantize(_CENT)} {currency}/month run rate); "
                f"estimated saving {saving.quantize(_CENT)} {currency}/month {basis}",
                evidence=[_evidence(c, matcher) for c in lines if _person(c) in payers and id(c) not in team_lines],
            )
        )
    return findings


def _duplicate_subscriptions(ai: list[Classified], rows: list[Classified], matcher: Matcher) -> list[Finding]:
    refunded = {id(c.refund_of) for c in rows if c.refund_of is not None and c.counts}
    charges = [c for c in ai if c.row.kind == KIND_CHARGE and id(c.row) not in refunded and _person(c)]
    findings = []
    groups = _group(charges, lambda c: (_person(c), c.verdict.vendor or ""))
    for (person, vendor_id), lines in sorted(groups.items(), key=lambda kv: kv[0]):
        if len(lines) < 2:
            continue
        findings.append(
            Finding(
                kind=DUPLICATE_SUBSCRIPTION,
                vendor=vendor_id,
                person=person,
                team=lines[0].row.department,
                people=1,
                title=f"{person} pays {_name(matcher, vendor_id)} {len(lines)} times this month (two plans?)",
                amount=sum((_amount(c) for c in lines), Decimal(0)),
                evidence=[_evidence(c, matcher) for c in lines],
            )
        )
    return findings


def _overlap(ai: list[Classified], matcher: Matcher, rules: Rules) -> list[Finding]:
    findings = []
    groups = _group([c for c in ai if c.row.department], lambda c: (c.row.department, c.verdict.category or ""))
    for (team, category), lines in sorted(groups.items(), key=lambda kv: kv[0]):
        vendors = sorted({c.verdict.vendor or "" for c in lines})
        if len(vendors) < rules.overlap_min_tools:
            continue
        names = ", ".join(_name(matcher, v) for v in vendors)
        findings.append(
            Finding(
                kind=FUNCTIONAL_OVERLAP,
                team=team,
                people=len({_person(c) for c in lines if _person(c)}),
                title=f"Team {team} pays for {len(vendors)} {category} tools: {names}",
                amount=sum((_amount(c) for c in lines), Decimal(0)),
                evidence=[_evidence(c, matcher) for c in lines],
            )
        )
    return findings


def _spikes(
    ai: list[Classified], counted: list[Classified], month: date, matcher: Matcher, rules: Rules
) -> list[Finding]:
    starts = [month]
    for _ in range(rules.spike_baseline_months):
        starts.append((starts[-1] - timedelta(days=1)).replace(day=1))
    baseline_start = starts[-1]
    history: dict[str, Decimal] = defaultdict(lambda: Decimal(0))
    for c in counted:
        if c.verdict.is_ai and c.row.kind != KIND_FX_FEE and baseline_start <= c.row.day < month:
            history[c.verdict.vendor or ""] += _run_rate(c, matcher)
    findings = []
    for vendor_id, lines in sorted(_group(ai, lambda c: c.verdict.vendor or "").items(), key=lambda kv: kv[0]):
        now = sum((_run_rate(c, matcher) for c in lines), Decimal(0))
        baseline = history.get(vendor_id, Decimal(0)) / rules.spike_baseline_months
        if baseline <= 0 or now < baseline * rules.spike_ratio or now - baseline < rules.spike_min_increase:
            continue
        findings.append(
            Finding(
                kind=SPEND_SPIKE,
                vendor=vendor_id,
                amount=now,
                people=len({_person(c) for c in lines if _person(c)}),
                title=f"{_name(matcher, vendor_id)} spend {now.quantize(_CENT)} this month vs "
                f"{baseline.quantize(_CENT)} average over the prior {rules.spike_baseline_months} months",
                evidence=[_evidence(c, matcher) for c in lines],
            )
        )
    return findings


def _outside_procurement(ai: list[Classified], matcher: Matcher) -> list[Finding]:
    findings = []
    for vendor_id, lines in sorted(_group(ai, lambda c: c.verdict.vendor or "").items(), key=lambda kv: kv[0]):
        vendor = matcher.catalog.vendors.get(vendor_id)
        if vendor is None or not vendor.sanctioned:
            continue
        findings.append(
            Finding(
                kind=OUTSIDE_PROCUREMENT,
                vendor=vendor.id,
                amount=sum((_amount(c) for c in lines), Decimal(0)),
                people=len({_person(c) for c in lines if _person(c)}),
                title=f"{vendor.name} is a sanctioned tool, bought on cards/expenses outside procurement",
                evidence=[_evidence(c, matcher) for c in lines],
            )
        )
    return findings


def _data_duplicates(duplicates: list[Classified], matcher: Matcher) -> list[Finding]:
    if not duplicates:
        return []
    return [
        Finding(
            kind=DATA_DUPLICATE,
            amount=sum((_amount(c) for c in duplicates), Decimal(0)),
            people=len({_person(c) for c in duplicates if _person(c)}),
            title=f"{len(duplicates)} data duplicate line(s) counted once "
            "(same id, or claimed on card and again "
            "out of pocket)",
            evidence=[e for c in duplicates for e in _both_rows(c, matcher)],
        )
    ]
