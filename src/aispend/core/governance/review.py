"""The quarterly model review: ledger reads and genai-prices at the edge; the rules are pure."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlmodel import Session

from aispend.core.governance import queries
from aispend.core.pricing import ModelPrice, price_book
from aispend.core.rules import model_review as mr
from aispend.core.rules.findings import Finding
from aispend.core.rules.periods import period_of
from aispend.core.settings import Settings
from aispend.core.timeutil import as_utc, start_of_day

QUARTER_DAYS = 91
CACHE_MIN_CALLS = 100


def _quarter_label(start: date, end: date) -> str:
    return f"{start.isoformat()}..{(end - timedelta(days=1)).isoformat()}"


def model_review(session: Session, *, now: datetime, settings: Settings) -> list[Finding]:
    """Review the last quarter (91 days up to yesterday) of real usage."""
    today = as_utc(now).date()
    end = today
    start = end - timedelta(days=QUARTER_DAYS)
    label = _quarter_label(start, end)
    currency = settings.currency
    prices: dict[tuple[str, str], ModelPrice | None] = {}
    book = price_book(settings)  # the company's own models keep their custom prices here too

    def tier_of(provider: str, model: str) -> str:
        if (provider, model) not in prices:
            prices[(provider, model)] = book.try_model_price(f"{provider}:{model}" if provider else model, now)
        price = prices[(provider, model)]
        return price.tier if price else "unknown"

    cheap = book.model_price(settings.review_small_model, now)
    rollup = queries.logged_rows(session, windows=[(start, end)], dims=["workflow", "provider", "model"], by_day=False)
    usage = [
        mr.ModelUsage(
            r.workflow,
            "",
            r.provider,
            r.model,
            r.calls,
            r.input_tokens,
            r.output_tokens,
            r.cache_read_tokens,
            r.cost,
            r.currency,
        )
        for r in rollup
    ]
    steps = queries.step_usage(session, start=start_of_day(start), end=start_of_day(end))
    findings = mr.tier_table(steps or usage, tier_of, label, currency)
    findings += mr.what_if(usage, tier_of, f"{cheap.provider}:{cheap.model}", cheap.cost, label, currency)
    repeats = queries.prefix_repeats(
        session, start=start_of_day(start), end=start_of_day(end), min_calls=CACHE_MIN_CALLS
    )
    findings += mr.caching_candidates(repeats, label, CACHE_MIN_CALLS)
    cost_by_workflow: dict[str, Decimal] = defaultdict(Decimal)
    for u in usage:
        cost_by_workflow[u.workflow] += u.cost
    findings += mr.batch_candidates(
        cost_by_workflow, settings.batch_workflows, settings.batch_discount_pct, label, currency
    )
    recent = period_of("day", today - timedelta(days=30)).start
    daily = queries.logged_rows(session, windows=[(recent, end)], dims=["workflow", "model"])
    tokens: dict[tuple[str, str], dict[date, int]] = defaultdict(dict)
    for r in daily:
        tokens[(r.workflow, r.model)][r.day] = r.input_tokens + r.output_tokens
    days = [recent + timedelta(days=i) for i in range((end - recent).days)]
    findings += mr.self_hosting_candidates(tokens, days, settings.self_host_tokens_per_day, label)
    return [mr.review_summary(findings, label, currency), *findings]
