"""Shared fixtures: a real database on SQLite always, and on PostgreSQL when a URL is given.

Set AISPEND_TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test) to run every
database test on PostgreSQL as well. Each test session works in its own schema there, so parallel
runs against one server do not see each other.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlmodel import SQLModel

import aispend.bot.models
import aispend.core.governance.models
import aispend.core.ledger.models
import aispend.core.shadow.models
import aispend.jobs.models  # noqa: F401  (with the four above: every table, so emptying sees them all)
from aispend.core.ledger.db import make_engine, upgrade
from tests.fakes.slack_api import FakeSlack

PG_URL_ENV = "AISPEND_TEST_DATABASE_URL"
REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _pg_url_with_schema(base_url: str, schema: str) -> str:
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database URL for the session (one per backend)."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "aispend.db"
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    base_url = os.environ.get(PG_URL_ENV)
    if not base_url:
        pytest.skip(f"PostgreSQL tests need {PG_URL_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    with own_pg_schema(base_url, "aispend_t_") as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@contextmanager
def own_pg_schema(base_url: str, prefix: str) -> Iterator[str]:
    """A URL on a new, empty PostgreSQL schema of its own (dropped afterwards), so that runs sharing
    the server's database do not see each other."""
    schema = f"{prefix}{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_url_with_schema(base_url, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def _session_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(_session_engine: Engine) -> Iterator[Engine]:
    """The session's engine; every table is emptied after the test."""
    yield _session_engine
    _empty_all_tables(_session_engine)


@pytest.fixture(autouse=True)
def _empty_after_cli_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that writes through `database_url` alone (a CLI or a child process) leaves the session's
    database as empty as one that used `engine`: what it wrote must not reach the next test."""
    engine = None
    if "database_url" in request.fixturenames and "engine" not in request.fixturenames:
        engine = request.getfixturevalue("_session_engine")
    yield
    if engine is not None:
        _empty_all_tables(engine)


def _empty_all_tables(engine: Engine) -> None:
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A fake Slack Web API on 127.0.0.1 for the real slack_sdk client (see tests/fakes/slack_api.py)."""
    fake = FakeSlack().start()
    try:
        yield fake
    finally:
        fake.stop()
