"""One estimator: `aispend estimate` and `/aispend estimate` give the same figure for the same inputs,
the agentic multiplier and output share included, priced by the one price book (custom prices too),
in the company currency when a dated rate converts it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from aispend.core.estimate import estimate
from aispend.core.pricing import CUSTOM_PRICES, CustomPrice, PriceBook
from aispend.core.rates import RateTable, load_rates
from aispend.core.rules.estimate import EstimateInput
from tests.bot.test_slack_e2e import Harness, running_bot
from tests.clihelp import run_cli

TS = datetime(2026, 11, 25, 10, tzinfo=UTC)
CENT = Decimal("0.01")
# 1,000 DAU x 2.5 actions x 3 calls x 30 days x 1,200 tokens = 270M tokens a month, 40% of them output.
SLACK = "estimate dau=1,000 actions=2.5 tokens=1200 model={model} multiplier=3 output=0.4"
CLI = ["estimate", "--dau", "1000", "--actions", "2.5", "--tokens", "1200", "--agentic-multiplier", "3"]
CLI += ["--output-share", "0.4", "--json", "--model"]
PRICES = """
[[price]]
provider = "internal"
model = "acme-ft-v3"
input_mtok = "0.20"
output_mtok = "0.40"
"""


def _slack(harness: Harness, text: str) -> str:
    harness.command(text, trigger="est")
    harness.fake.wait_for(lambda f: len(f.of("response")) == 1)
    return str(harness.fake.of("response")[0].body["text"])


def _slack_amount(reply: str) -> Decimal:
    match = re.match(r"\*Estimated monthly cost:\* [^0-9]*([0-9,]+\.[0-9]{2})", reply)
    assert match, reply
    return Decimal(match.group(1).replace(",", ""))


def _cli_requested(database_url: str, model: str, **env: str) -> dict[str, object]:
    result = run_cli([*CLI, model], database_url, **env)
    assert result.exit_code == 0, result.output
    [requested] = [e for e in json.loads(result.stdout)["estimates"] if e["role"] == "requested"]
    return requested


@pytest.fixture
def harness(engine: Engine) -> Iterator[Harness]:
    with running_bot(engine) as running:
        yield running


def test_cli_and_slack_give_the_same_figure_with_the_multiplier(harness: Harness, database_url: str) -> None:
    reply = _slack(harness, SLACK.format(model="gpt-4o"))
    cli = _cli_requested(database_url, "gpt-4o")
    # gpt-4o: $2.50 / M input, $10 / M output: 162M input = $405, 108M output = $1,080.
    assert cli["monthly_cost"] == {"amount": "1485", "currency": "USD"}
    assert cli["per_call"] == {"amount": "0.0066", "currency": "USD"}  # 720 in + 480 out tokens
    assert _slack_amount(reply) == Decimal(cli["monthly_cost"]["amount"]).quantize(CENT)  # type: ignore[index]
    assert reply == (
        "*Estimated monthly cost:* $1,485.00 (openai gpt-4o)\n"
        "1,000 daily users × 2.5 actions × 3 calls per action × 30 days at $0.0066 per call"
        " (720 input + 480 output tokens, today's list prices)."
    )


def test_custom_prices_and_the_company_currency_are_the_same_in_both(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    prices, rates = tmp_path / "prices.toml", tmp_path / "rates.csv"
    prices.write_text(PRICES, encoding="utf-8")
    rates.write_text("currency,effective_from,rate\nUSD,2026-01-01,0.9\n", encoding="utf-8")
    with running_bot(engine, currency="EUR", prices_file=prices, rates_file=rates) as bot:
        reply = _slack(bot, SLACK.format(model="acme-ft-v3"))
    env = {"AISPEND_CURRENCY": "EUR", "AISPEND_PRICES_FILE": str(prices), "AISPEND_RATES_FILE": str(rates)}
    cli = _cli_requested(database_url, "acme-ft-v3", **env)
    # 162M x $0.20 + 108M x $0.40 = $75.60, at 0.9 EUR per USD.
    assert cli["monthly_cost"] == {"amount": "68.04", "currency": "EUR"}
    assert cli["price_source"] == CUSTOM_PRICES and cli["converted_from"] == {"currency": "USD", "rate": "0.9"}
    assert _slack_amount(reply) == Decimal("68.04")
    assert reply.startswith("*Estimated monthly cost:* €68.04 (internal acme-ft-v3)\n")
    assert "the company's own prices" in reply and "Converted from USD prices at 0.9 EUR per USD." in reply


def test_without_a_rate_the_figure_stays_in_usd_and_says_so() -> None:
    est = estimate(EstimateInput(10, Decimal(1), 1000), "gpt-4o", TS, rates=RateTable("EUR"))
    assert est.monthly.currency == "USD" and est.rate is None
    assert est.note == "in USD: no USD -> EUR rate for 2026-11-25 in the rates file (AISPEND_RATES_FILE)"


def test_a_custom_price_wins_for_its_model_from_its_day() -> None:
    custom = CustomPrice("openai", "gpt-4o", datetime(2026, 12, 1).date(), {"input_mtok": Decimal("1.5")})
    book = PriceBook([custom])
    assert book.model_price("openai:gpt-4o", TS).input_per_mtok == Decimal("2.5")  # before its since day
    later = book.model_price("openai:gpt-4o", datetime(2026, 12, 2, tzinfo=UTC))
    assert (later.input_per_mtok, later.output_per_mtok, later.cache_read_per_mtok) == (
        Decimal("1.5"),
        0,
        Decimal("1.5"),
    )
    assert later.source == CUSTOM_PRICES and later.tier == "frontier"


def test_the_figure_is_exact_far_past_the_default_precision() -> None:
    spec = EstimateInput(10_000_000_000, Decimal("999999.5"), 10_000_000, Decimal("0.3"), Decimal(1000))
    est = estimate(spec, "gpt-4o", TS)
    tokens = Decimal(10_000_000_000) * Decimal("999999.5") * 30 * 1000 * 10_000_000
    assert est.figures.monthly_tokens == tokens
    assert est.monthly.amount == (tokens * Decimal("0.7") * Decimal("2.5") + tokens * Decimal("0.3") * 10) / 10**6
    assert est.monthly.amount.quantize(CENT, rounding=ROUND_HALF_EVEN) == est.monthly.amount


def test_rates_load_for_the_estimate_as_for_every_amount(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text("currency,effective_from,rate\nUSD,2026-12-01,0.95\n", encoding="utf-8")
    est = estimate(EstimateInput(10, Decimal(1), 1000), "gpt-4o", TS, rates=load_rates(path, "EUR"))
    assert est.monthly.currency == "USD" and "for 2026-11-25" in est.note  # the rate starts after the day
