"""The daily spend rows every governance rule reads, helpers to sum them by scope, and the index of
daily spend per scope built once per evaluation (so every threshold is a dictionary lookup).

A SpendRow is one day of spend for one combination of dimensions (already summed from hourly
rollups or bill lines by the query layer). Rules never see the database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from aispend.core.rules.findings import Scope, one_currency

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class SpendRow:
    day: date
    cost: Decimal
    currency: str
    provider: str = ""
    model: str = ""
    workflow: str = ""
    team: str = ""
    feature: str = ""
    calls: int = 0
    input_tokens: int = 0  # includes cache reads and writes
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    unpriced_calls: int = 0
    zero_cost_calls: int = 0


def scope_key(row: SpendRow, kind: str) -> str:
    if kind == "company":
        return ""
    if kind in ("team", "workflow", "provider", "model", "feature"):
        return str(getattr(row, kind))
    raise ValueError(f"unknown scope kind {kind!r}")


def in_scope(row: SpendRow, scope: Scope) -> bool:
    return scope.kind == "company" or scope_key(row, scope.kind) == scope.key


def currency_of(rows: Iterable[SpendRow], *, where: str, expected: str | None = None) -> str | None:
    return one_currency((r.currency for r in rows), where=where, expected=expected)


def total_by(rows: Iterable[SpendRow], kind: str, start: date, end: date) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for row in rows:
        if start <= row.day < end:
            out[scope_key(row, kind)] += row.cost
    return dict(out)


class SpendIndex:
    """{scope: {day: cost}} and the currencies seen per scope, for the given scope kinds."""

    def __init__(self, rows: Iterable[SpendRow], kinds: Sequence[str]) -> None:
        daily: dict[Scope, dict[date, Decimal]] = defaultdict(dict)
        currencies: dict[Scope, set[str]] = defaultdict(set)
        for row in rows:
            for kind in kinds:
                scope = Scope(kind, scope_key(row, kind))
                days = daily[scope]
                days[row.day] = days.get(row.day, ZERO) + row.cost
                currencies[scope].add(row.currency)
        self._daily = dict(daily)
        self._currencies = dict(currencies)

    @classmethod
    def from_kinds(cls, rows_by_kind: Mapping[str, Iterable[SpendRow]]) -> SpendIndex:
        """From rows already summed per kind (each iterable feeds only its own kind)."""
        index = cls([], [])
        for kind, rows in rows_by_kind.items():
            part = cls(rows, [kind])
            index._daily.update(part._daily)
            index._currencies.update(part._currencies)
        return index

    def daily(self, scope: Scope) -> dict[date, Decimal]:
        return self._daily.get(scope, {})

    def currency(self, scope: Scope, *, expected: str | None = None) -> str | None:
        """The scope's one currency (raises MixedCurrencyError on a mix, including with `expected`)."""
        return one_currency(self._currencies.get(scope, set()), where=scope.label, expected=expected)

    def scopes(self, kind: str) -> list[Scope]:
        return sorted(s for s in self._daily if s.kind == kind)
