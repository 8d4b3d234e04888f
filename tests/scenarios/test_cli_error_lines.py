"""Errors become one line in one place, the root command group: a domain error is `error[<code>]: <message>`
and exit 2; a bug is logged with an error id and its traceback, and the user sees one line naming the id."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from aispend.cli.errors import EXIT_DOMAIN, EXIT_INTERNAL
from aispend.cli.main import app
from tests.scenarios.test_cli_errors import ROW

SECRET = "sk-ant-admin01-abcdefghijklmnopqrstuvwxyz"
ID_LINE = re.compile(r"error\[internal\]: unexpected error \(error id ([0-9a-f]{8})\); (.*)")


def invoke(tmp_path: Path, args: list[str], **env: str) -> Result:
    base = {"AISPEND_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}", "COLUMNS": "1000"}
    return CliRunner().invoke(app, args, env={**base, **env})


@pytest.fixture
def calls_file(tmp_path: Path) -> Path:
    path = tmp_path / "calls.jsonl"
    path.write_text(json.dumps(ROW) + "\n")
    return path


def test_a_domain_error_is_one_line_with_its_code_and_exit_2(tmp_path: Path, calls_file: Path) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text('[[price]]\nprovider = "internal"\n')  # no model, no prices
    result = invoke(tmp_path, ["ingest", "calls", str(calls_file)], AISPEND_PRICES_FILE=str(prices))
    assert result.exit_code == EXIT_DOMAIN, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error[invalid_prices]: "), result.output
    assert str(prices) in lines[0] and "Traceback" not in result.output


def test_an_unknown_source_is_a_domain_error(tmp_path: Path) -> None:
    result = invoke(tmp_path, ["sync", "nosuch", "--json"])
    assert result.exit_code == EXIT_DOMAIN, result.output
    assert result.output.strip().startswith("error[unknown_source]: ") and "nosuch" in result.output


def _break_the_migration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulates a bug inside a command (there is no real one to trigger): the engine's migration raises."""

    def broken(engine: object) -> None:
        raise RuntimeError(f"a bug, with a secret {SECRET} in it")

    monkeypatch.setattr("aispend.cli.runtime.upgrade", broken)


def test_a_bug_is_logged_with_an_id_and_the_user_sees_the_id_not_a_traceback(
    tmp_path: Path, calls_file: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _break_the_migration(monkeypatch)
    with caplog.at_level(logging.ERROR, logger="aispend.cli"):
        result = invoke(tmp_path, ["ingest", "calls", str(calls_file)])
    assert result.exit_code == EXIT_INTERNAL and "Traceback" not in result.output, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    shown = ID_LINE.fullmatch(lines[0])
    assert shown is not None and shown.group(2) == "the traceback is in the log", lines[0]
    [record] = [r for r in caplog.records if r.name == "aispend.cli"]
    assert record.error_id == shown.group(1) and shown.group(1) in record.getMessage()  # type: ignore[attr-defined]
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)


def test_without_logging_set_up_the_traceback_is_shown_only_when_asked(
    tmp_path: Path, calls_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _break_the_migration(monkeypatch)
    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # as a one-shot command runs: no log handler
    quiet = invoke(tmp_path, ["ingest", "calls", str(calls_file)])
    assert quiet.exit_code == EXIT_INTERNAL and "Traceback" not in quiet.output, quiet.output
    [line] = quiet.output.strip().splitlines()
    shown = ID_LINE.fullmatch(line)
    assert shown is not None and "AISPEND_LOG_LEVEL=DEBUG" in shown.group(2), line

    secret = {"AISPEND_ANTHROPIC_ADMIN_KEY": SECRET}
    asked = invoke(tmp_path, ["ingest", "calls", str(calls_file)], AISPEND_LOG_LEVEL="DEBUG", **secret)
    assert asked.exit_code == EXIT_INTERNAL
    assert "Traceback" in asked.stderr and "RuntimeError: a bug" in asked.stderr
    assert SECRET not in asked.stderr and "[redacted]" in asked.stderr  # the log's redaction still applies
    shown = ID_LINE.search(asked.stderr)
    assert shown is not None and f"error id {shown.group(1)}" in asked.stderr.split("Traceback")[0]


def test_an_alert_not_found_is_a_domain_error(tmp_path: Path) -> None:
    for args in (["alerts", "ack", "no|such:alert|here"], ["alerts", "snooze", "no|such:alert|here"]):
        result = invoke(tmp_path, args)
        assert result.exit_code == EXIT_DOMAIN, result.output
        assert result.output.strip() == "error[not_found]: no alert 'no|such:alert|here'", result.output
