"""The monthly review job: the shadow-AI audit of last month, posted to finance with the audience the
privacy rules allow, with a dedupe key per month."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Engine
from sqlmodel import Session

from aispend.connectors.expenses.ingest import ingest_files
from aispend.core.governance import store
from aispend.core.rules.findings import COMPANY
from aispend.core.rules.thresholds import Threshold
from aispend.core.settings import Settings
from aispend.jobs.monthly import monthly_review_job
from aispend.jobs.registry import JobContext
from tests.conftest import FIXTURES
from tests.governance_builders import insert, rollup

SHADOW = FIXTURES / "shadow"
FIRST_BUSINESS_DAY = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # Monday 2 November


@dataclass
class Posts:
    sent: list[tuple[str, str, str | None]] = field(default_factory=list)

    def post(self, channel: str, text: str, *, dedupe_key: str | None = None) -> None:
        self.sent.append((channel, text, dedupe_key))


def _run(engine: Engine, settings: Settings) -> tuple[str, Posts]:
    ingest_files(engine, [SHADOW / "ramp.csv"], "ramp", {}, settings, FIRST_BUSINESS_DAY)
    posts = Posts()
    context = JobContext(
        name="monthly_review",
        settings=settings,
        engine=engine,
        now=FIRST_BUSINESS_DAY,
        slot=FIRST_BUSINESS_DAY,
        notifier=posts,
    )
    return monthly_review_job(context).summary, posts


def test_without_a_finance_channel_the_review_goes_to_finance_teams_only(engine: Engine) -> None:
    summary, posts = _run(engine, Settings(rates_file=SHADOW / "rates.csv"))
    assert summary == ("thresholds and shadow-AI audit for 2026-10 posted (shadow AI to #finance, general audience)")
    thresholds, (channel, text, key) = posts.sent
    assert thresholds == (
        "finance",
        "Monthly review, October 2026: thresholds against actual spend (0)\n"
        "- no thresholds set (`aispend thresholds set`)",
        "monthly-review:thresholds:2026-10",
    )
    assert channel == "finance" and key == "monthly-review:shadow-ai:2026-10"
    assert text.startswith("Monthly review, October 2026: shadow AI")
    assert "New AI vendor Cursor" in text
    assert "Dana Reyes" not in text  # no per-person lines outside the finance channel


def test_the_finance_channel_gets_the_per_person_lines(engine: Engine) -> None:
    settings = Settings(rates_file=SHADOW / "rates.csv", slack_finance_channel="C0FINANCE")
    summary, posts = _run(engine, settings)
    _thresholds, (channel, text, _key) = posts.sent
    assert channel == "C0FINANCE" and "finance audience" in summary
    assert "Dana Reyes" in text


def test_thresholds_are_judged_against_the_whole_month(engine: Engine) -> None:
    with Session(engine) as session:
        store.set_threshold(
            session,
            Threshold(COMPANY, "month", Decimal(80), Decimal(100), "USD"),
            actor="cfo",
            now=FIRST_BUSINESS_DAY,
        )
        session.commit()
    insert(engine, rollup(date(2026, 10, 5), "60", "a"), rollup(date(2026, 10, 20), "70", "b"))
    _summary, posts = _run(engine, Settings(rates_file=SHADOW / "rates.csv"))
    (_channel, text, _key), _shadow = posts.sent
    assert text.splitlines()[0] == "Monthly review, October 2026: thresholds against actual spend (1)"
    assert text.splitlines()[1].startswith("- RED: ")
