from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aispend.core.pricing import CustomPrice, PriceBook, TokenCounts, library_price

TS = datetime(2026, 11, 1, 12, tzinfo=UTC)
MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4-5"),  # tiered above 200k input tokens
    ("anthropic", "claude-haiku-4-5"),
    ("google", "gemini-2.5-pro"),  # tiered
    ("google", "gemini-2.5-flash"),
]


@settings(max_examples=60, deadline=None)
@given(
    model=st.sampled_from(MODELS),
    cached=st.integers(0, 150_000),
    written=st.integers(0, 50_000),
    uncached=st.integers(0, 300_000),
    output=st.integers(0, 20_000),
)
def test_price_book_matches_the_library_exactly(
    model: tuple[str, str], cached: int, written: int, uncached: int, output: int
) -> None:
    provider, name = model
    tokens = TokenCounts(uncached + cached + written, output, cached, written)
    assert PriceBook().cost(provider, name, TS, tokens) == library_price(provider, name, TS, tokens)


@settings(max_examples=80, deadline=None)
@given(
    model=st.sampled_from(MODELS),
    tier=st.sampled_from(["", "default", "batch", "flex", "priority"]),
    written=st.integers(0, 50_000),
    hour_share=st.integers(0, 100),
    uncached=st.integers(0, 300_000),
    output=st.integers(0, 20_000),
)
def test_one_hour_writes_and_tiers_match_the_library_where_both_know_the_price(
    model: tuple[str, str], tier: str, written: int, hour_share: int, uncached: int, output: int
) -> None:
    provider, name = model
    tokens = TokenCounts(uncached + written, output, 0, written, written * hour_share // 100)
    cost = PriceBook().cost(provider, name, TS, tokens, tier)
    if cost is not None:  # None: no such tier price for the model (the library would say standard)
        assert cost == library_price(provider, name, TS, tokens, tier)


def test_unknown_model_is_unpriced_not_zero() -> None:
    assert PriceBook().cost("openai", "acme-internal-7b", TS, TokenCounts(100, 10)) is None


def test_provider_is_inferred_from_the_model_when_missing() -> None:
    book = PriceBook()
    assert book.provider_for("claude-sonnet-4-5") == "anthropic"
    assert book.provider_for("no-such-model-xyz") is None


@pytest.mark.parametrize(("provider", "model"), MODELS)
def test_cached_tokens_cost_less_than_uncached(provider: str, model: str) -> None:
    book = PriceBook()
    uncached = book.cost(provider, model, TS, TokenCounts(10_000, 0))
    cached = book.cost(provider, model, TS, TokenCounts(10_000, 0, cache_read_tokens=10_000))
    assert uncached is not None and cached is not None
    assert cached < uncached


@settings(max_examples=80, deadline=None)
@given(
    input_price=st.decimals(min_value=0, max_value=100, places=9),
    output_price=st.decimals(min_value=0, max_value=100, places=4),
    inputs=st.integers(0, 10_000_000),
    cached_share=st.integers(0, 100),
    output=st.integers(0, 1_000_000),
)
def test_custom_prices_are_exact_whatever_their_decimals(
    input_price: Decimal, output_price: Decimal, inputs: int, cached_share: int, output: int
) -> None:
    # Prices with up to 6 decimals per million tokens are summed in integers, finer ones in Decimal:
    # both must give the exact amount.
    cached = inputs * cached_share // 100
    book = PriceBook(
        [CustomPrice("internal", "ft-7b", date(2026, 1, 1), {"input_mtok": input_price, "output_mtok": output_price})]
    )
    expected = (input_price * inputs + output_price * output) / Decimal(1_000_000)  # cache reads cost as input
    assert book.cost_of("internal", "ft-7b", TS, inputs, output, cached, 0) == expected
