"""`/aispend outcome WORKFLOW unit=… name=…` through the real Bolt app over signed HTTP, with the real
governance module: who may set a workflow's outcome unit and display name, what is stored and audited, the
reply, and `/aispend workflow` showing cost per that unit afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from aispend.bot.commands import USAGE
from aispend.core.ledger.models import Workflow
from aispend.core.timeutil import as_utc
from tests.bot.test_slack_e2e import NOW, Harness, audit_rows, running_bot

OUTCOME_USAGE = 'Usage: `/aispend outcome WORKFLOW [unit=UNIT] [name="DISPLAY NAME"]`'
# The seeded ledger (tests/slack_seed.py): support-triage costs 40 + offset/10 a day from 2026-10-01 and
# records 20 outcomes a day. November so far (1st to 25th, offsets 31 to 55): 1,000 + 107.50 = $1,107.50
# over 500 outcomes, $2.215 each.
SUPPORT_PER_OUTCOME = "$2.22 (500 outcomes)"


@pytest.fixture
def bot(engine: Engine) -> Iterator[Harness]:
    with running_bot(engine) as running:
        yield running


def ask(harness: Harness, text: str, user: str) -> dict[str, Any]:
    """Send `/aispend text` as `user`; the reply Slack received on the command's response_url."""
    trigger = f"t{len(harness.fake.of('response'))}"
    response = harness.command(text, user=user, trigger=trigger)
    assert response.status_code == 200 and response.text == ""  # acknowledged at once
    harness.fake.wait_for(lambda f: any(c.path.endswith(f"/{trigger}") for c in f.of("response")))
    return next(c.body for c in harness.fake.of("response") if c.path.endswith(f"/{trigger}"))


def outcome_of(engine: Engine, key: str) -> tuple[str, str] | None:
    with Session(engine) as session:
        wf = session.get(Workflow, key)
        return (wf.outcome_unit, wf.display_name) if wf else None


def test_a_finance_admin_sets_unit_and_name_and_the_workflow_shows_cost_per_that_unit(bot: Harness) -> None:
    before = ask(bot, "workflow support-triage", "U0SOMEONE")
    assert "*Cost per resolved ticket*" in json.dumps(before["blocks"])

    reply = ask(bot, 'outcome support-triage unit=closed case name="Support bot"', "U0FIN")
    assert reply["response_type"] == "ephemeral"
    assert reply["text"] == (
        "Outcome of `support-triage`: one *closed case*, shown as *Support bot*.\n"
        f"Cost per closed case this month: {SUPPORT_PER_OUTCOME}."
    )
    assert outcome_of(bot.engine, "support-triage") == ("closed case", "Support bot")
    [entry] = audit_rows(bot.engine)
    assert (entry.user_id, entry.action, entry.target, as_utc(entry.at)) == (
        "U0FIN",
        "workflow.outcome",
        "workflow:support-triage",
        NOW,
    )
    assert entry.before == {"outcome_unit": "resolved ticket", "display_name": "Support triage"}
    assert entry.after == {"outcome_unit": "closed case", "display_name": "Support bot"}

    after = ask(bot, "workflow support-triage", "U0SOMEONE")
    fields = [f["text"] for b in after["blocks"] if b["type"] == "section" for f in b.get("fields", [])]
    assert f"*Cost per closed case*\n{SUPPORT_PER_OUTCOME}" in fields
    assert after["text"].startswith("Support bot, ")
    assert after["blocks"][0]["text"]["text"].startswith("Support bot, ")  # the header: the display name


def test_the_owner_may_set_one_of_the_two_and_the_other_stays(bot: Harness) -> None:
    reply = ask(bot, "outcome support-triage UNIT=“answered question”", "U0OWNER")  # curly quotes, any case
    assert reply["text"].startswith("Outcome of `support-triage`: one *answered question*, shown as *Support triage*.")
    assert outcome_of(bot.engine, "support-triage") == ("answered question", "Support triage")
    reply = ask(bot, "outcome support-triage name=R&amp;D &lt;triage&gt;", "U0OWNER")  # Slack's entities
    assert outcome_of(bot.engine, "support-triage") == ("answered question", "R&D <triage>")
    assert "shown as *R&amp;D &lt;triage&gt;*" in reply["text"]  # escaped again for Slack
    assert [(e.user_id, e.after) for e in audit_rows(bot.engine)] == [
        ("U0OWNER", {"outcome_unit": "answered question", "display_name": "Support triage"}),
        ("U0OWNER", {"outcome_unit": "answered question", "display_name": "R&D <triage>"}),
    ]


def test_without_outcomes_the_reply_says_how_they_are_counted(bot: Harness) -> None:
    reply = ask(bot, "outcome sales-emails unit=reply", "U0ADMIN")  # admins count as finance admins
    assert reply["text"] == (
        "Outcome of `sales-emails`: one *reply*, shown as *Sales e-mails*.\n"
        "No outcome is counted this month yet: a run counts when its calls' `outcome` is set and is not a"
        " failure (or a daily count is recorded)."
    )


@pytest.mark.parametrize(
    "user",
    ["U0SOMEONE", "U0DEV"],  # anyone; the owner of another workflow (code-review)
)
def test_who_is_neither_finance_admin_nor_owner_changes_nothing(bot: Harness, user: str) -> None:
    reply = ask(bot, "outcome support-triage unit=closed case", user)
    assert reply["text"] == (
        "Only finance admins or the workflow's current owner can change its outcome. Nothing was changed."
    )
    assert outcome_of(bot.engine, "support-triage") == ("resolved ticket", "Support triage")
    assert audit_rows(bot.engine) == []


LONG_UNIT, LONG_NAME = "u" * 129, "n" * 257
BAD_INPUT = [
    ("outcome", f"`outcome` needs a workflow, then unit= and/or name=.\n{OUTCOME_USAGE}"),
    ("outcome support-triage", f"`outcome support-triage` needs unit= and/or name=.\n{OUTCOME_USAGE}"),
    ("outcome unit=ticket", f"`outcome` needs a workflow, then unit= and/or name=.\n{OUTCOME_USAGE}"),
    ("outcome support-triage unit=", f"`unit=` needs a value.\n{OUTCOME_USAGE}"),
    ('outcome support-triage unit="  " name=x', f"`unit=` needs a value.\n{OUTCOME_USAGE}"),
    ("outcome support-triage unit=a unit=b", f"`unit=` is given twice.\n{OUTCOME_USAGE}"),
    ("outcome support-triage ticket", f"`ticket` should be unit=UNIT or name=NAME.\n{OUTCOME_USAGE}"),
    ('outcome support-triage name="Support bot', f"The quote after `name=` is not closed.\n{OUTCOME_USAGE}"),
    (
        f"outcome support-triage unit={LONG_UNIT}",
        f"Outcome unit must be 1 to 128 characters, got 129. Nothing was changed.\n{OUTCOME_USAGE}",
    ),
    (
        f"outcome support-triage unit=ok name={LONG_NAME}",
        f"Display name must be 1 to 256 characters, got 257. Nothing was changed.\n{OUTCOME_USAGE}",
    ),
    (
        "outcome " + "w" * 129 + " unit=ticket",
        f"A workflow name has at most 128 characters, got 129.\n{OUTCOME_USAGE}",
    ),
    (
        "outcome suport-triage unit=ticket",
        f"No workflow named `suport-triage`. Did you mean `support-triage`?\n{OUTCOME_USAGE}",
    ),
    ("outcome no-such-thing unit=ticket", f"No workflow named `no-such-thing`.\n{OUTCOME_USAGE}"),
]


def test_bad_input_gets_a_clear_reply_and_changes_nothing(bot: Harness) -> None:
    replies = {text: ask(bot, text, "U0FIN")["text"] for text, _ in BAD_INPUT}
    assert replies == dict(BAD_INPUT)
    assert outcome_of(bot.engine, "support-triage") == ("resolved ticket", "Support triage")
    assert outcome_of(bot.engine, "suport-triage") is None and outcome_of(bot.engine, "no-such-thing") is None
    assert audit_rows(bot.engine) == []


def test_help_lists_the_command(bot: Harness) -> None:
    reply = ask(bot, "help", "U0SOMEONE")
    line = f"`{USAGE['outcome']}` — set what one outcome of a workflow is and/or its display name"
    assert line in reply["text"] and "(finance admins or the owner)" in reply["text"]
