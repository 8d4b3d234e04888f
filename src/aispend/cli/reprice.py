"""`aispend reprice --since DATE`: re-price kept raw calls with the current price data."""

from __future__ import annotations

from typing import Annotated

import typer

from aispend.cli.runtime import err_console, runtime
from aispend.core.ledger.calls import purge_watermark
from aispend.core.ledger.reprice import reprice_calls
from aispend.core.money import format_money
from aispend.core.pricing import price_book
from aispend.core.timeutil import parse_date, start_of_day


def reprice(
    ctx: typer.Context,
    since: Annotated[str, typer.Option(help="First day to re-price (YYYY-MM-DD, UTC).")],
    until: Annotated[str | None, typer.Option(help="Day after the last (YYYY-MM-DD, exclusive).")] = None,
) -> None:
    """Re-price calls whose cost was computed from tokens, or that were unpriced, with today's price data.

    Costs given in the logs are never changed. Only raw calls still kept (AISPEND_CALL_RETENTION_DAYS)
    can be re-priced; rollups and run totals are corrected by the difference.
    """
    rt = runtime(ctx)
    try:
        since_at = start_of_day(parse_date(since))
        until_at = start_of_day(parse_date(until)) if until else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    engine = rt.engine()
    with engine.connect() as conn:
        watermark = purge_watermark(conn)
    if watermark is not None and since_at < watermark:
        err_console.print(
            f"note: raw calls before {watermark.date()} were purged (retention); re-pricing from there on"
        )
    summary = reprice_calls(engine, since=since_at, until=until_at, prices=price_book(rt.settings))
    typer.echo(f"Checked {summary.checked:,} calls; {summary.changed:,} changed.")
    for currency, amount in sorted(summary.delta.items()):
        typer.echo(f"Change in total: {'+' if amount >= 0 else ''}{format_money(amount, currency)}")
    if summary.newly_priced:
        listed = ", ".join(f"{m} ({n:,})" for m, n in summary.newly_priced.most_common())
        typer.echo(f"Newly priced models: {listed}")
    if summary.still_unpriced:
        listed = ", ".join(f"{m} ({n:,}) — {why}" for (m, why), n in summary.still_unpriced.most_common())
        typer.echo(f"Still unpriced (kept, not counted as $0): {listed}")
