"""Who runs scheduled jobs: one leader among the replicas.

PostgreSQL: a session advisory lock held on a dedicated connection (not from the pool, autocommit so it
never sits idle in a transaction). When the leader dies its connection closes, the server frees the
lock, and the next replica that polls takes it over. TCP keepalives bound how long a half-open
connection (a leader on a partitioned host) can keep the lock.

SQLite: a single process is the supported setup (documented). As a guard, a second process on the same
host and database file waits as a follower: the leader holds an exclusive lock on "<db file>-scheduler.lock"
(flock, freed by the OS when the process dies).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from typing import Protocol

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

log = logging.getLogger("aispend.jobs.leader")

LOCK_NAME = "aispend.scheduler"


class Leadership(Protocol):
    @property
    def is_leader(self) -> bool: ...

    def poll(self) -> bool:
        """Confirm or try to take leadership; returns whether this process leads now."""
        ...

    def release(self) -> None: ...


class SingleProcessLeadership:
    """SQLite: one process runs everything."""

    is_leader = True

    def poll(self) -> bool:
        return True

    def release(self) -> None:
        return None


class FileLockLeadership:
    """SQLite: an exclusive flock on a file beside the database (same host only)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def is_leader(self) -> bool:
        return self._fd is not None

    def poll(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        log.info("this process is now the scheduler leader", extra={"lock_file": self.path})
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def lock_key(name: str, schema: str) -> int:
    """A stable signed 64-bit key per database schema, so separate installs on one server do not clash."""
    digest = hashlib.blake2b(f"{name}:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresAdvisoryLeadership:
    def __init__(self, engine: Engine, name: str = LOCK_NAME) -> None:
        # A separate engine with no pool: the lock lives exactly as long as this one connection.
        self._engine = create_engine(
            engine.url,
            poolclass=NullPool,
            connect_args={
                "keepalives": 1,
                "keepalives_idle": 10,
                "keepalives_interval": 5,
                "keepalives_count": 3,
            },
        )
        self._name = name
        self._conn: Connection | None = None
        self._key: int | None = None
        self._leader = False
        self.backend_pid: int | None = None  # the server process holding our lock (for diagnostics)

    @property
    def is_leader(self) -> bool:
        return self._leader

    def poll(self) -> bool:
        try:
            if self._leader:
                self._check_alive()
            else:
                self._try_acquire()
        except Exception as exc:
            if self._leader:
                log.error("lost the scheduler leader lock: %s", exc.__class__.__name__)
            else:
                log.warning("could not reach the database for the leader lock: %s", exc.__class__.__name__)
            self._drop()
        return self._leader

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            schema, pid = self._conn.execute(text("SELECT current_schema(), pg_backend_pid()")).one()
            self._key = lock_key(self._name, str(schema))
            self.backend_pid = int(pid)
        return self._conn

    def _try_acquire(self) -> None:
        conn = self._connection()
        got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}).scalar_one()
        if got:
            self._leader = True
            log.info("this process is now the scheduler leader", extra={"lock_backend_pid": self.backend_pid})

    def _check_alive(self) -> None:
        assert self._conn is not None
        self._conn.execute(text("SELECT 1")).scalar_one()

    def _drop(self) -> None:
        self._leader = False
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                log.debug("closing the leader connection failed", exc_info=True)
            self._conn = None
            self.backend_pid = None

    def release(self) -> None:
        if self._conn is not None and self._leader:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            except Exception:
                log.debug("unlocking failed (the connection closes anyway)", exc_info=True)
        self._drop()
        self._engine.dispose()


def leadership_for(engine: Engine) -> Leadership:
    if engine.dialect.name == "postgresql":
        return PostgresAdvisoryLeadership(engine)
    database = engine.url.database
    if database and database != ":memory:":
        return FileLockLeadership(f"{database}-scheduler.lock")
    return SingleProcessLeadership()
