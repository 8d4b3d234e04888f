"""`estimate`: the monthly cost of a planned AI feature, the one answer `aispend estimate` and
`/aispend estimate` give.

The pure formula (aispend.core.rules.estimate: DAU x actions x tokens x days x agentic multiplier,
split by the output share) fed with the price book's per-million list prices at the estimate's time:
genai-prices, or the company's prices file for a model it prices itself. Those prices are USD. When
the company currency (AISPEND_CURRENCY) is not USD the figure is converted with the dated rates
(AISPEND_RATES_FILE) of the estimate's day, as every other amount is; with no such rate the figure
stays in USD and `note` says why — never a silent 1.0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext

from aispend.core.money import Money
from aispend.core.pricing import ModelPrice, PriceBook
from aispend.core.rates import RateError, RateTable
from aispend.core.rules.estimate import Estimate, EstimateInput, estimate_monthly


@dataclass(frozen=True, slots=True)
class ModelEstimate:
    spec: EstimateInput
    price: ModelPrice  # the list prices used (USD per million tokens)
    figures: Estimate  # tokens per month, and the costs in the prices' currency
    monthly: Money  # the monthly cost, in the company currency when a rate converts it
    per_call: Money  # one call's cost (one user action is spec.agentic_multiplier calls), same currency
    rate: Decimal | None = None  # the rate from the prices' currency used, None when not converted
    note: str = ""  # why the figure is not in the company currency, when it is not


def estimate(
    spec: EstimateInput, model: str, at: datetime, prices: PriceBook | None = None, rates: RateTable | None = None
) -> ModelEstimate:
    """The estimate of `spec` on `model` (provider:model or a model name); LookupError if it has no price.

    `rates` carries the company currency; None (or a USD company) leaves the figure in USD."""
    price = (prices or PriceBook()).model_price(model, at)
    figures = estimate_monthly(spec, price.input_per_mtok, price.output_per_mtok)
    currency, rate, note = price.currency, None, ""
    if rates is not None and rates.company_currency != price.currency:
        try:
            rate = rates.rate(price.currency, at.date())
            currency = rates.company_currency
        except RateError:
            note = (
                f"in {price.currency}: no {price.currency} -> {rates.company_currency} rate for"
                f" {at.date().isoformat()} in the rates file (AISPEND_RATES_FILE)"
            )
    factor = Decimal(1) if rate is None else rate
    with localcontext() as exact:
        exact.prec = 100  # exact: no product of these is rounded
        monthly, per_call = figures.monthly_cost * factor, figures.call_cost * factor
    return ModelEstimate(spec, price, figures, Money(monthly, currency), Money(per_call, currency), rate, note)


@dataclass
class Estimator:
    """`estimate` for one deployment: its price book (the prices file is read on first use, so a broken
    file is the estimate's error, not the bot's at start) and its dated rates."""

    prices: Callable[[], PriceBook] = PriceBook
    rates: RateTable | None = None
    _book: PriceBook | None = field(default=None, init=False, repr=False)

    def __call__(self, spec: EstimateInput, model: str, at: datetime) -> ModelEstimate:
        if self._book is None:
            self._book = self.prices()
        return estimate(spec, model, at, self._book, self.rates)
