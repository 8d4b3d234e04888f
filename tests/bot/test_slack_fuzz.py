"""Malformed but validly signed Slack bodies (slash commands, interactivity payloads, events), generated
by Hypothesis and sent over real HTTP: never a 500, never a traceback or error in the log, and no state
change (thresholds, audits, alert messages, owners, outcome units and names) from a user who may change nothing."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from aispend.bot.models import AlertMessage, AuditEntry
from aispend.core.governance.models import Threshold, ThresholdAudit
from aispend.core.ledger.models import Workflow
from tests.bot.test_slack_e2e import Harness, running_bot, signed
from tests.bot.test_slack_gate import JSON, InlineExecutor

ANSWERS = {200, 400, 404}  # 404: Bolt has no listener for a well-formed request of a kind it was not given
FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,  # the same examples on every run: a suite that passes on any date and machine
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Users who may change nothing: not a finance admin, admin or workflow owner of the seeded ledger.
users = st.one_of(st.sampled_from(["U0SOMEONE", "W1", "", "U"]), st.text(max_size=12)).filter(
    lambda u: u not in {"U0FIN", "U0GROUPFIN", "U0ADMIN", "U0OWNER", "U0DEV"}
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
words = st.sampled_from(
    ["top", "workflow", "team", "model", "shadow", "thresholds", "set", "owner", "outcome", "unit=", "name=",
     "estimate", "sync", "help",
     "status", "--share", "company", "team:x", "workflow:support-triage", "red=", "yellow=", "dau=", "1e400",
     "1,50", "²", "0000-01", "<@U0NEW>", "support-triage", "`", "*", "<!channel>", "\u0000", "-1", "9" * 40]
)  # fmt: skip
command_texts = st.one_of(st.text(max_size=60), st.lists(words | st.text(max_size=8), max_size=8).map(" ".join))


@pytest.fixture
def fuzzed(engine: Engine) -> Iterator[Harness]:
    with running_bot(engine, InlineExecutor()) as running:
        yield running


def _state(engine: Engine) -> tuple[object, ...]:
    with Session(engine) as session:
        counts = tuple(
            session.exec(select(func.count()).select_from(model)).one()[0]  # type: ignore[call-overload]
            for model in (Threshold, ThresholdAudit, AuditEntry, AlertMessage)
        )
        columns = (Workflow.key, Workflow.owner, Workflow.outcome_unit, Workflow.display_name)
        workflows = tuple(session.exec(select(*columns).order_by(Workflow.key)).all())  # type: ignore[call-overload]
    return counts + workflows


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(record)


FIGURES: Counter[str] = Counter()


def _send(harness: Harness, category: str, body: str, content_type: str) -> None:
    reply_url = harness.fake.response_url("fuzz")
    body = body.replace(REPLY_URL, reply_url if content_type == JSON else urlencode({"": reply_url})[1:])
    before = _state(harness.engine)
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    try:
        headers = signed(body, content_type=content_type)
        response = httpx.post(harness.url, content=body.encode(), headers=headers, timeout=30)
    finally:
        logging.getLogger().removeHandler(errors)
    FIGURES[f"{category} tried"] += 1
    assert response.status_code in ANSWERS, (response.status_code, body[:300])
    assert errors.records == [], [(r.name, r.getMessage()[:200]) for r in errors.records]
    assert _state(harness.engine) == before, body[:300]
    FIGURES[f"{category} handled"] += 1


def _form(fields: dict[str, Any]) -> str:
    return urlencode({k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()})


FORM = "application/x-www-form-urlencoded"
REPLY_URL = "REPLY-URL"  # replaced by the fake Slack's response_url when sent
Body = tuple[str, str]  # (body, content type)


@st.composite
def slash_commands(draw: st.DrawFn) -> Body:
    fields: dict[str, Any] = {
        "command": draw(st.sampled_from(["/aispend", "/other", ""]) | st.text(max_size=10)),
        "text": draw(command_texts),
        "user_id": draw(users),
        "response_url": draw(st.sampled_from([REPLY_URL, "", "x", "javascript:alert(1)", "http://"])),
        **draw(st.dictionaries(st.sampled_from(["team_id", "trigger_id", "payload", "ssl_check"]), json_values)),
    }
    drop = draw(st.sets(st.sampled_from(["command", "text", "user_id", "response_url"])))
    return _form({k: v for k, v in fields.items() if k not in drop}), FORM


actions = st.fixed_dictionaries(
    {"action_id": st.sampled_from(["alert_ack", "alert_snooze", "alert_explain", "alert_assign"]) | json_values},
    optional={"value": json_values, "block_id": json_values, "action_ts": json_values, "selected_user": json_values},
)


@st.composite
def interactivity_payloads(draw: st.DrawFn) -> Body:
    raw = draw(st.none() | st.text(max_size=40))
    payload = {
        "type": draw(st.sampled_from(["block_actions", "view_submission", "shortcut", "message_action"]) | json_values),
        "user": draw(st.one_of(users.map(lambda u: {"id": u}), json_values)),
        "actions": draw(st.one_of(st.lists(actions | json_values, max_size=3), json_values)),
        "response_url": draw(st.sampled_from([REPLY_URL, "", "x"]) | json_values),
        **draw(st.dictionaries(st.sampled_from(["team", "trigger_id", "view", "authorizations"]), json_values)),
    }
    return urlencode({"payload": raw if raw is not None else json.dumps(payload)}), FORM


@st.composite
def events(draw: st.DrawFn) -> Body:
    raw = draw(st.none() | st.text(max_size=40))
    event = draw(
        st.fixed_dictionaries(
            {"type": st.sampled_from(["app_home_opened", "message", "app_mention"]) | json_values},
            optional={"user": users | json_values, "tab": json_values, "channel": json_values},
        )
        | json_values
    )
    extra = draw(st.dictionaries(st.sampled_from(["challenge", "team_id", "event_id", "authorizations"]), json_values))
    kind = draw(st.sampled_from(["event_callback", "url_verification", "app_rate_limited"]) | json_values)
    return (raw if raw is not None else json.dumps({"type": kind, "event": event, **extra})), JSON


CATEGORIES = {  # for a corpus of the same bodies outside pytest (the before/after figures)
    "slash commands": slash_commands(),
    "interactivity payloads": interactivity_payloads(),
    "events": events(),
}


@FUZZ
@given(body=slash_commands())
def test_fuzzed_slash_commands(fuzzed: Harness, body: Body) -> None:
    _send(fuzzed, "slash commands", *body)


@FUZZ
@given(body=interactivity_payloads())
def test_fuzzed_interactivity_payloads(fuzzed: Harness, body: Body) -> None:
    _send(fuzzed, "interactivity payloads", *body)


@FUZZ
@given(body=events())
def test_fuzzed_events(fuzzed: Harness, body: Body) -> None:
    _send(fuzzed, "events", *body)


def test_zz_fuzz_figures() -> None:
    """Prints how many fuzzed bodies were sent and handled per category (run after the fuzz tests)."""
    print("\nFUZZ " + ", ".join(f"{k}: {v}" for k, v in sorted(FIGURES.items())))
