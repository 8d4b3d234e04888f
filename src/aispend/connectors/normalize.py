"""Small helpers every connector uses to build normalized records."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypedDict

from aispend.connectors.base import FatalError
from aispend.core.money import MoneyError, parse_decimal
from aispend.core.rules.attribution import AttributionRules


class Dimensions(TypedDict):
    workflow: str
    feature: str
    team: str
    customer: str
    environment: str


def attribute(rules: AttributionRules, fields: Mapping[str, str], tags: Mapping[str, Any]) -> Dimensions:
    """The attribution dimensions of one record, through the shared rules (core/rules/attribution.py)."""
    dims = rules.attribute(fields, tags)
    return Dimensions(
        workflow=dims["workflow"],
        feature=dims["feature"],
        team=dims["team"],
        customer=dims["customer"],
        environment=dims["environment"],
    )


def natural_key(day: date, *parts: object) -> str:
    """Stable key of one record: its day plus a digest of its grouping values (fits the 128-char column)."""
    digest = hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts).encode()).hexdigest()
    return f"{day.isoformat()}:{digest[:40]}"


def utc_from_unix(seconds: int | float | Decimal) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=UTC)


def utc_from_iso(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def loads_exact(text: str) -> Any:
    """JSON with every non-integer number as Decimal: API floats never pass through float."""
    return json.loads(text, parse_float=Decimal)


def amount(value: object, *, what: str) -> Decimal:
    """An amount from JSON (Decimal, int or string) as Decimal, with a clear error otherwise."""
    if isinstance(value, bool) or value is None:
        raise MoneyError(f"{what} is missing or not a number: {value!r}")
    if isinstance(value, Decimal | int | str):
        return parse_decimal(value, what=what)
    raise MoneyError(f"{what} is not a number: {value!r}")


def tokens(value: object) -> int:
    """A token count from JSON; null means 0."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise ValueError(f"token count is not a number: {value!r}")
    return int(value)  # type: ignore[call-overload]


@contextmanager
def parsing(source: str, where: str, fix: str) -> Iterator[None]:
    """Turn a malformed response into a FatalError that says where.

    A bill with a row we cannot read fails the whole chunk rather than dropping the row: the
    chunk's replace window would otherwise delete that row's stored version.
    """
    try:
        yield
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise FatalError(source, f"unexpected response in {where}: {type(exc).__name__}: {exc}", fix) from None
