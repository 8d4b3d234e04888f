"""Engine, sessions and schema upgrades."""

from __future__ import annotations

import ast
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlmodel import Session

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

DEFAULT_SQLITE_LOCK_WAIT_SECONDS = 30.0


def make_engine(url: str, *, sqlite_lock_wait: float = DEFAULT_SQLITE_LOCK_WAIT_SECONDS, **kwargs: Any) -> Engine:
    """An engine for SQLite or PostgreSQL with the settings the ledger relies on.

    `sqlite_lock_wait`: seconds a statement waits for another process's write lock
    (AISPEND_SQLITE_LOCK_WAIT_SECONDS)."""
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_engine(url, connect_args={"timeout": sqlite_lock_wait}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split("///", 1)[-1].split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the bot read while an import or sync writes; NORMAL is durable enough with WAL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # 32 MB of page cache (default 2 MB): keeps hot index pages in memory during large imports.
    cursor.execute("PRAGMA cache_size=-32768")
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    # Alembic is imported when a command needs the schema, not by every `aispend` start (`--help`).
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("aispend.core.ledger") / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


# pg_advisory_xact_lock(MIGRATION_LOCK, <schema>): one migrating process per schema at a time.
MIGRATION_LOCK = 0x41495350


def upgrade(engine: Engine) -> None:
    """Apply every migration up to the one head — idempotent, called by every command that needs the schema.

    Already current: returns after one read, with no lock (every command comes here). Otherwise the
    migrations run in one transaction under a lock, so two commands on a fresh database (two replicas
    on a first deploy) take turns, the second finding the schema current; and a process killed halfway
    leaves the database as it was (SQLite: DDL inside BEGIN EXCLUSIVE; PostgreSQL: transactional DDL
    and an advisory lock). A database migrated while the history had branches is brought onto the one
    line first (`_onto_one_line`).
    """
    known = script_head()
    if known is not None and current_heads(engine) == {known}:
        return  # the common case, without importing alembic (issue 13: start-up of every command)
    # Alembic is imported only to migrate (or when the files could not be read above).
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = alembic_config(engine)
    script = ScriptDirectory.from_config(cfg)
    heads = set(script.get_heads())
    with engine.connect() as connection:
        if set(MigrationContext.configure(connection).get_current_heads()) == heads:
            return
    with engine.connect() as connection, _migration_transaction(connection):
        cfg.attributes["connection"] = connection
        _onto_one_line(connection, cfg, script)
        command.upgrade(cfg, "head")


# The history as it was when migrations branched from 0001 (one branch per area), before it became one
# line in file order: revision -> its parent then. A database migrated then holds one row per branch head.
BRANCHED_PARENTS: dict[str, str | None] = {
    "0001_ledger": None,
    "0002_daily_rollups": "0001_ledger",
    "0003_sync": "0001_ledger",
    "0004_governance": "0001_ledger",
    "0005_shadow": "0001_ledger",
    "0006_slack": "0001_ledger",
    "0007_jobs": "0001_ledger",
    "0008_drop_call_run_index": "0002_daily_rollups",
    "0009_slack_seen_request": "0006_slack",
    "0010_gov_notification_failed": "0004_governance",
    "0011_call_cache_write_1h": "0008_drop_call_run_index",
}


def branched_applied(rows: set[str]) -> set[str]:
    """The revisions a database holding `rows` (the branched history's heads) has applied. Pure."""
    applied: set[str] = set()
    for row in rows:
        revision: str | None = row
        while revision is not None and revision not in applied:
            applied.add(revision)
            revision = BRANCHED_PARENTS[revision]
    return applied


def _onto_one_line(connection: Connection, cfg: Config, script: ScriptDirectory) -> None:
    """A database at several revisions (migrated while the history branched) onto the one line.

    On the line, the last revision the database has applied stands for every one before it; those it
    lacks (it was migrated by a version that did not have them yet) are applied one by one, in line
    order — each branch depended only on its own earlier revisions, so they are independent of the
    others applied after them. Then the version table holds that last revision only, and alembic
    continues from there. Within the caller's transaction, under its lock.
    """
    from alembic import command
    from alembic.util import CommandError

    if not inspect(connection).has_table("alembic_version"):
        return
    rows = {row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))}
    if len(rows) < 2:
        return  # on the line already (or a branched database still at one branch: the same meaning)
    unknown = rows - BRANCHED_PARENTS.keys()
    if unknown:
        raise CommandError(
            f"the database is at revisions {', '.join(sorted(unknown))}, unknown to this version of aispend "
            "(a newer version migrated it?)"
        )
    line = [revision.revision for revision in reversed(list(script.walk_revisions()))]  # base first
    applied = branched_applied(rows)
    last = max(line.index(revision) for revision in applied)
    for position, revision in enumerate(line[: last + 1]):
        if revision not in applied:
            _set_version(connection, line[position - 1])
            command.upgrade(cfg, revision)  # one step: this revision only
    _set_version(connection, line[last])


def _set_version(connection: Connection, revision: str) -> None:
    connection.execute(text("DELETE FROM alembic_version"))
    connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": revision})


_ASSIGNMENT = re.compile(r"^(revision|down_revision|depends_on)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)


def script_head() -> str | None:
    """The head revision of the migration files, read as text (no alembic, no import of the files).

    None when a file is not in the plain form alembic writes (`revision = "..."`, `down_revision = ...`
    with literals, no `depends_on`) or the files do not end in one head: `upgrade` then asks alembic.
    A test checks this against alembic's head.
    """
    revisions: set[str] = set()
    down: set[str] = set()
    for entry in (resources.files("aispend.core.ledger") / "migrations" / "versions").iterdir():
        if not entry.name.endswith(".py") or entry.name.startswith("_"):
            continue
        found: dict[str, object] = {}
        for match in _ASSIGNMENT.finditer(entry.read_text(encoding="utf-8")):
            try:
                found.setdefault(match.group(1), ast.literal_eval(match.group(2)))
            except (ValueError, SyntaxError):
                return None
        revision, parents = found.get("revision"), found.get("down_revision")
        if not isinstance(revision, str) or found.get("depends_on") is not None:
            return None
        if isinstance(parents, str):
            parents = (parents,)
        if parents is None:
            parents = ()
        if not isinstance(parents, tuple | list) or not all(isinstance(p, str) for p in parents):
            return None
        revisions.add(revision)
        down.update(parents)
    heads = revisions - down
    return heads.pop() if len(heads) == 1 else None


def current_heads(engine: Engine) -> frozenset[str] | None:
    """The revisions the database is at (alembic's version table), None before the first migration."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return frozenset(row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version")))


@contextmanager
def _migration_transaction(connection: Connection) -> Iterator[None]:
    """One transaction holding the migration lock; committed when the block ends, rolled back on error."""
    if connection.dialect.name != "sqlite":
        with connection.begin():
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:lock, hashtext(current_schema()))"), {"lock": MIGRATION_LOCK}
            )
            yield
        return
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    previous = driver.isolation_level
    # The sqlite3 module runs DDL outside any transaction on its own; with isolation_level None it runs
    # inside ours. EXCLUSIVE: the lock other migrating processes wait for (AISPEND_SQLITE_LOCK_WAIT_SECONDS).
    driver.isolation_level = None
    try:
        connection.exec_driver_sql("BEGIN EXCLUSIVE")
        try:
            yield
        except BaseException:
            connection.rollback()
            raise
        connection.commit()
    finally:
        driver.isolation_level = previous


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
