"""Renderers against golden JSON (tests/fixtures/slack/*.json); every message passes the limits check.

Regenerate the goldens after an intended change:
    AISPEND_UPDATE_GOLDEN=1 pytest tests/bot/test_slack_render.py
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from aispend.bot.blocks import (
    MAX_BLOCKS,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    LimitError,
    Message,
    check_limits,
    escape,
    limit_problems,
    section,
)
from aispend.bot.render import (
    render_alert,
    render_alert_thread_line,
    render_breakdown,
    render_digest,
    render_explain,
    render_home,
    render_top,
    render_workflow,
)
from aispend.bot.views import (
    RECOVERED,
    YELLOW,
    AlertState,
    BreakdownDetail,
    HomeData,
    ScopeColour,
    WorkflowDetail,
)
from tests.conftest import FIXTURES
from tests.slack_builders import WEEK, alert, digest, many_rows, row, top, usd

GOLDEN = FIXTURES / "slack"
LONG = "An extraordinarily long workflow name " * 12
NASTY = 'R&D <script> & "quotes" > ops <!channel> <@U123>'


def golden(name: str, payload: dict[str, Any]) -> None:
    path = GOLDEN / f"{name}.json"
    text = json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if os.environ.get("AISPEND_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden {path.name}: run with AISPEND_UPDATE_GOLDEN=1"
    assert json.loads(text) == json.loads(path.read_text(encoding="utf-8")), f"{name} differs from its golden"


def all_texts(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_digest_typical() -> None:
    message = render_digest(digest([row(1, "support-triage", "1500", label="Support triage"), *many_rows(6)[1:]]))
    golden("digest_typical", message.as_json())
    assert message.blocks[0]["type"] == "header"
    assert "Support triage" in message.text and "$1,500.00" in message.text
    assert "<@U0OWNER>" in all_texts(message.blocks)


def test_digest_zero_workflows() -> None:
    message = render_digest(digest([], changes=[], shadow=[], sources=[], reconciliation_drift=[]))
    golden("digest_zero_workflows", message.as_json())
    assert "No AI spend was recorded" in message.text


def test_digest_200_workflows_shows_top_5_and_fits() -> None:
    message = render_digest(digest(many_rows(200)))
    golden("digest_200_workflows", message.as_json())
    assert "Workflow 005" in message.text and "Workflow 006" not in message.text
    assert "200 workflows with spend" in all_texts(message.blocks)
    assert len(message.blocks) <= MAX_BLOCKS


def test_digest_long_names_and_escaping() -> None:
    rows = [row(1, "long", "900", label=NASTY + LONG, owner="finance@example.com <lead>")]
    message = render_digest(digest(rows, changes=[], shadow=[], sources=[], reconciliation_drift=[]))
    golden("digest_long_and_escaped", message.as_json())
    blob = all_texts(message.blocks)
    assert "R&amp;D &lt;script&gt;" in blob and "&lt;!channel&gt;" in blob and "&lt;@U123&gt;" in blob
    assert "<script>" not in blob and "<!channel>" not in message.text


def test_alert_life_renders() -> None:
    golden("alert_red_open", render_alert(alert(), AlertState()).as_json())
    acked = render_alert(alert(level=YELLOW), AlertState(state="acknowledged", acknowledged_by="U0FIN"))
    golden("alert_yellow_acknowledged", acked.as_json())
    recovered = render_alert(alert(level=RECOVERED), AlertState(state=RECOVERED))
    golden("alert_recovered", recovered.as_json())
    assert [b["type"] for b in recovered.blocks] == ["section"]  # no buttons once recovered
    actions = render_alert(alert(), AlertState()).blocks[-1]
    assert [e.get("action_id") for e in actions["elements"]] == [
        "alert_ack",
        "alert_snooze",
        "alert_assign",
        "alert_explain",
    ]
    golden("alert_thread_line", render_alert_thread_line(alert(), YELLOW).as_json())
    golden("alert_explain", render_explain(alert()).as_json())


def test_top_reply_with_200_workflows_and_zero() -> None:
    golden("top_25_of_200", render_top(top(many_rows(200)), 25).as_json())
    empty = render_top(top([]), 5)
    golden("top_empty", empty.as_json())
    assert "no spend" in empty.text


def _detail(**extra: object) -> WorkflowDetail:
    base = dict(
        key="support-triage",
        label="Support triage",
        period=WEEK,
        cost=usd("1500"),
        previous_cost=usd("1200"),
        change_pct=Decimal("25.0"),
        runs=300,
        calls=1200,
        cost_per_run=usd("5"),
        cost_per_outcome=usd("0.42"),
        outcome_unit="resolved ticket",
        outcomes=3571,
        owner="U0OWNER",
        team="support",
        models=[("gpt-5", usd("1000")), ("claude-sonnet-5", usd("500"))],
        thresholds=ScopeColour("workflow", "support-triage", YELLOW, usd("1500"), usd("1400"), usd("2000")),
    )
    base.update(extra)
    return WorkflowDetail(**base)  # type: ignore[arg-type]


def test_workflow_reply_and_breakdown() -> None:
    golden("workflow_reply", render_workflow(_detail()).as_json())
    nasty = render_workflow(_detail(label=LONG + NASTY, models=[(NASTY, usd("1"))] * 400))
    check_limits(nasty)
    breakdown = BreakdownDetail(
        "team",
        "support",
        WEEK,
        usd("1500"),
        None,
        None,
        1200,
        [("support-triage", usd("1000")), ("", usd("500"))],
    )
    golden("team_reply", render_breakdown(breakdown).as_json())


def test_app_home() -> None:
    home = HomeData(
        month=WEEK,
        colours=[ScopeColour("company", "all", "green", usd("12000"), usd("30000"), usd("40000"))],
        top=top(many_rows(8)),
        sources=digest([]).sources,
    )
    golden("app_home", render_home(home))


def test_limits_check_names_every_problem() -> None:
    too_many = Message(text="x", blocks=[section("a")] * (MAX_BLOCKS + 1))
    with pytest.raises(LimitError, match="51 blocks"):
        check_limits(too_many)
    long_section = [{"type": "section", "text": {"type": "mrkdwn", "text": "a" * (MAX_SECTION_TEXT + 1)}}]
    assert "3001 characters" in limit_problems(long_section)[0]
    long_header = [{"type": "header", "text": {"type": "plain_text", "text": "h" * (MAX_HEADER_TEXT + 1)}}]
    assert "header is 151" in limit_problems(long_header)[0]
    unescaped = [{"type": "section", "text": {"type": "mrkdwn", "text": "R&D <b>"}}]
    assert "unescaped & < >" in limit_problems(unescaped)[0]
    with pytest.raises(LimitError, match="fallback"):
        check_limits(Message(text="", blocks=[]))


def test_escape_and_builders_never_exceed_limits() -> None:
    assert escape("a & b < c > d") == "a &amp; b &lt; c &gt; d"
    block = section(escape("&" * 5000))  # 25,000 characters escaped: clipped without splitting an entity
    text = block["text"]["text"]
    assert len(text) <= MAX_SECTION_TEXT and not limit_problems([block])


def test_sources_render_failures() -> None:
    message = render_digest(digest(many_rows(2)))
    blob = all_texts(message.blocks)
    assert "aws" in blob and "AccessDenied" in blob
    assert datetime(2026, 1, 1, tzinfo=UTC)  # builders use aware datetimes
