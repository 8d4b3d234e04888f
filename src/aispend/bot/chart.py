"""The digest chart: daily AI spend over four weeks, the top 5 workflows stacked, the rest as "other"."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from aispend.bot.views import DailyPoint

if TYPE_CHECKING:
    from matplotlib.figure import Figure

OTHER = "other"


def stack_series(points: list[DailyPoint], top: list[str], start: date, days: int) -> dict[str, list[Decimal]]:
    """Per series, one Decimal per day from `start` (zero-filled); series not in `top` fold into "other"."""
    series: dict[str, list[Decimal]] = {key: [Decimal(0)] * days for key in [*top, OTHER]}
    for point in points:
        index = (point.day - start).days
        if not 0 <= index < days:
            continue
        name = point.series if point.series in top else OTHER
        series[name][index] += point.cost
    if not any(series[OTHER]):
        del series[OTHER]
    return series


def render_chart(
    points: list[DailyPoint],
    top: list[str],
    end: date,
    currency: str,
    *,
    days: int = 28,
    labels: dict[str, str] | None = None,
) -> bytes:
    """PNG bytes of the stacked daily chart for the `days` days before `end` (exclusive)."""
    # Imported here: matplotlib costs about a second, and only the digest draws (never `aispend --help`).
    import matplotlib

    matplotlib.use("Agg")  # no display: render straight to PNG bytes
    from matplotlib import pyplot as plt

    start = end - timedelta(days=days)
    series = stack_series(points, top, start, days)
    x = [start + timedelta(days=i) for i in range(days)]
    figure: Figure = plt.figure(figsize=(10, 4.5), dpi=100)
    try:
        axes = figure.add_subplot(1, 1, 1)
        if series:
            # Matplotlib needs floats; the chart is a picture, every number people read stays Decimal.
            axes.stackplot(
                cast(Any, x),
                *[[float(v) for v in values] for values in series.values()],
                labels=[(labels or {}).get(name, name) for name in series],
                step="mid",
            )
            axes.legend(loc="upper left", fontsize="small")
        else:
            axes.text(
                0.5,
                0.5,
                "No AI spend in these four weeks",
                ha="center",
                va="center",
                transform=axes.transAxes,
            )
        axes.set_title(f"AI spend per day ({currency}), four weeks to {(end - timedelta(days=1)).isoformat()}")
        axes.set_ylabel(currency)
        figure.autofmt_xdate()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", metadata={"Software": None})
        return buffer.getvalue()
    finally:
        plt.close(figure)
