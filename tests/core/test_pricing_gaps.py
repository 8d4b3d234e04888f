"""Prices that depend on more than tokens: one-hour cache writes, service tiers, routed model names.

Figures are from the providers' public price lists as genai-prices carries them (per million
tokens): Claude Sonnet 4.5 input $3, output $15, five-minute cache write $3.75 (1.25x input),
one-hour cache write $6 (2x input), batch half of each; gpt-5 $1.25 / $10, flex and batch half,
priority $2.50 / $20; gpt-4o priority $4.25 / $17; gpt-4o-mini $0.15 / $0.60, priority $0.25 / $1.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from aispend.connectors.files.call_schema import RowError, normalize_call
from aispend.core.estimate import estimate
from aispend.core.ledger.models import CallRecord, CallRollup, table_of
from aispend.core.pricing import CustomPrice, PriceBook, TokenCounts, library_price, route
from aispend.core.rules.estimate import EstimateInput
from tests.clihelp import run_cli

TS = datetime(2026, 11, 20, 12, tzinfo=UTC)
SONNET = ("anthropic", "claude-sonnet-4-5")
# One Sonnet 4.5 call: 1,000 uncached input + 100,000 cache-write tokens in, 500 out.
ONE_HOUR = TokenCounts(101_000, 500, 0, 100_000, 100_000)
FIVE_MINUTES = TokenCounts(101_000, 500, 0, 100_000)


# --- one-hour cache writes ------------------------------------------------------------------


def test_one_hour_cache_writes_are_priced_at_twice_input_not_the_five_minute_rate() -> None:
    book = PriceBook()
    # 1,000 x $3 + 500 x $15 = $0.0105, plus 100,000 writes at $6 (one hour) or $3.75 (five minutes).
    assert book.cost(*SONNET, TS, ONE_HOUR) == Decimal("0.6105")
    assert book.cost(*SONNET, TS, FIVE_MINUTES) == Decimal("0.3855")
    mixed = TokenCounts(101_000, 500, 0, 100_000, 40_000)  # 40k one-hour + 60k five-minute
    assert book.cost(*SONNET, TS, mixed) == Decimal("0.0105") + Decimal("0.24") + Decimal("0.225")
    assert book.cost(*SONNET, TS, mixed) == library_price(*SONNET, TS, mixed)


def test_one_hour_writes_above_the_long_context_threshold_take_the_long_context_rate() -> None:
    # Over 200k input tokens every Sonnet 4.5 token is at the long-context rate: one-hour writes $12.
    tokens = TokenCounts(250_000, 0, 0, 100_000, 100_000)
    assert PriceBook().cost(*SONNET, TS, tokens) == Decimal("150000") * 6 / 10**6 + Decimal("1.2")
    assert PriceBook().cost(*SONNET, TS, tokens) == library_price(*SONNET, TS, tokens)


def test_a_model_without_a_one_hour_price_leaves_such_a_call_unpriced_with_the_reason() -> None:
    book = PriceBook()
    # Bedrock lists no one-hour cache-write price for Claude 3.7 Sonnet.
    model = "anthropic.claude-3-7-sonnet-20250219-v1:0"
    assert book.cost("aws", model, TS, TokenCounts(2000, 10, 0, 1000)) is not None
    assert book.cost("aws", model, TS, TokenCounts(2000, 10, 0, 1000, 1000)) is None
    assert "one-hour cache-write price" in book.unpriced_reason("aws", model, TS, cache_write_1h=1000)


def _row(**extra: object) -> dict[str, object]:
    return {"timestamp": "2026-11-20T12:00:00Z", "model": "claude-sonnet-4-5", "input_tokens": 101_000, **extra}


def test_the_schema_reads_anthropics_split_and_the_flat_column() -> None:
    nested = normalize_call(
        _row(cache_creation_input_tokens=100_000, **{"cache_creation.ephemeral_1h_input_tokens": 100_000})
    )
    assert (nested.cache_write_tokens, nested.cache_write_1h_tokens) == (100_000, 100_000)
    flat = normalize_call(_row(cache_write_tokens="100000", cache_write_1h_tokens="30000"))
    assert (flat.cache_write_tokens, flat.cache_write_1h_tokens) == (100_000, 30_000)
    # The split alone gives the total; the five-minute part alone leaves the rest to one hour.
    split = normalize_call(
        _row(**{"cache_creation.ephemeral_1h_input_tokens": 70_000, "cache_creation.ephemeral_5m_input_tokens": 30_000})
    )
    assert (split.cache_write_tokens, split.cache_write_1h_tokens) == (100_000, 70_000)
    five = normalize_call(_row(cache_write_tokens=100_000, cache_write_5m_tokens=100_000))
    assert (five.cache_write_tokens, five.cache_write_1h_tokens) == (100_000, 0)
    assert normalize_call(_row(cache_write_tokens=5)).cache_write_1h_tokens == 0


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"cache_write_tokens": 100, "cache_write_1h_tokens": 101}, "cache_write_1h_tokens must be between 0 and"),
        (
            {"cache_write_tokens": 100, "cache_write_1h_tokens": 60, "cache_write_5m_tokens": 30},
            "cache writes do not add up: 60 one-hour + 30 five-minute != cache_write_tokens 100",
        ),
        ({"cache_write_tokens": 100, "cache_write_5m_tokens": 101}, "cache_write_5m_tokens (101) exceed"),
        ({"cache_write_1h_tokens": -1}, "cache_write_1h_tokens must not be negative"),
        ({"cache_write_1h_tokens": "1.5"}, "cache_write_1h_tokens must be a whole number"),
        ({"cache_write_1h_tokens": 200_000}, "exceed input_tokens"),
    ],
)
def test_a_split_that_does_not_add_up_is_refused(extra: dict[str, object], reason: str) -> None:
    with pytest.raises(RowError) as caught:
        normalize_call(_row(**extra))
    assert reason in str(caught.value)


def _ingest(tmp_path: Path, database_url: str, rows: list[dict[str, object]], name: str = "calls.jsonl") -> str:
    path = tmp_path / name
    if name.endswith(".csv"):
        header = sorted({key for row in rows for key in row})
        lines = [",".join(header)] + [",".join(str(row.get(key, "")) for key in header) for row in rows]
        path.write_text("\n".join(lines) + "\n")
    else:
        path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    result = run_cli(["ingest", "calls", str(path)], database_url)
    assert result.exit_code == 0, result.output
    return result.output


def _costs(engine: Engine) -> dict[str, Decimal | None]:
    calls = table_of(CallRecord)
    with engine.connect() as conn:
        return dict(conn.execute(select(calls.c.call_key, calls.c.cost)).all())  # type: ignore[arg-type]


def _rollup_total(engine: Engine) -> Decimal:
    with engine.connect() as conn:
        return conn.execute(select(func.sum(table_of(CallRollup).c.cost))).scalar_one()


def test_ingested_one_hour_writes_cost_their_rate_and_reprice_keeps_it(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    anthropic_usage = {
        "call_id": "nested",
        "timestamp": "2026-11-20T12:00:00Z",
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "input_tokens": 101_000,
        "output_tokens": 500,
        "cache_creation_input_tokens": 100_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 100_000},
    }
    _ingest(tmp_path, database_url, [anthropic_usage])
    flat = {k: v for k, v in anthropic_usage.items() if k != "cache_creation"}
    _ingest(tmp_path, database_url, [{**flat, "call_id": "flat", "cache_write_1h_tokens": 100_000}], "calls.csv")
    assert _costs(engine) == {"id:anthropic:nested": Decimal("0.6105"), "id:anthropic:flat": Decimal("0.6105")}

    result = run_cli(["reprice", "--since", "2026-11-01"], database_url)
    assert "0 changed" in result.output, result.output
    assert _rollup_total(engine) == Decimal("1.221")


PRICES = """
[[price]]
model = "acme-ft"
input_mtok = "1"
output_mtok = "2"
cache_write_mtok = "1.25"
cache_write_1h_mtok = "2"

[[price]]
model = "acme-ft"
service_tier = "batch"
input_mtok = "0.5"
output_mtok = "1"
cache_write_mtok = "0.625"
cache_write_1h_mtok = "1"
"""


def test_reprice_uses_the_stored_one_hour_writes_and_tier(engine: Engine, database_url: str, tmp_path: Path) -> None:
    base = {"timestamp": "2026-11-20T12:00:00Z", "provider": "internal", "model": "acme-ft", "output_tokens": 0}
    rows = [
        {
            **base,
            "call_id": "std",
            "input_tokens": 1_000_000,
            "cache_write_tokens": 1_000_000,
            "cache_write_1h_tokens": 600_000,
        },
        {**base, "call_id": "batch", "input_tokens": 1_000_000, "service_tier": "batch"},
        {**base, "call_id": "flex", "input_tokens": 1_000_000, "service_tier": "flex"},
    ]
    _ingest(tmp_path, database_url, rows)
    assert set(_costs(engine).values()) == {None}
    prices = tmp_path / "prices.toml"
    prices.write_text(PRICES)
    result = run_cli(["reprice", "--since", "2026-11-01"], database_url, AISPEND_PRICES_FILE=str(prices))
    assert "2 changed" in result.output, result.output
    assert (
        "Still unpriced (kept, not counted as $0): acme-ft (1) — the custom price of acme-ft is not for the flex tier"
        in result.output
    )
    # 400k five-minute x $1.25 + 600k one-hour x $2 = $1.70; batch: 1M x $0.50; no flex price: unpriced.
    assert _costs(engine) == {
        "id:internal:std": Decimal("1.7"),
        "id:internal:batch": Decimal("0.5"),
        "id:internal:flex": None,
    }
    assert _rollup_total(engine) == Decimal("2.2")


# --- service tiers --------------------------------------------------------------------------

TOKENS = TokenCounts(1_000_000, 1_000_000)


@pytest.mark.parametrize(
    ("model", "tier", "cost"),
    [
        ("gpt-5", "", "11.25"),
        ("gpt-5", "default", "11.25"),
        ("gpt-5", "auto", "11.25"),
        ("gpt-5", "Standard", "11.25"),
        ("gpt-5", "flex", "5.625"),
        ("gpt-5", "batch", "5.625"),
        ("gpt-5", "priority", "22.5"),
        ("gpt-4o", "priority", "21.25"),
        ("gpt-4o-mini", "priority", "1.25"),
        ("gpt-4o-mini", "batch", "0.375"),
    ],
)
def test_openai_tiers_are_priced_at_their_own_rates(model: str, tier: str, cost: str) -> None:
    book = PriceBook()
    assert book.cost("openai", model, TS, TOKENS, tier) == Decimal(cost)
    assert book.cost("openai", model, TS, TOKENS, tier) == library_price("openai", model, TS, TOKENS, tier)


def test_anthropic_batch_is_half_price_one_hour_writes_included() -> None:
    assert PriceBook().cost(*SONNET, TS, ONE_HOUR, "batch") == Decimal("0.6105") / 2
    assert PriceBook().cost(*SONNET, TS, ONE_HOUR, "batch") == library_price(*SONNET, TS, ONE_HOUR, "batch")


@pytest.mark.parametrize(
    ("provider", "model", "tier", "ts", "reason"),
    [
        ("openai", "gpt-4o-mini", "flex", TS, "no flex-tier price known for gpt-4o-mini"),
        ("anthropic", "claude-sonnet-4-5", "priority", TS, "no priority-tier price known for claude-sonnet-4-5"),
        ("openai", "gpt-5", "scale", TS, "no public price list for service tier 'scale'"),
        # genai-prices lists gpt-5's flex price from 12 October 2026; its library call would answer
        # the standard price for an earlier flex call.
        (
            "openai",
            "gpt-5",
            "flex",
            datetime(2026, 6, 1, tzinfo=UTC),
            "flex-tier price of gpt-5 is known only from 2026-10-12",
        ),
    ],
)
def test_a_tier_without_a_known_price_is_unpriced_with_the_reason_never_standard(
    provider: str, model: str, tier: str, ts: datetime, reason: str
) -> None:
    book = PriceBook()
    assert book.cost(provider, model, ts, TOKENS, tier) is None
    assert reason in book.unpriced_reason(provider, model, ts, tier)


def test_ingest_reads_the_tier_from_opentelemetry_and_says_why_a_call_is_unpriced(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    base = {
        "timestamp": "2026-11-20T12:00:00Z",
        "gen_ai.usage.input_tokens": 1_000_000,
        "gen_ai.usage.output_tokens": 0,
    }
    rows = [
        {**base, "id": "a", "gen_ai.request.model": "gpt-5", "gen_ai.openai.request.service_tier": "flex"},
        {**base, "id": "b", "gen_ai.request.model": "gpt-5", "gen_ai.openai.request.service_tier": "default"},
        {**base, "id": "c", "gen_ai.request.model": "gpt-4o-mini", "service_tier": "flex"},
        {
            **base,
            "id": "d",
            "gen_ai.request.model": "gpt-5",
            "gen_ai": {"openai": {"request": {"service_tier": "priority"}}},
        },
    ]
    output = _ingest(tmp_path, database_url, rows)
    assert _costs(engine) == {
        "id::a": Decimal("0.625"),
        "id::b": Decimal("1.25"),
        "id::c": None,
        "id::d": Decimal("2.5"),
    }
    assert "gpt-4o-mini (openai): 1 calls — no flex-tier price known for gpt-4o-mini" in output


# --- routed model names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "provider", "same_as"),
    [
        ("openai/gpt-4o-mini", "openai", ("openai", "gpt-4o-mini")),
        ("anthropic/claude-3-7-sonnet-20250219", "anthropic", ("anthropic", "claude-3-7-sonnet-20250219")),
        ("azure/gpt-4o", "azure", ("openai", "gpt-4o")),
        ("models/gemini-2.5-flash", "google", ("google", "gemini-2.5-flash")),
        ("gemini/gemini-2.5-flash", "google", ("google", "gemini-2.5-flash")),
        (
            "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0",
            "aws",
            ("aws", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
        ),
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", "aws", ("aws", "anthropic.claude-3-5-sonnet-20240620-v1:0")),
        (
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "aws",
            ("aws", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        ),
        (
            "bedrock/converse/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "aws",
            ("aws", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        ),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "aws",
            ("aws", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        ),
    ],
)
def test_routed_names_are_priced_as_the_model_they_name(name: str, provider: str, same_as: tuple[str, str]) -> None:
    book = PriceBook()
    tokens = TokenCounts(10_000, 1_000)
    expected = book.cost(*same_as, TS, tokens)
    assert expected is not None and expected > 0
    assert book.provider_for(name) == provider
    assert book.cost("", name, TS, tokens) == expected
    assert book.cost(provider, name, TS, tokens) == expected


def test_a_bedrock_id_under_its_makers_provider_name_is_still_priced() -> None:
    book = PriceBook()
    tokens = TokenCounts(10_000, 1_000)
    bedrock = book.cost("aws", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", TS, tokens)
    assert book.cost("anthropic", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", TS, tokens) == bedrock


def test_routing_keeps_unknown_models_unpriced_and_other_names_as_they_are() -> None:
    book = PriceBook()
    assert book.cost("", "openai/acme-internal-7b", TS, TokenCounts(100, 10)) is None
    assert book.provider_for("openai/acme-internal-7b") == "openai"  # the prefix says who serves it
    assert book.provider_for("acme-internal-7b") is None
    assert route("meta-llama/Llama-3.3-70B-Instruct") == ("", "meta-llama/Llama-3.3-70B-Instruct")
    assert route("gpt-4o") == ("", "gpt-4o")


def test_every_consumer_resolves_routed_names_the_same_way() -> None:
    book = PriceBook()
    assert (price := book.try_model_price("openai/gpt-4o-mini", TS)) is not None
    assert price.input_per_mtok == Decimal("0.15") and price.provider == "openai"
    assert book.try_model_price("bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0", TS) is not None
    assert estimate(EstimateInput(10, Decimal(1), 1000), "models/gemini-2.5-flash", TS).price.provider == "google"


def test_ingest_prices_a_routed_name_and_fills_its_provider(engine: Engine, database_url: str, tmp_path: Path) -> None:
    row = {"call_id": "r", "timestamp": "2026-11-20T12:00:00Z", "model": "openai/gpt-4o-mini"}
    _ingest(tmp_path, database_url, [{**row, "input_tokens": 1_000_000, "output_tokens": 1_000_000}])
    calls = table_of(CallRecord)
    with engine.connect() as conn:
        assert conn.execute(select(calls.c.provider, calls.c.model, calls.c.cost)).one() == (
            "openai",
            "openai/gpt-4o-mini",
            Decimal("0.75"),
        )


def test_a_custom_tier_price_fills_a_gap_without_unpricing_the_other_tiers() -> None:
    # genai-prices lists Sonnet 4.5's batch price only from 14 October 2026; a company that knows its
    # September batch price adds it for that tier alone.
    september = datetime(2026, 9, 15, tzinfo=UTC)
    batch = CustomPrice("anthropic", "claude-sonnet-4-5", date(2026, 1, 1), {"input_mtok": Decimal("1.5")}, "batch")
    book = PriceBook([batch])
    assert PriceBook().cost(*SONNET, september, TOKENS, "batch") is None
    assert book.cost(*SONNET, september, TokenCounts(100_000, 0), "batch") == Decimal("0.15")
    assert book.cost(*SONNET, september, TokenCounts(100_000, 0)) == Decimal("0.3")  # standard: genai-prices
