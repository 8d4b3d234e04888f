from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

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
    assert list(connectors) == ["aws", "azure", "gcp", "openai", "anthropic"]
    assert not any(c.is_configured() for c in connectors.values())
