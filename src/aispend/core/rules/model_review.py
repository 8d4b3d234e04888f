"""Model review for the quarterly job: where a cheaper model, caching, batching or self-hosting would pay.

Everything here is a report (INFO findings): it feeds a human review, not an alert.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from aispend.core.money import format_money
from aispend.core.rules.findings import COMPANY, Finding, Level, Scope, money

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class ModelUsage:
    workflow: str
    step: str  # "" when only rollups are available
    provider: str
    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cost: Decimal
    currency: str


Pricer = Callable[[int, int, int], Decimal]  # (input, output, cache read tokens) -> cost


def tier_table(
    usage: Iterable[ModelUsage], tier_of: Callable[[str, str], str], period: str, currency: str
) -> list[Finding]:
    """Cost and calls per model tier per workflow and step."""
    table: dict[tuple[str, str, str], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for u in usage:
        key = (u.workflow, u.step, tier_of(u.provider, u.model))
        table[key][0] += u.cost
        table[key][1] += u.calls
    out = []
    for (workflow, step, tier), (cost, calls) in sorted(table.items()):
        where = f"workflow {workflow or '(unattributed)'}" + (f", step {step}" if step else "")
        out.append(
            Finding(
                "model_review_tiers",
                Scope("workflow", workflow),
                period,
                Level.INFO,
                f"{where}: {tier} models {format_money(cost, currency)} over {int(calls):,} calls",
                {"step": step, "tier": tier, "cost": money(cost, currency), "calls": int(calls)},
            )
        )
    return out


def what_if(
    usage: Iterable[ModelUsage],
    tier_of: Callable[[str, str], str],
    cheaper: str,
    price_cheaper: Pricer,
    period: str,
    currency: str,
) -> list[Finding]:
    """Re-price the real token mix of frontier-tier usage on the configured cheaper model, per workflow."""
    actual: dict[str, Decimal] = defaultdict(lambda: ZERO)
    repriced: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for u in usage:
        if tier_of(u.provider, u.model) != "frontier":
            continue
        actual[u.workflow] += u.cost
        repriced[u.workflow] += price_cheaper(u.input_tokens, u.output_tokens, u.cache_read_tokens)
    out = []
    for workflow in sorted(actual, key=lambda w: -(actual[w] - repriced[w])):
        saving = actual[workflow] - repriced[workflow]
        out.append(
            Finding(
                "model_review_what_if",
                Scope("workflow", workflow),
                period,
                Level.INFO,
                f"workflow {workflow or '(unattributed)'}: frontier calls cost "
                f"{format_money(actual[workflow], currency)}; the same tokens on {cheaper} would cost "
                f"{format_money(repriced[workflow], currency)} (saving {format_money(saving, currency)})",
                {
                    "model": cheaper,
                    "actual": money(actual[workflow], currency),
                    "repriced": money(repriced[workflow], currency),
                    "saving": money(saving, currency),
                },
            )
        )
    return out


def caching_candidates(repeats: Sequence[tuple[str, str, int, int]], period: str, min_calls: int) -> list[Finding]:
    """Prompt prefixes repeated at least `min_calls` times: (workflow, hash, calls, uncached tokens)."""
    out = []
    for workflow, prefix, calls, fresh_tokens in sorted(repeats, key=lambda r: (-r[3], r[0], r[1])):
        if calls < min_calls:
            continue
        out.append(
            Finding(
                "model_review_caching",
                Scope("workflow", workflow),
                period,
                Level.INFO,
                f"workflow {workflow or '(unattributed)'}: prompt prefix {prefix[:12]} repeated "
                f"{calls:,} times with {fresh_tokens:,} uncached input tokens: a prompt-caching candidate",
                {"prefix_hash": prefix, "calls": calls, "uncached_input_tokens": fresh_tokens},
            )
        )
    return out


def batch_candidates(
    cost_by_workflow: Mapping[str, Decimal],
    batch_workflows: Iterable[str],
    discount_pct: Decimal,
    period: str,
    currency: str,
) -> list[Finding]:
    out = []
    for workflow in sorted(set(batch_workflows)):
        cost = cost_by_workflow.get(workflow, ZERO)
        saving = cost * discount_pct / 100
        out.append(
            Finding(
                "model_review_batch",
                Scope("workflow", workflow),
                period,
                Level.INFO,
                f"workflow {workflow}: latency-insensitive, {format_money(cost, currency)} this quarter; "
                f"a batch API at {discount_pct}% off would save {format_money(saving, currency)}",
                {
                    "cost": money(cost, currency),
                    "discount_pct": str(discount_pct),
                    "saving": money(saving, currency),
                },
            )
        )
    return out


def self_hosting_candidates(
    daily_tokens: Mapping[tuple[str, str], Mapping[date, int]],
    days: Sequence[date],
    min_tokens_per_day: int,
    period: str,
) -> list[Finding]:
    """(workflow, model) with a steady volume above the limit every day (coefficient of variation < 0.5)."""
    out = []
    for (workflow, model), by_day in sorted(daily_tokens.items()):
        series = [by_day.get(d, 0) for d in days]
        if not series:
            continue
        mean = statistics.fmean(series)
        steady = mean > 0 and statistics.pstdev(series) / mean < 0.5
        if mean >= min_tokens_per_day and steady:
            out.append(
                Finding(
                    "model_review_self_host",
                    Scope("workflow", workflow),
                    period,
                    Level.INFO,
                    f"workflow {workflow or '(unattributed)'} on {model}: a steady {mean:,.0f} tokens a "
                    f"day (over {min_tokens_per_day:,}): worth an on-premises / dedicated-GPU comparison",
                    {"model": model, "tokens_per_day": round(mean), "days": len(series)},
                )
            )
    return out


def review_summary(findings: Sequence[Finding], period: str, currency: str) -> Finding:
    savings = sum(
        (
            Decimal(f.numbers["saving"]["amount"])
            for f in findings
            if f.rule in ("model_review_what_if", "model_review_batch")
        ),
        ZERO,
    )
    return Finding(
        "model_review",
        COMPANY,
        period,
        Level.INFO,
        f"model review {period}: up to {format_money(savings, currency)} in identified savings",
        {"identified_savings": money(savings, currency)},
    )
