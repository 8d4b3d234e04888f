"""`/aispend` parsing: exact usage errors, did-you-mean, every subcommand's arguments."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aispend.bot.commands import Command, UsageError, did_you_mean, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Command("help")),
        ("top", Command("top", {"period": "week", "limit": 5})),
        ("top month 10 --share", Command("top", {"period": "month", "limit": 10}, share=True)),
        ("workflow support triage", Command("workflow", {"name": "support triage"})),
        ("shadow 2026-11", Command("shadow", {"month": "2026-11"})),
        ("thresholds", Command("thresholds", {"action": "show"})),
        (
            "thresholds set workflow:support-triage yellow=$1,000.00 red=1500.50",
            Command(
                "thresholds",
                {
                    "action": "set",
                    "scope_kind": "workflow",
                    "scope": "support-triage",
                    "yellow": Decimal("1000"),
                    "red": Decimal("1500.50"),
                },
            ),
        ),
        (
            "thresholds set company red=40000",
            Command("thresholds", {"action": "set", "scope_kind": "company", "scope": "", "red": Decimal(40000)}),
        ),
        (
            "owner support-triage <@U0NEW|ana>",
            Command("owner", {"workflow": "support-triage", "user": "U0NEW"}),
        ),
        (
            'outcome support-triage unit=resolved ticket name="Support: triage unit=1"',
            Command(
                "outcome",
                {"workflow": "support-triage", "unit": "resolved ticket", "display_name": "Support: triage unit=1"},
            ),
        ),
        (
            "outcome support-triage NAME=“R&amp;D bot” --share",  # Slack's entities, curly quotes
            Command("outcome", {"workflow": "support-triage", "unit": None, "display_name": "R&D bot"}, share=True),
        ),
        (
            "estimate dau=1,000 actions=5 tokens=2000 model=gpt-5",
            Command("estimate", {"dau": 1000, "actions": 5, "tokens": 2000, "model": "gpt-5"}),
        ),
        (
            "estimate dau=10 actions=0.5 tokens=2000 model=gpt-5 multiplier=4 output-share=0.4",
            Command(
                "estimate",
                {
                    "dau": 10,
                    "actions": Decimal("0.5"),
                    "tokens": 2000,
                    "model": "gpt-5",
                    "multiplier": 4,
                    "output": Decimal("0.4"),
                },
            ),
        ),
        ("SYNC", Command("sync")),
    ],
)
def test_parses(text: str, expected: Command) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("budgets", "Unknown subcommand `budgets`.\nUsage: `/aispend help`"),
        ("stauts", "Unknown subcommand `stauts`. Did you mean `status`?\nUsage: `/aispend help`"),
        (
            "top year",
            "`year` is neither `week`, `month` nor a number.\nUsage: `/aispend top [week|month] [N]`",
        ),
        ("top 0", "N must be between 1 and 25, got 0.\nUsage: `/aispend top [week|month] [N]`"),
        ("workflow", "`workflow` needs a workflow name.\nUsage: `/aispend workflow NAME`"),
        ("status now", "`status` takes no arguments, got `now`.\nUsage: `/aispend status`"),
        (
            "shadow november",
            "`november` is not a month from 2000-01 to 2999-12 (YYYY-MM).\nUsage: `/aispend shadow [YYYY-MM]`",
        ),
        (
            "thresholds set team red=5",
            "Scope `team` must be `company` or `workflow:NAME`, `team:NAME`, "
            "`model:NAME`.\nUsage: `/aispend thresholds  |  "
            "/aispend thresholds set SCOPE yellow=AMOUNT red=AMOUNT`",
        ),
        (
            "thresholds set company red=lots",
            "red `lots` is not an amount.\nUsage: `/aispend thresholds  |  "
            "/aispend thresholds set SCOPE yellow=AMOUNT red=AMOUNT`",
        ),
        (
            "thresholds set company yellow=9 red=5",
            "yellow must not be above red.\nUsage: `/aispend thresholds  |  "
            "/aispend thresholds set SCOPE yellow=AMOUNT red=AMOUNT`",
        ),
        ("owner support-triage ana", "`ana` is not a @user mention.\nUsage: `/aispend owner WORKFLOW @user`"),
        (
            'outcome support-triage name="a"b',
            "Put a space after the closing quote of `name=`.\n"
            'Usage: `/aispend outcome WORKFLOW [unit=UNIT] [name="DISPLAY NAME"]`',
        ),
        (
            "outcome support-triage unit= name=x",
            '`unit=` needs a value.\nUsage: `/aispend outcome WORKFLOW [unit=UNIT] [name="DISPLAY NAME"]`',
        ),
        (
            "estimate dau=10 model=x",
            "`estimate` is missing actions=, tokens=.\n"
            "Usage: `/aispend estimate dau=N actions=N tokens=N model=MODEL [multiplier=K] [output=SHARE]`",
        ),
        (
            "estimate dau=-3 actions=1 tokens=1 model=x",
            "dau must be a whole number from 1 to 10,000,000,000, got `-3`.\n"
            "Usage: `/aispend estimate dau=N actions=N tokens=N model=MODEL [multiplier=K] [output=SHARE]`",
        ),
    ],
)
def test_usage_errors_say_exactly_what_was_wrong(text: str, message: str) -> None:
    result = parse(text)
    assert isinstance(result, UsageError)
    assert result.message() == message


def test_did_you_mean() -> None:
    names = ["support-triage", "code-review", "sales-emails"]
    assert did_you_mean("suport-triage", names) == "support-triage"
    assert did_you_mean("CODE-REVEIW", names) == "code-review"
    assert did_you_mean("payroll", names) is None
