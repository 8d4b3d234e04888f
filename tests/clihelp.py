"""Run the real `aispend` CLI in-process against a test database."""

from __future__ import annotations

from typer.testing import CliRunner, Result

from aispend.cli.main import app


def run_cli(args: list[str], database_url: str, stdin: str | bytes | None = None, **env: str) -> Result:
    runner = CliRunner()
    return runner.invoke(app, args, input=stdin, env={"AISPEND_DATABASE_URL": database_url, **env})
