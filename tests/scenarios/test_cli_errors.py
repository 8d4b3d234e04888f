"""Tracebacks where a message is expected: a database that cannot be used gives one clear line naming the
setting and the cause (the URL's password masked) and a non-zero exit, whatever the command."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from aispend.cli.errors import EXIT_DATABASE
from aispend.cli.main import app
from aispend.core.ledger.db import make_engine, upgrade
from tests.conftest import PG_URL_ENV

PASSWORD = "s3cret-Pw-0123"
ROW = {
    "call_id": "c1",
    "timestamp": "2026-11-20T10:00:00Z",
    "provider": "openai",
    "model": "gpt-4o",
    "input_tokens": 10,
    "output_tokens": 2,
    "workflow": "w",
}


@pytest.fixture
def calls_file(tmp_path: Path) -> Path:
    path = tmp_path / "calls.jsonl"
    path.write_text(json.dumps(ROW) + "\n")
    return path


def commands(calls_file: Path) -> list[list[str]]:
    return [["status"], ["ingest", "calls", str(calls_file)], ["db", "upgrade"], ["report", "spend"], ["evaluate"]]


def one_clear_line(url: str, args: list[str], *, wait: str = "30") -> str:
    env = {
        "AISPEND_DATABASE_URL": url,
        "AISPEND_SQLITE_LOCK_WAIT_SECONDS": wait,
        "AISPEND_OPENAI_ADMIN_KEY": "",
        "AISPEND_ANTHROPIC_ADMIN_KEY": "",
    }
    result = CliRunner().invoke(app, args, env={**env, "COLUMNS": "1000"})
    assert result.exit_code == EXIT_DATABASE, (args, result.output, result.exception)
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, (args, result.output)
    assert "AISPEND_DATABASE_URL" in lines[0] and PASSWORD not in lines[0], lines[0]
    return lines[0]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_postgresql(calls_file: Path) -> None:
    url = f"postgresql+psycopg://aispend:{PASSWORD}@127.0.0.1:{_closed_port()}/aispend"
    for args in commands(calls_file):
        line = one_clear_line(url, args)
        assert "cannot connect to the database" in line and "aispend:***@127.0.0.1" in line


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"postgresql+nosuchdriver://u:{PASSWORD}@db/x", "Can't load plugin"),
        ("not a url at all", "Could not parse"),
    ],
)
def test_bad_url(calls_file: Path, url: str, says: str) -> None:
    for args in commands(calls_file):
        line = one_clear_line(url, args)
        assert "is not a database URL aispend can use" in line and says in line


@pytest.fixture
def pg_admin_url() -> Iterator[str]:
    base = os.environ.get(PG_URL_ENV)
    if not base:
        pytest.skip(f"needs {PG_URL_ENV}")
    yield base


def test_missing_postgresql_database(calls_file: Path, pg_admin_url: str) -> None:
    url = make_url(pg_admin_url).set(database="aispend_no_such_database", password=PASSWORD)
    for args in commands(calls_file):
        line = one_clear_line(url.render_as_string(hide_password=False), args)
        assert 'database "aispend_no_such_database" does not exist' in line


def test_database_locked_by_another_process_waits_the_setting_then_says_so(calls_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    other = sqlite3.connect(path, isolation_level=None)  # another writer holds the lock
    other.execute("BEGIN EXCLUSIVE")
    try:
        for args in (["ingest", "calls", str(calls_file)], ["evaluate"]):
            line = one_clear_line(url, args, wait="0.2")  # a real but short wait
            assert "locked by another process" in line and "AISPEND_SQLITE_LOCK_WAIT_SECONDS=0.2 s" in line
    finally:
        other.rollback()
        other.close()


def test_read_only_database(calls_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    url = f"sqlite:///file:{path}?mode=ro&uri=true"  # what a read-only file or file system gives
    line = one_clear_line(url, ["ingest", "calls", str(calls_file)])
    assert "cannot write the database" in line and "readonly" in line


def test_database_folder_on_a_read_only_file_system(calls_file: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user the permissions do not stop (root)")
        for args in commands(calls_file):
            line = one_clear_line(f"sqlite:///{folder}/sub/aispend.db", args)
            assert "Permission denied" in line
    finally:
        folder.chmod(0o755)
