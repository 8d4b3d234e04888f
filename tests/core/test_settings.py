from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine

from aispend.bot.data import LedgerData
from aispend.core.settings import Settings
from tests.conftest import REPO_ROOT


def _env_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        names.add(str(choices[0]) if choices else f"AISPEND_{name.upper()}")
    return names


def test_env_example_lists_every_setting_with_a_comment() -> None:
    text = (REPO_ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", text, flags=re.M))
    assert listed == _env_names()
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if re.match(r"^[A-Z][A-Z0-9_]+=", line):
            assert lines[index - 1].startswith("#"), f"{line.split('=')[0]} needs a one-line comment above it"


def test_defaults_and_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT / "tests")  # no .env here
    settings = Settings()
    assert settings.database_url == "sqlite:///./aispend.db"
    assert settings.call_retention_days == 35
    monkeypatch.setenv("AISPEND_AI_SERVICE_NAMES", "Amazon Bedrock, Vertex AI")
    assert Settings().ai_service_names == ["Amazon Bedrock", "Vertex AI"]
    monkeypatch.setenv("AISPEND_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValidationError, match="IANA"):
        Settings()


def test_empty_values_from_env_example_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT / "tests")
    for name in ("AISPEND_ATTRIBUTION_FILE", "AISPEND_PRICES_FILE", "AISPEND_INGEST_WORKERS"):
        monkeypatch.setenv(name, "")
    settings = Settings()
    assert (settings.attribution_file, settings.prices_file, settings.ingest_workers) == (None, None, None)


def test_every_registered_source_builds_from_default_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from aispend.connectors.registry import build_connectors

    monkeypatch.chdir(REPO_ROOT / "tests")
    connectors = build_connectors(Settings())
    assert list(connectors) == ["aws", "azure", "gcp", "openai", "anthropic", "litellm", "langfuse"]
    assert not any(c.is_configured() for c in connectors.values())


# Issue 14 item 4: one setting per concept; the older environment names are still read.
OLD_NAMES = [
    ("AISPEND_STALE_SOURCE_HOURS", "AISPEND_SYNC_STALE_HOURS", "sync_stale_hours", "12", 12.0, "30", 30.0),
    ("AISPEND_SHADOW_FINANCE_ADMINS", "AISPEND_SLACK_FINANCE_ADMINS", "slack_finance_admins", "U1,S2", ["U1", "S2"],
     "U9", ["U9"]),
    ("AISPEND_SHADOW_FINANCE_CHANNEL", "AISPEND_SLACK_FINANCE_CHANNEL", "slack_finance_channel", "C0OLD", "C0OLD",
     "C0NEW", "C0NEW"),
]  # fmt: skip


def _deprecations(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "aispend.core.settings" and r.levelname == "WARNING"]


def _load(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, **env: str) -> tuple[Settings, list[str]]:
    """Settings from `env` (no `.env`) and the deprecation lines that load logged."""
    monkeypatch.chdir(REPO_ROOT / "tests")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    caplog.clear()
    with caplog.at_level("WARNING"):
        settings = Settings()
    return settings, _deprecations(caplog)


@pytest.mark.parametrize("case", OLD_NAMES, ids=[c[0] for c in OLD_NAMES])
def test_an_old_name_is_still_read_with_one_deprecation_line_and_the_new_name_wins(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    case: tuple[str, str, str, str, object, str, object],
) -> None:
    old, new, field, raw, value, new_raw, new_value = case
    settings, [line] = _load(monkeypatch, caplog, **{old: raw})
    assert getattr(settings, field) == value
    assert line == f"setting {old} is deprecated: it is read as {new}; rename it"
    # As .env.example ships it, a blank new name is unset: the old name still counts.
    settings, [line] = _load(monkeypatch, caplog, **{new: ""})
    assert getattr(settings, field) == value and "read as" in line
    settings, [line] = _load(monkeypatch, caplog, **{new: new_raw})
    assert getattr(settings, field) == new_value
    assert line == f"setting {old} is deprecated and ignored: {new} is set too and wins; remove {old}"


def test_old_names_in_dotenv_are_read_and_the_environment_overrides_the_file(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("AISPEND_STALE_SOURCE_HOURS=20\nAISPEND_SHADOW_FINANCE_CHANNEL=\n")
    with caplog.at_level("WARNING"):
        settings = Settings()
    assert settings.sync_stale_hours == 20 and settings.slack_finance_channel == ""
    assert len(_deprecations(caplog)) == 1  # a blank old name is ignored silently
    monkeypatch.setenv("AISPEND_SYNC_STALE_HOURS", "6")
    assert Settings().sync_stale_hours == 6


def test_new_names_and_defaults_log_nothing(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    settings, lines = _load(monkeypatch, caplog)
    assert lines == []
    assert settings.sync_stale_hours == 48 and settings.reconciliation_drift_pct == 5
    assert (settings.slack_finance_admins, settings.slack_finance_channel) == ([], "")


def test_one_staleness_and_one_drift_setting_feed_every_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    from aispend.app import wire
    from aispend.core.governance.config import GovernanceConfig
    from aispend.core.rules.data_quality import stale_source_findings
    from aispend.core.rules.periods import Period

    nov = Period("month", date(2026, 11, 1), date(2026, 12, 1))

    monkeypatch.chdir(REPO_ROOT / "tests")
    settings = Settings(sync_stale_hours=7.5, reconciliation_drift_pct=Decimal(3))
    dq = GovernanceConfig.from_settings(settings).data_quality
    assert (dq.stale_after_hours, dq.drift_max_pct) == (7.5, Decimal(3))
    ledger = wire(settings, create_engine("sqlite://"), lambda: datetime(2026, 11, 23, tzinfo=UTC)).bot.commands.ledger
    assert isinstance(ledger, LedgerData)
    assert (ledger.stale_after, ledger.drift_pct) == (timedelta(hours=7.5), Decimal(3))
    source = {"openai": {"freshest_data_at": datetime(2026, 11, 20, tzinfo=UTC)}}
    [finding] = stale_source_findings(source, datetime(2026, 11, 23, tzinfo=UTC), dq, nov)
    assert finding.summary == "source openai: freshest data is 72 h old (limit 7.5 h)"
    default = GovernanceConfig.from_settings(Settings()).data_quality
    [finding] = stale_source_findings(source, datetime(2026, 11, 23, tzinfo=UTC), default, nov)
    assert finding.summary.endswith("(limit 48 h)") and finding.numbers["limit_hours"] == 48  # not 48.0
