"""The migrations form one line of history, build exactly the models' schema on SQLite and PostgreSQL,
and bring a database migrated while the history branched (one version row per branch) onto the line.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Column, Engine, MetaData, String, select, text
from sqlmodel import Session, SQLModel
from typer.testing import CliRunner

import aispend.bot.models
import aispend.core.governance.models
import aispend.core.ledger.models
import aispend.core.shadow.models
import aispend.jobs.models  # noqa: F401  (with the four above: every table on SQLModel.metadata)
from aispend.cli.main import app
from aispend.core.ledger.db import (
    BRANCHED_PARENTS,
    alembic_config,
    branched_applied,
    current_heads,
    make_engine,
    upgrade,
)
from aispend.core.ledger.models import CostLine
from tests.conftest import PG_URL_ENV, own_pg_schema

ALL_BRANCH_HEADS = {
    "0003_sync",
    "0005_shadow",
    "0007_jobs",
    "0009_slack_seen_request",
    "0010_gov_notification_failed",
    "0011_call_cache_write_1h",
}


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(make_engine("sqlite://")))


def _line() -> list[str]:
    return [revision.revision for revision in reversed(list(_script().walk_revisions()))]


def test_the_history_is_one_line() -> None:
    script = _script()
    revisions = list(script.walk_revisions())
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1
    assert [r.revision for r in revisions if r.is_branch_point or r.is_merge_point] == []
    line = _line()
    assert len(line) == len(revisions) == len(set(line))
    for parent, child in itertools.pairwise(line):
        assert script.get_revision(child).down_revision == parent


def test_the_branched_history_is_known_for_every_revision_it_had() -> None:
    line = _line()
    assert list(BRANCHED_PARENTS) == line[: len(BRANCHED_PARENTS)]
    # The line keeps every dependency the branches had: a revision comes after its parent then.
    for revision, parent in BRANCHED_PARENTS.items():
        assert parent is None or line.index(parent) < line.index(revision)
    assert branched_applied(ALL_BRANCH_HEADS) == set(BRANCHED_PARENTS)
    assert branched_applied({"0001_ledger"}) == {"0001_ledger"}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own: a file on SQLite, a schema of its own on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    base_url = os.environ.get(PG_URL_ENV)
    if not base_url:
        pytest.skip(f"PostgreSQL tests need {PG_URL_ENV}")
    with own_pg_schema(base_url, "aispend_m_") as url:
        yield url


@pytest.fixture
def empty_engine(empty_url: str) -> Iterator[Engine]:
    engine = make_engine(empty_url)
    yield engine
    engine.dispose()


def _same_literal(
    _context: Any, _inspected: Any, _column: Any, inspected: str | None, _default: Any, rendered: str | None
) -> bool | None:
    """Server defaults that are the same literal, however quoted ('' reflects as "''" on SQLite): equal.
    Otherwise alembic's own comparison."""

    def bare(value: str | None) -> str | None:
        return None if value is None else value.strip().strip("()").split("::")[0].strip("'\"")

    if inspected is not None and rendered is not None and bare(inspected) == bare(rendered):
        return False
    return None


def schema_diff(engine: Engine, metadata: MetaData) -> list[Any]:
    """What the database lacks or has beyond `metadata`: tables, columns (types, nullability, server
    defaults), indexes, unique constraints and foreign keys — alembic's autogenerate comparison."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": _same_literal})
        return list(compare_metadata(context, metadata))


def test_db_upgrade_of_an_empty_database_builds_the_models_schema(empty_url: str, empty_engine: Engine) -> None:
    result = CliRunner().invoke(app, ["db", "upgrade"], env={"AISPEND_DATABASE_URL": empty_url})
    assert result.exit_code == 0, result.output
    assert current_heads(empty_engine) == set(_script().get_heads())
    assert schema_diff(empty_engine, SQLModel.metadata) == []


def test_the_schema_comparison_sees_a_difference(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    differing = MetaData()
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(differing)
    differing.tables["cost_line"].append_column(Column("extra_note", String(16), nullable=True))
    differing.tables["workflow"].c["owner"].nullable = not differing.tables["workflow"].c["owner"].nullable
    diff = schema_diff(empty_engine, differing)
    found = sorted((d[0], d[2], d[3].name) if isinstance(d, tuple) else (d[0][0], d[0][2], d[0][3]) for d in diff)
    assert found == [("add_column", "cost_line", "extra_note"), ("modify_nullable", "workflow", "owner")]


def _build_branched(engine: Engine, applied: set[str]) -> None:
    """A database as the branched history left it: the migrations in `applied` run (the same files, in
    line order, each alone), then the version table holding the heads of `applied` in the branched graph."""
    line = _line()
    cfg = alembic_config(engine)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        for position, revision in enumerate(line):
            if revision not in applied:
                continue
            if position:
                _version(connection, [line[position - 1]])
            command.upgrade(cfg, revision)
        parents = {BRANCHED_PARENTS[r] for r in applied}
        _version(connection, sorted(applied - parents))


def _version(connection: Any, rows: list[str]) -> None:
    connection.execute(text("DELETE FROM alembic_version"))
    for row in rows:
        connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": row})


def _cost_line(key: str, amount: str) -> CostLine:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return CostLine(
        source="test", natural_key=key, charge_period_start=start, charge_period_end=start,
        charge_day=date(2026, 11, 1), billed_cost=Decimal(amount), billing_currency="USD", ingested_at=start,
    )  # fmt: skip


def _upto(last: str, *missing: str) -> set[str]:
    line = _line()
    return set(line[: line.index(last) + 1]) - set(missing)


BRANCHED_STATES = {
    # as main left databases, one version after another (a version migrated every branch it had)
    "every old head": set(BRANCHED_PARENTS),
    "0001-0008 and 0011": _upto("0011_call_cache_write_1h", "0009_slack_seen_request", "0010_gov_notification_failed"),
    "0001-0003 and 0005": _upto("0005_shadow", "0004_governance"),
    "0001-0007": _upto("0007_jobs"),
}


@pytest.mark.parametrize("state", list(BRANCHED_STATES))
def test_a_database_migrated_while_the_history_branched_upgrades_onto_the_line(
    state: str, empty_engine: Engine
) -> None:
    if empty_engine.dialect.name != "sqlite" and state not in {"every old head", "0001-0008 and 0011"}:
        pytest.skip("the other states on SQLite only (each builds a database)")
    applied = BRANCHED_STATES[state]
    _build_branched(empty_engine, applied)
    heads = current_heads(empty_engine)
    assert heads is not None and len(heads) > 1, heads
    amounts = ["20.52022672898", "-3.000000000005"]
    with Session(empty_engine) as session:
        session.add_all(_cost_line(f"k{i}", a) for i, a in enumerate(amounts))
        session.commit()

    upgrade(empty_engine)

    assert current_heads(empty_engine) == set(_script().get_heads())
    assert schema_diff(empty_engine, SQLModel.metadata) == []
    with Session(empty_engine) as session:
        kept = session.execute(select(CostLine.billed_cost).order_by(CostLine.natural_key)).scalars().all()
    assert kept == [Decimal(a) for a in amounts]
    upgrade(empty_engine)  # current now: nothing to do
    assert current_heads(empty_engine) == set(_script().get_heads())


def test_a_branched_database_at_a_revision_this_version_does_not_know_is_refused(empty_engine: Engine) -> None:
    _build_branched(empty_engine, set(BRANCHED_PARENTS))
    with empty_engine.begin() as connection:
        connection.execute(text("INSERT INTO alembic_version (version_num) VALUES ('9999_future')"))
    with pytest.raises(CommandError, match="9999_future"):
        upgrade(empty_engine)
    assert "9999_future" in (current_heads(empty_engine) or set())  # left as it was
