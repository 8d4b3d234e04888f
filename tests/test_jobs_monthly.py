"""The monthly review job: the shadow-AI audit of last month, posted to finance with the audience the
privacy rules allow, with a dedupe key per month."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from aispend.core.settings import Settings
from aispend.jobs.monthly import monthly_review_job
from aispend.jobs.registry import JobContext
from aispend.shadow.service import ingest_files

SHADOW = Path(__file__).parent / "fixtures" / "shadow"
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
    summary, posts = _run(engine, Settings(shadow_rates_file=SHADOW / "rates.csv"))
    assert summary == "shadow-AI audit for 2026-10 posted to #finance (general audience)"
    ((channel, text, key),) = posts.sent
    assert channel == "finance" and key == "monthly-review:shadow-ai:2026-10"
    assert text.startswith("Monthly review, October 2026: shadow AI")
    assert "New AI vendor Cursor" in text
    assert "Dana Reyes" not in text  # no per-person lines outside the finance channel


def test_the_finance_channel_gets_the_per_person_lines(engine: Engine) -> None:
    settings = Settings(shadow_rates_file=SHADOW / "rates.csv", shadow_finance_channel="C0FINANCE")
    summary, posts = _run(engine, settings)
    ((channel, text, _key),) = posts.sent
    assert channel == "C0FINANCE" and "(finance audience)" in summary
    assert "Dana Reyes" in text
