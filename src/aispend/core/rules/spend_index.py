"""Daily spend per scope, built once per evaluation so every threshold is a dictionary lookup."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal

from aispend.core.rules.findings import Scope, one_currency
from aispend.core.rules.spend import SpendRow, scope_key

ZERO = Decimal(0)


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
