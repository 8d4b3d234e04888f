"""Adversarial `/aispend` arguments over real HTTP, with the real governance tables behind the bot.

Every case gets a reply that names the argument and what is allowed (never "Something went wrong
(error id …)"), and a threshold is stored exactly as the reply says, or not at all. The table runs on SQLite and
on PostgreSQL; the two backends differ only in the largest amount they can store.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import Engine, delete
from sqlmodel import Session, select

from aispend.core.governance.models import Threshold
from tests.bot.test_slack_e2e import Harness, running_bot

FAILED_ON_OUR_SIDE = "Something went wrong"  # what the error handler says of a bug
BIG_NAME = "w" * 100_000
SQLITE, PG = "sqlite", "postgresql"


@pytest.fixture
def real(engine: Engine) -> Iterator[Harness]:
    """The e2e harness with the real governance module (gov_threshold) instead of the in-memory one."""
    with running_bot(engine) as running:
        yield running


@dataclass(frozen=True)
class Case:
    category: str
    text: str
    reply: str | dict[str, str]  # a substring of the reply (per backend when a dict)
    stored: dict[str, Decimal | None] | None = None  # the team:x threshold afterwards (None: none)


def _refused(category: str, text: str, reply: str) -> Case:
    return Case(category, text, reply, None)


CASES = [
    # top
    Case("top", "top", "Top 5 workflows"),
    Case("top", "top month 2", "Top 2 workflows"),
    _refused("top", "top ²", "`²` is neither `week`, `month` nor a number"),
    _refused("top", "top ٣", "`٣` is neither `week`, `month` nor a number"),
    _refused("top", "top 0", "N must be between 1 and 25, got 0"),
    _refused("top", "top 26", "N must be between 1 and 25, got 26"),
    _refused("top", "top " + "9" * 40, "N must be between 1 and 25"),
    _refused("top", "top -1", "`-1` is neither"),
    _refused("top", "top year", "`year` is neither"),
    # names
    Case("names", "workflow support-triage", "Support triage"),
    _refused("names", "workflow", "`workflow` needs a workflow name"),
    _refused("names", "workflow suport-triage", "Did you mean `support-triage`?"),
    _refused("names", "workflow " + BIG_NAME, "A workflow name has at most 128 characters, got 100000"),
    _refused("names", "team " + BIG_NAME, "A team name has at most 128 characters"),
    _refused("names", "model " + BIG_NAME, "A model name has at most 128 characters"),
    _refused("names", "workflow `<!channel>`", "No workflow named"),
    _refused("names", "owner " + BIG_NAME + " <@U0NEW>", "A workflow name has at most 128 characters"),
    _refused("names", "owner support-triage bob", "`bob` is not a @user mention"),
    # outcome (U0FIN is a finance admin; the store's limits: unit 128, display name 256 characters)
    Case("outcome", "outcome sales-emails unit=reply sent", "Outcome of `sales-emails`: one *reply sent*"),
    _refused("outcome", "outcome sales-emails unit=" + BIG_NAME, "Outcome unit must be 1 to 128 characters"),
    _refused("outcome", "outcome sales-emails name=" + BIG_NAME, "Display name must be 1 to 256 characters"),
    _refused("outcome", "outcome " + BIG_NAME + " unit=x", "A workflow name has at most 128 characters"),
    Case("outcome", "outcome sales-emails unit=`<!channel>`", "one *`&lt;!channel&gt;`*"),  # stored as text
    # shadow
    Case("shadow", "shadow", "hadow-AI findings"),
    Case("shadow", "shadow 2026-10", "hadow-AI findings"),
    _refused("shadow", "shadow 0000-01", "`0000-01` is not a month from 2000-01 to 2999-12"),
    _refused("shadow", "shadow 0001-01", "is not a month from 2000-01 to 2999-12"),
    _refused("shadow", "shadow 9999-12", "is not a month from 2000-01 to 2999-12"),
    Case("shadow", "shadow 2000-01", "hadow-AI findings"),
    Case("shadow", "shadow 2999-12", "hadow-AI findings"),
    _refused("shadow", "shadow 2026-13", "is not a month"),
    _refused("shadow", "shadow 2026-1", "is not a month"),
    _refused("shadow", "shadow 2026-10 x", "is not a month"),
    # estimate
    Case("estimate", "estimate dau=1,000 actions=4 tokens=1000 model=gpt-4o", "Estimated monthly cost"),
    _refused("estimate", "estimate dau=² actions=1 tokens=1 model=gpt-4o", "dau must be a whole number from 1 to"),
    _refused(
        "estimate", f"estimate dau={'9' * 32} actions=1 tokens=1 model=gpt-4o", "dau must be a whole number from 1 to"
    ),
    _refused("estimate", "estimate dau=1 actions=1 tokens=99999999999 model=gpt-4o", "tokens must be a whole"),
    _refused("estimate", "estimate dau=0 actions=1 tokens=1 model=gpt-4o", "dau must be a whole number from 1 to"),
    _refused("estimate", "estimate dau=1.5 actions=1 tokens=1 model=gpt-4o", "dau must be a whole number"),
    _refused("estimate", "estimate dau=1,50 actions=1 tokens=1 model=gpt-4o", "dau must be a whole number"),
    _refused("estimate", "estimate dau=1 actions=1 tokens=1", "`estimate` is missing model="),
    _refused("estimate", "estimate dau=1 actions=1 tokens=1 model=" + BIG_NAME, "A model name has at most 128"),
    _refused("estimate", "estimate dau=1 actions=1 tokens=1 model=nope", "No price is known for model `nope`"),
    Case("estimate", "estimate dau=10 actions=0.5 tokens=1000 model=gpt-4o multiplier=5 output=0.3", "5 calls per"),
    Case(
        "estimate", "estimate dau=10 actions=1 tokens=8 model=gpt-4o agentic_multiplier=2 output_share=0.5", "4 output"
    ),
    _refused("estimate", "estimate dau=1 actions=1 tokens=1 model=gpt-4o multiplier=0.5", "multiplier (calls per"),
    _refused("estimate", "estimate dau=1 actions=1 tokens=1 model=gpt-4o multiplier=1,5", "a number from 1 to 1,000"),
    _refused("estimate", "estimate dau=1 actions=1 tokens=1 model=gpt-4o output=1.5", "must be from 0 to 1"),
    _refused("estimate", "estimate dau=1 actions=0 tokens=1 model=gpt-4o", "actions must be a number above 0"),
    _refused("estimate", "estimate dau=1 actions=.5e3 tokens=1 model=gpt-4o", "actions must be a number above 0"),
    # thresholds (U0FIN is a finance admin)
    Case("thresholds", "thresholds set team:x red=500", "red=500", {"yellow": None, "red": Decimal(500)}),
    Case("thresholds", "thresholds set team:x red=$1,500.00", "red=1500", {"yellow": None, "red": Decimal(1500)}),
    Case("thresholds", "thresholds set team:x red=1e3", "red=1000", {"yellow": None, "red": Decimal(1000)}),
    Case(
        "thresholds",
        "thresholds set team:x yellow=0.000000000001 red=0.5",
        "yellow=0.000000000001, red=0.5",
        {"yellow": Decimal("0.000000000001"), "red": Decimal("0.5")},
    ),
    Case(
        "thresholds",
        "thresholds set team:x red=9223372.036854775807",
        "red=9223372.036854775807",
        {"yellow": None, "red": Decimal("9223372.036854775807")},
    ),
    _refused("thresholds", "thresholds set team:x red=0.0000000000000000001", "red level 1E-19 has more than 12"),
    _refused("thresholds", "thresholds set team:x red=1e30", "red level 1E+30 is above the largest amount"),
    _refused("thresholds", "thresholds set team:x red=1e400", "red level 1E+400 is above the largest amount"),
    _refused("thresholds", "thresholds set team:x red=1e-400", "has more than 12 decimal places"),
    _refused("thresholds", "thresholds set team:x red=1e26", "is above the largest amount"),
    Case(
        "thresholds",
        "thresholds set team:x red=1e20",
        {
            SQLITE: "red level 1E+20 is above the largest amount the ledger can store (9223372.036854775807 on SQLite)",
            PG: "red=100000000000000000000",
        },
    ),
    Case(
        "thresholds",
        "thresholds set team:x red=9223372.036854775808",
        {SQLITE: "is above the largest amount", PG: "red=9223372.036854775808"},
    ),
    Case(
        "thresholds",
        "thresholds set team:x red=99999999999999999999999999.999999999999",
        {SQLITE: "is above the largest amount", PG: "red=99999999999999999999999999.999999999999"},
    ),
    Case(
        "thresholds",
        "thresholds set team:x red=12345678901234567890.123456789012",
        {SQLITE: "is above the largest amount", PG: "red=12345678901234567890.123456789012"},
    ),
    _refused("thresholds", "thresholds set team:x yellow=1,50", "yellow '1,50' is ambiguous: a comma may be a decimal"),
    _refused("thresholds", "thresholds set team:x red=1,500", "red '1,500' is ambiguous"),
    _refused("thresholds", "thresholds set team:x red=NaN", "red `NaN` is not an amount"),
    _refused("thresholds", "thresholds set team:x red=Infinity", "red `Infinity` is not an amount"),
    _refused("thresholds", "thresholds set team:x red=abc", "red `abc` is not an amount"),
    _refused("thresholds", "thresholds set team:x red=-5", "red must not be negative"),
    _refused("thresholds", "thresholds set team:x red=0", "red level must be above zero"),
    _refused("thresholds", "thresholds set team:x red=²", "red `²` is not an amount"),
    _refused("thresholds", "thresholds set team:x yellow=500 red=400", "yellow must not be above red"),
    _refused("thresholds", "thresholds set team:" + BIG_NAME + " red=5", "A team name has at most 128 characters"),
    _refused("thresholds", "thresholds set nope red=1", "Scope `nope` must be"),
    _refused("thresholds", "thresholds set team:x blue=1", "`blue=1` should be yellow=AMOUNT or red=AMOUNT"),
    _refused("thresholds", "thresholds set team:x", "needs a scope and at least one of yellow=, red="),
]


def _stored(engine: Engine) -> dict[str, Decimal | None] | None:
    with Session(engine) as session:
        row = session.exec(select(Threshold).where(Threshold.scope_kind == "team", Threshold.scope_key == "x")).first()
    return None if row is None else {"yellow": row.yellow, "red": row.red}


def _reply_levels(text: str) -> dict[str, Decimal | None]:
    """What a "Thresholds of `team:x` set: ..." reply says was stored."""
    levels = dict(re.findall(r"(yellow|red)=([^,.]+(?:\.\d+)?)", text))
    return {k: None if levels.get(k, "None") == "None" else Decimal(levels[k]) for k in ("yellow", "red")}


def run_cases(harness: Harness, cases: list[Case]) -> tuple[Counter[str], Counter[str], list[str]]:
    engine = harness.engine
    dialect = engine.dialect.name
    tried: Counter[str] = Counter()
    handled: Counter[str] = Counter()
    problems: list[str] = []
    for n, case in enumerate(cases):
        with Session(engine) as session:
            session.exec(delete(Threshold))  # type: ignore[call-overload]
            session.commit()
        tried[case.category] += 1
        user = "U0FIN"
        response = harness.command(case.text, user=user, trigger=f"case{n}")
        if response.status_code != 200:
            problems.append(f"{case.text[:60]!r}: HTTP {response.status_code}")
            continue
        harness.fake.wait_for(lambda f, n=n: any(c.path.endswith(f"/case{n}") for c in f.of("response")), 30)
        text = next(c.body["text"] for c in harness.fake.of("response") if c.path.endswith(f"/case{n}"))
        expected = case.reply if isinstance(case.reply, str) else case.reply[dialect]
        stored = _stored(engine)
        wanted = case.stored
        if isinstance(case.reply, dict) and expected.startswith("red="):
            wanted = _reply_levels(expected)
        if FAILED_ON_OUR_SIDE in text or expected not in text:
            problems.append(f"{case.text[:60]!r}: replied {text[:160]!r}")
        elif stored != wanted:
            problems.append(f"{case.text[:60]!r}: replied {text[:100]!r} but stored {stored}")
        elif stored is not None and _reply_levels(text) != stored:
            problems.append(f"{case.text[:60]!r}: the reply {text[:100]!r} is not what was stored ({stored})")
        else:
            handled[case.category] += 1
    return tried, handled, problems


def test_every_argument_case_is_answered_and_stored_as_the_reply_says(real: Harness) -> None:
    tried, handled, problems = run_cases(real, CASES)
    figures = ", ".join(f"{c} {handled[c]}/{tried[c]}" for c in tried)
    print(f"\nFIGURES {real.engine.dialect.name}: {sum(handled.values())}/{sum(tried.values())} handled ({figures})")
    for problem in problems:
        print("PROBLEM", problem[:200])
    assert problems == []
