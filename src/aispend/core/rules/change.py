"""Week-over-week and month-over-month change per scope, and its explanation.

Windows are like-for-like: the period so far (complete days only) against the same number of
days at the start of the previous period; on the first day of a period, the last complete period
against the one before it.

The change in cost is split exactly (the parts add up to the change) by sequential substitution
over the models used in the scope. Cost = calls x sum over models of
(model share of calls x tokens per call x cache factor x base price per token), where the cache
factor is 1 - cache-hit rate x (1 - cached price ratio) and the base price is what the data
implies once tokens and cache are taken out. Substituting the new values one at a time:

    volume     = change in the number of calls (and tokens per call: `volume_detail`)
    model_mix  = change in which models take the calls (a new model counts here, at its own cost)
    cache      = change in the cache-hit rate
    price      = change in the price per token for the same token mix

So a price change between two weeks with the same calls and tokens is all price, never volume.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from aispend.core.money import format_money, percent
from aispend.core.rules.findings import Finding, Level, Scope, money, one_currency
from aispend.core.rules.periods import Comparison, Period, like_for_like, period_of
from aispend.core.rules.spend import SpendRow, scope_key
from aispend.core.timeutil import as_utc

RULE = "change"
ZERO = Decimal(0)
ONE = Decimal(1)
CACHED_PRICE_RATIO = Decimal("0.1")  # a cached input token costs about a tenth of a fresh one
COMPONENTS = ("volume", "model_mix", "cache_hit_rate", "price")


@dataclass(slots=True)
class Usage:
    calls: int = 0
    tokens: int = 0
    cache_read_tokens: int = 0
    cost: Decimal = ZERO

    def add(self, row: SpendRow) -> None:
        self.calls += row.calls
        self.tokens += row.input_tokens + row.output_tokens
        self.cache_read_tokens += row.cache_read_tokens
        self.cost += row.cost

    @property
    def tokens_per_call(self) -> Decimal:
        return Decimal(self.tokens) / self.calls if self.calls and self.tokens else ONE

    @property
    def cache_hit_rate(self) -> Decimal:
        return Decimal(self.cache_read_tokens) / self.tokens if self.tokens else ZERO

    @property
    def cache_factor(self) -> Decimal:
        return ONE - self.cache_hit_rate * (ONE - CACHED_PRICE_RATIO)

    @property
    def base_price(self) -> Decimal:
        """Cost per token once the cache discount is taken out (per call when tokens are unknown)."""
        if not self.calls:
            return ZERO
        return self.cost / (self.calls * self.tokens_per_call * self.cache_factor)


@dataclass(frozen=True, slots=True)
class Decomposition:
    before: Decimal
    after: Decimal
    volume: Decimal
    volume_calls: Decimal
    volume_tokens_per_call: Decimal
    model_mix: Decimal
    cache_hit_rate: Decimal
    price: Decimal

    @property
    def change(self) -> Decimal:
        return self.after - self.before

    def as_json(self, currency: str) -> dict[str, object]:
        return {
            "volume": money(self.volume, currency),
            "volume_detail": {
                "calls": money(self.volume_calls, currency),
                "tokens_per_call": money(self.volume_tokens_per_call, currency),
            },
            "model_mix": money(self.model_mix, currency),
            "cache_hit_rate": money(self.cache_hit_rate, currency),
            "price": money(self.price, currency),
        }


def decompose(before: Mapping[str, Usage], after: Mapping[str, Usage]) -> Decomposition:
    """Split the cost change between two windows (usage per model) into causes that sum to the change."""
    c0 = sum((u.cost for u in before.values()), ZERO)
    c1 = sum((u.cost for u in after.values()), ZERO)
    n0 = sum(u.calls for u in before.values())
    n1 = sum(u.calls for u in after.values())
    if n0 == 0 or n1 == 0:
        # Nothing to compare a mix with: the whole change is volume (a scope starting or stopping).
        return Decomposition(c0, c1, c1 - c0, c1 - c0, ZERO, ZERO, ZERO, ZERO)
    models = set(before) | set(after)

    def share(side: Mapping[str, Usage], n: int, m: str) -> Decimal:
        return Decimal(side[m].calls) / n if m in side else ZERO

    def old_or_new(m: str) -> Usage:
        # A model only used after: its "old" per-call cost is its new one, so it shows as mix, not price.
        return before[m] if m in before and before[m].calls else after[m]

    def cost(
        n: int,
        shares: Mapping[str, Decimal],
        tpc: Mapping[str, Usage],
        cache: Mapping[str, Usage],
        price: Mapping[str, Usage],
    ) -> Decimal:
        return n * sum(
            (
                shares[m] * tpc[m].tokens_per_call * cache[m].cache_factor * price[m].base_price
                for m in models
                if shares[m]
            ),
            ZERO,
        )

    s0 = {m: share(before, n0, m) for m in models}
    s1 = {m: share(after, n1, m) for m in models}
    old = {m: old_or_new(m) for m in models}
    new = {m: after[m] if m in after and after[m].calls else old[m] for m in models}
    step0 = cost(n0, s0, old, old, old)  # == c0 up to rounding
    step_calls = cost(n1, s0, old, old, old)
    step_mix = cost(n1, s1, old, old, old)
    step_tpc = cost(n1, s1, new, old, old)
    step_cache = cost(n1, s1, new, new, old)
    volume_calls = step_calls - c0 + (c0 - step0)  # rounding residue lands in volume
    volume_tpc = step_tpc - step_mix
    mix = step_mix - step_calls
    cache = step_cache - step_tpc
    price = c1 - step_cache
    return Decomposition(c0, c1, volume_calls + volume_tpc, volume_calls, volume_tpc, mix, cache, price)


@dataclass(frozen=True, slots=True)
class Windows:
    """A change finding's period and the like-for-like windows it is measured over."""

    period: Period  # the period the finding belongs to
    comparison: Comparison
    label: str  # "WoW" | "MoM"


def change_windows(kind: str, now: datetime) -> Windows:
    """The running period's complete days against the same weekdays before (`like_for_like`); on a
    period's first day, the period that just ended against the one before it."""
    today = as_utc(now).date()
    period = period_of(kind, today)
    label = "WoW" if kind == "week" else "MoM"
    if today == period.start:
        period = period.previous()
    comparison = like_for_like(period, today)
    assert comparison is not None  # a finished period, or a running one with a complete day
    return Windows(period, comparison, label)


@dataclass(frozen=True, slots=True)
class ChangePolicy:
    period_kind: str = "week"
    flag_pct: Decimal = Decimal(20)
    min_spend: Decimal = Decimal(50)  # neither window above this: not flagged
    min_days: int = 3  # fewer complete days compared than this: reported, not flagged
    top_n: int = 3
    # A flagged scope whose increase comes this much (%) from one workflow that is flagged itself is
    # folded into that workflow's alert: one runaway is one alert, not one per team, model, provider
    # and the company. 0 turns folding off.
    fold_pct: Decimal = Decimal(75)


def _usage_by(rows: Iterable[SpendRow], key: str) -> dict[str, Usage]:
    out: dict[str, Usage] = {}
    for row in rows:
        k = f"{row.provider}/{row.model}" if key == "model" else scope_key(row, key)
        out.setdefault(k, Usage()).add(row)
    return out


def evaluate_changes(
    rows: Iterable[SpendRow],
    now: datetime,
    policy: ChangePolicy,
    kinds: Sequence[str],
    runs: Mapping[tuple[str, str], tuple[int, int]] | None = None,
) -> list[Finding]:
    """One finding per scope seen in either window. `runs` maps (scope kind, key) to run counts
    (before, after) when known. Increases above the flag are yellow; decreases are reported, not flagged."""
    windows = change_windows(policy.period_kind, now)
    (a0, a1), (b0, b1) = windows.comparison.current, windows.comparison.previous
    by_scope: dict[Scope, tuple[list[SpendRow], list[SpendRow]]] = {}
    currencies: dict[Scope, set[str]] = {}
    for row in rows:
        side = 1 if a0 <= row.day < a1 else 0 if b0 <= row.day < b1 else None
        if side is None:
            continue
        for kind in kinds:
            scope = Scope(kind, scope_key(row, kind))
            pair = by_scope.setdefault(scope, ([], []))
            pair[side].append(row)
            currencies.setdefault(scope, set()).add(row.currency)
    findings = []
    for scope in sorted(by_scope):
        before_rows, after_rows = by_scope[scope]
        currency = one_currency(currencies[scope], where=f"{scope.label} {windows.label}") or "USD"
        findings.append(
            _finding(
                scope,
                windows,
                before_rows,
                after_rows,
                currency,
                policy,
                (runs or {}).get((scope.kind, scope.key)),
            )
        )
    return _folded(findings, policy.fold_pct)


def _folded(findings: list[Finding], fold_pct: Decimal) -> list[Finding]:
    """Broader flagged scopes (company, team, provider, model) whose increase is mostly one flagged
    workflow's become reports pointing at it (`folded_into`); the workflow's alert carries the news."""
    flagged = {f.scope.key for f in findings if f.scope.kind == "workflow" and f.level is Level.YELLOW}
    if fold_pct <= 0 or not flagged:
        return findings
    out = []
    for f in findings:
        top = f.numbers.get("top_workflows") or []
        lead = top[0] if top and isinstance(top[0], dict) else None
        if f.level is Level.YELLOW and f.scope.kind != "workflow" and lead and lead["key"] in flagged:
            change = Decimal(f.numbers["change"]["amount"])
            part = Decimal(lead["change"]["amount"])
            if change > 0 and part * 100 >= fold_pct * change:
                why = f" — {percent(part, change)}% of it is workflow {lead['key']}, alerted on its own"
                numbers = {**f.numbers, "folded_into": {"kind": "workflow", "key": lead["key"]}}
                f = replace(f, level=Level.OK, summary=f.summary + why, numbers=numbers)
        out.append(f)
    return out


def _contributors(
    before_rows: list[SpendRow],
    after_rows: list[SpendRow],
    key: str,
    currency: str,
    top_n: int,
    explain: bool,
) -> list[dict[str, object]]:
    groups_b, groups_a = _group(before_rows, key), _group(after_rows, key)
    b = {k: _total(rows) for k, rows in groups_b.items()}
    a = {k: _total(rows) for k, rows in groups_a.items()}
    deltas = {k: a.get(k, Usage()).cost - b.get(k, Usage()).cost for k in set(a) | set(b)}
    out = []
    for k, delta in sorted(deltas.items(), key=lambda kv: (-abs(kv[1]), kv[0]))[:top_n]:
        entry: dict[str, object] = {
            "key": k,
            "change": money(delta, currency),
            "before": money(b.get(k, Usage()).cost, currency),
            "after": money(a.get(k, Usage()).cost, currency),
            "calls_before": b.get(k, Usage()).calls,
            "calls_after": a.get(k, Usage()).calls,
        }
        if explain:
            part_b = _usage_by(groups_b.get(k, []), "model")
            part_a = _usage_by(groups_a.get(k, []), "model")
            entry["explained"] = decompose(part_b, part_a).as_json(currency)
        out.append(entry)
    return out


def _group(rows: Iterable[SpendRow], key: str) -> dict[str, list[SpendRow]]:
    out: dict[str, list[SpendRow]] = {}
    for row in rows:
        k = f"{row.provider}/{row.model}" if key == "model" else scope_key(row, key)
        out.setdefault(k, []).append(row)
    return out


def _total(rows: Iterable[SpendRow]) -> Usage:
    usage = Usage()
    for row in rows:
        usage.add(row)
    return usage


def _finding(
    scope: Scope,
    windows: Windows,
    before_rows: list[SpendRow],
    after_rows: list[SpendRow],
    currency: str,
    policy: ChangePolicy,
    runs: tuple[int, int] | None,
) -> Finding:
    parts = decompose(_usage_by(before_rows, "model"), _usage_by(after_rows, "model"))
    pct = percent(parts.change, parts.before) if parts.before > 0 else None
    big_enough = max(parts.before, parts.after) >= policy.min_spend
    compared = windows.comparison
    long_enough = compared.days >= policy.min_days
    # No baseline, no percentage: a scope that is new is the share and new-entrant rules' business.
    flagged = big_enough and long_enough and pct is not None and pct > policy.flag_pct
    numbers: dict[str, object] = {
        "comparison": windows.label,
        "current_window": [d.isoformat() for d in compared.current],
        "previous_window": [d.isoformat() for d in compared.previous],
        "compared": compared.label,
        "before": money(parts.before, currency),
        "after": money(parts.after, currency),
        "change": money(parts.change, currency),
        "change_pct": str(pct) if pct is not None else None,
        "calls_before": sum(r.calls for r in before_rows),
        "calls_after": sum(r.calls for r in after_rows),
        "runs_before": runs[0] if runs else None,
        "runs_after": runs[1] if runs else None,
        "explained": parts.as_json(currency),
        "top_workflows": _contributors(before_rows, after_rows, "workflow", currency, policy.top_n, True),
        "top_models": _contributors(before_rows, after_rows, "model", currency, policy.top_n, False),
    }
    shown_pct = f"{'+' if parts.change >= 0 else ''}{pct}%" if pct is not None else "new"
    reasons = ", ".join(
        f"{name.replace('_', ' ')} {'+' if value >= 0 else ''}{format_money(value, currency)}"
        for name, value in (
            ("volume", parts.volume),
            ("model_mix", parts.model_mix),
            ("cache_hit_rate", parts.cache_hit_rate),
            ("price", parts.price),
        )
        if value != 0
    )
    summary = (
        f"{scope.label}: {shown_pct} {windows.label} ({format_money(parts.before, currency)} → "
        f"{format_money(parts.after, currency)})" + (f": {reasons}" if reasons else "")
    )
    return Finding(
        RULE + "_" + windows.label.lower(),
        scope,
        windows.period.key,
        Level.YELLOW if flagged else Level.OK,
        summary,
        numbers,
        span=windows.period,
    )
