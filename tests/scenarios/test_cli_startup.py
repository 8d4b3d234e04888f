"""Starting `aispend` imports no provider SDK, no plotting library and no migration tool; `--version` answers.

benchmarks/startup.py measures the time; these tests pin the imports that made it slow (issue 13).
Commands are listed statically and their modules imported when they run (aispend.cli.lazy): `--help`
imports no command module, yet lists every command with its own help line, and every command's
`--help` still works.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tomllib
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from aispend import __version__
from aispend.cli import ingest, main, report
from aispend.cli.lazy import Lazy, first_paragraph, load
from aispend.cli.main import app
from aispend.core.ledger.db import alembic_config, make_engine, script_head
from tests.conftest import REPO_ROOT

# Imported only by the command that uses each: sync (the SDKs), the digest (matplotlib), the schema (alembic).
DEFERRED = ("openai", "boto3", "botocore", "azure", "google.cloud", "grpc", "matplotlib", "alembic")
# Not needed to print the help: the ORM, the settings, the bot, the scheduler, the database layer.
NOT_FOR_HELP = (
    "sqlalchemy",
    "sqlmodel",
    "pydantic",
    "pydantic_settings",
    "slack_bolt",
    "slack_sdk",
    "apscheduler",
    "genai_prices",
    "pyarrow",
    "httpx",
    "aispend.core.settings",
    "aispend.core.ledger.models",
    "aispend.cli.runtime",
)
# `report top` needs the settings, the ledger and rich; not the other commands' modules.
NOT_FOR_REPORT_TOP = (
    "alembic",
    "aispend.cli.governance",
    "aispend.cli.jobs",
    "aispend.cli.slack",
    "aispend.cli.sync",
    "aispend.bot",
    "aispend.core.governance",
    "slack_bolt",
    "genai_prices",
)
GROUPS: dict[str, tuple[Lazy, ...]] = {"": main.COMMANDS, "report": report.COMMANDS, "ingest": ingest.COMMANDS}


def run_app(args: list[str]) -> str:
    """Code for a fresh interpreter that runs `aispend ARGS` (as the console script does)."""
    return "\n".join(
        (
            "import sys",
            "from aispend.cli.main import app",
            f"sys.argv = ['aispend', *{args!r}]",
            "try:",
            "    app()",
            "except SystemExit:",
            "    pass",
        )
    )


def imported_at_start(code: str, modules: tuple[str, ...] = DEFERRED, env: dict[str, str] | None = None) -> list[str]:
    """Which of `modules` a fresh interpreter has loaded after `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {modules!r} if m in sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
    )
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_help_imports_no_provider_sdk_plotting_or_migrations() -> None:
    code = "\n".join(
        (
            "import sys",
            "from aispend.cli.main import app",
            "sys.argv = ['aispend', '--help']",
            "try:",
            "    app()",
            "except SystemExit:",
            "    pass",
        )
    )
    assert imported_at_start(code) == []


def test_building_the_connectors_still_imports_their_sdk() -> None:
    code = "\n".join(
        (
            "from aispend.connectors.registry import build_connectors",
            "from aispend.core.settings import load_settings",
            "build_connectors(load_settings(), ['openai', 'aws'])",
        )
    )
    assert {"openai", "boto3"} <= set(imported_at_start(code))


def test_version_prints_the_package_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"aispend {__version__}\n"
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["version"] == __version__  # one version, whichever file is read


def test_help_imports_no_command_module_nor_the_database_layer() -> None:
    code = run_app(["--help"]) + "\nloaded_cli = sorted(m for m in sys.modules if m.startswith('aispend.cli.'))"
    code += "\nassert loaded_cli == ['aispend.cli.errors', 'aispend.cli.lazy', 'aispend.cli.main'], loaded_cli"
    assert imported_at_start(code, NOT_FOR_HELP) == []


def test_help_lists_every_command_with_its_help_line() -> None:
    for group, commands in GROUPS.items():
        result = CliRunner().invoke(app, [*group.split(), "--help"], env={"COLUMNS": "250"})
        assert result.exit_code == 0, result.output
        rows = dict(
            line.strip("│ ").split(None, 1)
            for line in result.output.splitlines()
            if line.startswith("│ ") and "  " in line
        )
        assert {spec.name: spec.help for spec in commands}.items() <= rows.items(), group


def test_each_listed_line_is_the_commands_own_and_no_registered_command_is_left_out() -> None:
    for group, commands in GROUPS.items():
        listed = {spec.name for spec in commands}
        for spec in commands:
            command = load(spec)
            assert (command.name, first_paragraph(command.help)) == (spec.name, spec.help), group
            if spec.how == "register":  # a register function may add several commands: each must be listed
                module_name, _, attribute = spec.target.partition(":")
                holder = typer.Typer()
                getattr(importlib.import_module(module_name), attribute)(holder)
                assert set(typer.main.get_group(holder).commands) <= listed, (group, spec.target)


# Every command path: names are an interface (scripts and docs use them); none may go missing or move.
COMMAND_PATHS = """
demo | reprice | sync | status | evaluate | estimate | digest | audit | outbox | run
db | db upgrade | ingest | ingest calls | ingest focus | ingest revenue | ingest expenses
report | report top | report spend | report reconcile | report shadow | report status | report changes
report agents | report models | report unit-economics | connectors | connectors check | shadow | shadow scan
thresholds | thresholds list | thresholds set | thresholds remove | thresholds history
workflows | workflows list | workflows set-owner | workflows set-outcome | workflows set-cap
alerts | alerts list | alerts ack | alerts snooze | jobs | jobs list | jobs run
ingest-tokens | ingest-tokens create | ingest-tokens list | ingest-tokens revoke | serve-ingest
"""


def test_every_command_is_there_and_answers_help() -> None:
    root = typer.main.get_command(app)
    ctx = root.make_context("aispend", [], resilient_parsing=True)
    found: list[str] = []

    def walk(path: list[str], command: Any) -> None:
        for name in command.list_commands(ctx) if hasattr(command, "list_commands") else ():
            _name, sub, _rest = command.resolve_command(ctx, [name])  # loads the command's module
            found.append(" ".join([*path, name]))
            walk([*path, name], sub)

    walk([], root)
    assert sorted(found) == sorted(p.strip() for p in COMMAND_PATHS.replace("\n", "|").split("|") if p.strip())
    for path in ["", *found]:
        result = CliRunner().invoke(app, [*path.split(), "--help"], env={"COLUMNS": "120"})
        assert result.exit_code == 0, (path, result.output)
        assert f"Usage: aispend {path}".rstrip() + " [OPTIONS]" in result.output, path


def test_unknown_command_still_suggests_the_close_name() -> None:
    result = CliRunner().invoke(app, ["reprot"])
    assert result.exit_code == 2
    assert "No such command 'reprot'" in result.output and "report" in result.output


def test_migration_head_read_from_the_files_is_alembics() -> None:
    from alembic.script import ScriptDirectory

    engine = make_engine("sqlite://")
    heads = ScriptDirectory.from_config(alembic_config(engine)).get_heads()
    assert [script_head()] == heads


def test_report_top_on_a_migrated_database_imports_no_migration_tool_nor_other_commands(database_url: str) -> None:
    loaded = imported_at_start(run_app(["report", "top"]), NOT_FOR_REPORT_TOP, {"AISPEND_DATABASE_URL": database_url})
    assert loaded == []


@pytest.mark.parametrize("args", [["report", "top"], ["report", "top", "--json"]])
def test_report_top_on_an_empty_database(tmp_path: Any, args: list[str]) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = CliRunner().invoke(app, args, env={"AISPEND_DATABASE_URL": url})  # migrates first: alembic runs
    assert result.exit_code == 0, result.output
    again = CliRunner().invoke(app, args, env={"AISPEND_DATABASE_URL": url})  # current: the short path
    assert again.exit_code == 0 and again.output == result.output
