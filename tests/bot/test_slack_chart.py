"""The digest chart: top 5 stacked, the rest folded into "other", zero-filled days, a real PNG."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from aispend.bot.chart import OTHER, render_chart, stack_series
from aispend.bot.views import DailyPoint

START = date(2026, 10, 26)


def test_series_fold_the_rest_into_other_and_fill_gaps() -> None:
    points = [
        DailyPoint(START, "a", Decimal("1.5")),
        DailyPoint(START, "b", Decimal("2")),
        DailyPoint(START, "c", Decimal("0.25")),
        DailyPoint(START + timedelta(days=2), "d", Decimal("4")),
        DailyPoint(START - timedelta(days=1), "a", Decimal("99")),  # outside the window: ignored
    ]
    series = stack_series(points, ["a", "b"], START, 3)
    assert series == {
        "a": [Decimal("1.5"), Decimal(0), Decimal(0)],
        "b": [Decimal(2), Decimal(0), Decimal(0)],
        OTHER: [Decimal("0.25"), Decimal(0), Decimal(4)],
    }
    assert OTHER not in stack_series(points[:2], ["a", "b"], START, 3)


def test_chart_is_a_png_even_without_data() -> None:
    assert render_chart([], [], START + timedelta(days=28), "USD").startswith(b"\x89PNG\r\n\x1a\n")
    points = [DailyPoint(START + timedelta(days=d), f"w{w}", Decimal(w + d)) for d in range(28) for w in range(8)]
    png = render_chart(points, [f"w{w}" for w in range(5)], START + timedelta(days=28), "EUR")
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
