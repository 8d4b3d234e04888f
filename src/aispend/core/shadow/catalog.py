"""The AI vendor catalog: the shipped data file, optionally extended by the company's own file."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from aispend.core.errors import AispendError
from aispend.core.money import parse_decimal


class CatalogError(AispendError, ValueError):
    """A catalog file that cannot be used, with the file and entry named."""

    code = "invalid_catalog"


@dataclass(frozen=True)
class Plan:
    name: str
    price: Decimal
    currency: str
    period: str  # "month" | "year"
    kind: str  # "individual" | "team" | "enterprise"
    seat: bool = False

    @property
    def monthly_price(self) -> Decimal:
        return self.price / 12 if self.period == "year" else self.price


@dataclass(frozen=True)
class Vendor:
    id: str
    name: str
    category: str
    patterns: tuple[str, ...]
    review_words: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    plans: tuple[Plan, ...] = ()
    team_plan: bool = False
    sanctioned: bool = False

    def team_seat_price(self) -> Plan | None:
        monthly = [p for p in self.plans if p.kind in ("team", "enterprise") and p.seat and p.period == "month"]
        return min(monthly, key=lambda p: p.price) if monthly else None


@dataclass(frozen=True)
class SharedDescriptor:
    """A merchant that bills a non-AI product and an AI one under one descriptor (GitHub / Copilot)."""

    host: str
    patterns: tuple[str, ...]
    ai_vendor: str
    ai_words: tuple[str, ...] = ()
    host_words: tuple[str, ...] = ()
    # (amount, currency): "19.99" is in the entry's currency, "21.99 EUR" names its own.
    ai_prices: tuple[tuple[Decimal, str], ...] = ()
    ai_seat_prices: tuple[tuple[Decimal, str], ...] = ()
    host_prices: tuple[tuple[Decimal, str], ...] = ()
    host_seat_prices: tuple[tuple[Decimal, str], ...] = ()


@dataclass(frozen=True)
class Catalog:
    vendors: dict[str, Vendor]
    shared: tuple[SharedDescriptor, ...] = ()
    marketplaces: tuple[str, ...] = ()
    review_tokens: tuple[str, ...] = ()
    sources: tuple[str, ...] = field(default=())


def load_catalog(extra: Path | None = None) -> Catalog:
    """The shipped catalog, merged with the company's file when given."""
    text = resources.files("aispend.core.shadow").joinpath("data/ai_vendors.toml").read_text(encoding="utf-8")
    data = _parse(text, "ai_vendors.toml (shipped)")
    catalog = _build(data, "ai_vendors.toml (shipped)")
    if extra is None:
        return catalog
    try:
        extra_text = extra.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"cannot read vendor catalog {extra}: {exc.strerror}") from None
    return merge(catalog, _parse(extra_text, str(extra)), str(extra))


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{where}: not valid TOML: {exc}") from None


def _build(data: dict[str, Any], where: str) -> Catalog:
    vendors: dict[str, Vendor] = {}
    for i, entry in enumerate(data.get("vendor", []), start=1):
        vendor = _vendor(entry, f"{where} [[vendor]] #{i}")
        vendors[vendor.id] = vendor
    shared = tuple(_shared(entry, f"{where} [[shared]] #{i}") for i, entry in enumerate(data.get("shared", []), 1))
    for item in shared:
        if item.ai_vendor not in vendors:
            raise CatalogError(f"{where}: shared descriptor {item.host!r} names unknown vendor {item.ai_vendor!r}")
    return Catalog(
        vendors=vendors,
        shared=shared,
        marketplaces=tuple(data.get("marketplaces", {}).get("patterns", [])),
        review_tokens=tuple(t.upper() for t in data.get("review", {}).get("tokens", [])),
        sources=(where,),
    )


def merge(base: Catalog, data: dict[str, Any], where: str) -> Catalog:
    """Company entries extend the shipped ones: same id merges, new id adds."""
    vendors = dict(base.vendors)
    for i, entry in enumerate(data.get("vendor", []), start=1):
        what = f"{where} [[vendor]] #{i}"
        vendor_id = entry.get("id")
        if not isinstance(vendor_id, str) or not vendor_id:
            raise CatalogError(f"{what}: every vendor needs an id")
        old = vendors.get(vendor_id)
        if old is None:
            vendors[vendor_id] = _vendor(entry, what)
            continue
        plans = tuple(_plan(p, what) for p in entry["plans"]) if "plans" in entry else old.plans
        vendors[vendor_id] = replace(
            old,
            name=entry.get("name", old.name),
            category=entry.get("category", old.category),
            patterns=old.patterns + tuple(p.upper() for p in entry.get("patterns", [])),
            review_words=old.review_words + tuple(p.upper() for p in entry.get("review_words", [])),
            plans=plans,
            team_plan=bool(entry.get("team_plan", old.team_plan)),
            sanctioned=bool(entry.get("sanctioned", old.sanctioned)),
        )
    extra_shared = tuple(_shared(e, f"{where} [[shared]] #{i}") for i, e in enumerate(data.get("shared", []), 1))
    for item in extra_shared:
        if item.ai_vendor not in vendors:
            raise CatalogError(f"{where}: shared descriptor {item.host!r} names unknown vendor {item.ai_vendor!r}")
    return Catalog(
        vendors=vendors,
        shared=base.shared + extra_shared,
        marketplaces=base.marketplaces + tuple(data.get("marketplaces", {}).get("patterns", [])),
        review_tokens=base.review_tokens + tuple(t.upper() for t in data.get("review", {}).get("tokens", [])),
        sources=(*base.sources, where),
    )


def _vendor(entry: dict[str, Any], what: str) -> Vendor:
    try:
        vendor_id, name, category = entry["id"], entry["name"], entry["category"]
    except KeyError as exc:
        raise CatalogError(f"{what}: missing key {exc.args[0]!r} (id, name, category are required)") from None
    patterns = tuple(p.upper() for p in entry.get("patterns", []))
    if not patterns:
        raise CatalogError(f"{what} ({vendor_id}): at least one descriptor pattern is required")
    return Vendor(
        id=vendor_id,
        name=name,
        category=category,
        patterns=patterns,
        review_words=tuple(w.upper() for w in entry.get("review_words", [])),
        products=tuple(entry.get("products", [])),
        plans=tuple(_plan(p, f"{what} ({vendor_id})") for p in entry.get("plans", [])),
        team_plan=bool(entry.get("team_plan", False)),
        sanctioned=bool(entry.get("sanctioned", False)),
    )


def _plan(entry: dict[str, Any], what: str) -> Plan:
    try:
        period = entry.get("period", "month")
        if period not in ("month", "year"):
            raise CatalogError(f"{what}: plan period must be month or year, got {period!r}")
        return Plan(
            name=entry["name"],
            price=parse_decimal(str(entry["price"]), what=f"{what} plan price"),
            currency=entry.get("currency", "USD"),
            period=period,
            kind=entry.get("kind", "individual"),
            seat=bool(entry.get("seat", False)),
        )
    except KeyError as exc:
        raise CatalogError(f"{what}: plan is missing {exc.args[0]!r}") from None


def _prices(values: list[Any], currency: str, what: str) -> tuple[tuple[Decimal, str], ...]:
    prices = []
    for value in values:
        amount, _, code = str(value).strip().partition(" ")
        prices.append((parse_decimal(amount, what=f"{what} price"), code.strip().upper() or currency))
    return tuple(prices)


def _shared(entry: dict[str, Any], what: str) -> SharedDescriptor:
    currency = entry.get("currency", "USD")
    try:
        return SharedDescriptor(
            host=entry["host"],
            patterns=tuple(p.upper() for p in entry["patterns"]),
            ai_vendor=entry["ai_vendor"],
            ai_words=tuple(w.upper() for w in entry.get("ai_words", [])),
            host_words=tuple(w.upper() for w in entry.get("host_words", [])),
            ai_prices=_prices(entry.get("ai_prices", []), currency, what),
            ai_seat_prices=_prices(entry.get("ai_seat_prices", []), currency, what),
            host_prices=_prices(entry.get("host_prices", []), currency, what),
            host_seat_prices=_prices(entry.get("host_seat_prices", []), currency, what),
        )
    except KeyError as exc:
        raise CatalogError(f"{what}: missing key {exc.args[0]!r}") from None
