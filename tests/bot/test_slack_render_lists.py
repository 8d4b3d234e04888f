"""Rendering of scopes and long lists: the company scope reads as a word, a long list is cut with a
count instead of failing, and App Home colours the top five by the same rule as the digest."""

from __future__ import annotations

from aispend.bot.blocks import MAX_TOTAL_BLOCK_TEXT, Message, check_limits, limit_problems
from aispend.bot.digest import coloured
from aispend.bot.render import render_colours, render_home, render_top
from aispend.bot.views import GREEN, RED, YELLOW, HomeData, ScopeColour
from tests.slack_builders import WEEK, digest, row, top, usd


def _texts(blocks: list[dict[str, object]]) -> str:
    return "\n".join(str(b.get("text", {}).get("text", "")) for b in blocks if isinstance(b.get("text"), dict))  # type: ignore[union-attr]


def test_the_company_scope_renders_as_company_not_an_empty_bold_name() -> None:
    colours = [ScopeColour("company", "", GREEN, usd("120"), usd("2000"), usd("2400"))]
    status = render_colours(colours, "Budget status")
    home = render_home(HomeData(month=WEEK, colours=colours, top=top([]), sources=[]))

    for text in (_texts(status.blocks), _texts(home["blocks"])):  # type: ignore[arg-type]
        assert "**" not in text
        assert "company: $120.00" in text or "*company*: $120.00" in text


def test_120_threshold_scopes_with_long_names_are_cut_with_a_count() -> None:
    colours = [
        ScopeColour("workflow", f"workflow-{i:03d}-" + "x" * 60, YELLOW, usd("1000"), usd("900"), usd("1200"))
        for i in range(120)
    ]

    message = render_colours(colours, "Thresholds")

    check_limits(message)
    text = _texts(message.blocks)
    shown = text.count("workflow-")
    assert 0 < shown < 120
    assert f"…and {120 - shown} more" in text


def test_top_25_with_long_names_fits_and_says_what_was_left_out() -> None:
    rows = [row(i + 1, f"wf-{i:02d}-" + "y" * 200, str(5000 - i), label="L" * 200) for i in range(25)]

    message = render_top(top(rows), 25)

    assert not limit_problems(message.blocks)
    total = sum(len(t) for t in _texts(message.blocks).split("\n"))
    assert total <= MAX_TOTAL_BLOCK_TEXT
    text = _texts(message.blocks)
    shown = sum(1 for r in rows if f"*{r.rank}. " in text)
    assert shown == 25 or f"…and {25 - shown} more" in text


def test_app_home_colours_the_top_five_by_the_digest_rule() -> None:
    rows = [row(i + 1, f"wf-{i}", str(500 - i)) for i in range(6)]
    colours = [
        ScopeColour("workflow", "wf-0", RED, usd("500")),
        ScopeColour("workflow", "wf-1", YELLOW, usd("499")),
    ]
    report = coloured(top(rows), colours)
    home = render_home(HomeData(month=WEEK, colours=colours, top=report, sources=digest([]).sources))

    assert [r.colour for r in report.rows[:3]] == [RED, YELLOW, GREEN]
    text = _texts(home["blocks"])  # type: ignore[arg-type]
    assert ":white_circle:" not in text.split("*Top 5 workflows*")[1]
    assert isinstance(render_top(report, 5), Message)
