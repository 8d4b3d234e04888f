"""`/aispend shadow` and the digest's shadow section over the shadow module's real monthly audit."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Engine

from aispend.bot.data import LedgerData, ShadowSource
from aispend.bot.digest import gather_digest
from aispend.bot.handlers import CommandContext, run_command
from aispend.bot.permissions import Permissions
from aispend.connectors.expenses.ingest import ingest_files
from aispend.core.settings import Settings
from tests.conftest import FIXTURES

SHADOW_FIXTURES = FIXTURES / "shadow"
NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def _ingest(engine: Engine) -> Settings:
    settings = Settings(database_url="sqlite://", rates_file=SHADOW_FIXTURES / "rates.csv")  # type: ignore[call-arg]
    for platform in ("expensify", "ramp", "brex", "concur", "navan"):
        assert ingest_files(engine, [SHADOW_FIXTURES / f"{platform}.csv"], platform, {}, settings, NOW).errors == []
    return settings


def test_finance_admins_see_more_than_everyone_else(engine: Engine) -> None:
    settings = _ingest(engine)
    ctx = CommandContext(
        engine=engine, ledger=LedgerData(engine), governance=None,
        permissions=Permissions(["U0FIN"], [], None, lambda: NOW), shadow=ShadowSource(engine, settings),
    )  # fmt: skip
    finance = run_command(ctx, "shadow 2026-10", "U0FIN", NOW).message.text
    general = run_command(ctx, "shadow 2026-10", "U0SOMEONE", NOW).message.text
    assert finance.startswith("*Shadow-AI findings, 2026-10*\n") and general.startswith("*Shadow-AI findings, 2026-10*")
    assert "• Midjourney: New AI vendor Midjourney: first charge 2026-10-07" in general
    assert "Team Marketing pays for 2 video tools" in finance  # a team under the minimum group size...
    assert "Team Marketing" not in general  # ...is never shown to everyone
    assert set(general.splitlines()) < set(finance.splitlines())


def test_digest_lists_new_vendors_of_the_month(engine: Engine) -> None:
    settings = _ingest(engine)
    data = gather_digest(LedgerData(engine), None, NOW, week=date(2026, 10, 14), shadow=ShadowSource(engine, settings))
    vendors = {f.vendor for f in data.shadow}
    assert {"Midjourney", "Cursor", "Amazon Bedrock"} <= vendors
    assert all(f.detail.startswith("New AI vendor") or "spend" in f.detail for f in data.shadow)
