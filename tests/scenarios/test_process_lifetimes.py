"""Real processes and kill -9: import workers die with their parent; migrations are locked and atomic."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

import aispend
from aispend.connectors.files.parallel import CHUNK_LINES
from aispend.core.ledger.db import make_engine, upgrade
from tests.conftest import PG_URL_ENV, REPO_ROOT, _pg_url_with_schema

DEADLINE_SECONDS = 20.0


def _env() -> dict[str, str]:
    src = str(Path(aispend.__file__).resolve().parents[1])  # the aispend these tests import, in the child too
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, str(REPO_ROOT)])}


def wait_until(condition: Callable[[], bool], what: str, timeout: float = DEADLINE_SECONDS) -> None:
    """Polls for something another process does (no fixed sleep: returns as soon as it holds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has died; only its exit status waits for a reaper


def _call_rows(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM call_record")).scalar_one())
    finally:
        engine.dispose()


def _line(i: int) -> bytes:
    row = {
        "call_id": f"c{i}",
        "timestamp": "2026-11-20T10:00:00Z",
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": 10,
        "output_tokens": 2,
        "cost": "0.01",
        "workflow": "w",
    }
    return json.dumps(row).encode() + b"\n"


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "calls.fifo"
    os.mkfifo(path)
    yield path


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the workers")
def test_import_workers_die_when_their_parent_is_killed(database_url: str, fifo: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-m", "tests.procs.parallel_import", database_url, str(fifo)], env=_env(), cwd=REPO_ROOT
    )
    workers: set[int] = set()
    try:
        with open(fifo, "wb") as feed:  # the import reads this stream; it stays open, so the import waits for more
            feed.write(b"".join(_line(i) for i in range(3 * CHUNK_LINES)))  # more than one read block past a chunk
            feed.flush()
            wait_until(lambda: _call_rows(database_url) >= 2 * CHUNK_LINES, "the workers to write what they were given")
            workers = children(parent.pid)
            assert workers, "the import runs worker processes"
            parent.send_signal(signal.SIGKILL)
            parent.wait()
            wait_until(lambda: not any(alive(w) for w in workers), f"workers {sorted(workers)} to die")
    finally:
        for pid in workers:  # never leave one behind, even when the test fails
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


# --- migrations: two commands on a fresh database, and kill -9 during the first one ----------------------


@pytest.fixture
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes fresh, empty databases: SQLite files, or PostgreSQL schemas when a server is configured."""
    backend = request.param
    made: list[str] = []
    admin = None
    if backend == "postgresql":
        base = os.environ.get(PG_URL_ENV)
        if not base:
            pytest.skip(f"needs {PG_URL_ENV}")
        admin = create_engine(base)

    def make() -> str:
        name = f"aispend_m_{uuid.uuid4().hex[:10]}"
        if admin is None:
            return f"sqlite:///{tmp_path / name}.db"
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        made.append(name)
        return _pg_url_with_schema(os.environ[PG_URL_ENV], name)

    yield make
    if admin is not None:
        with admin.begin() as conn:
            for name in made:
                conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _migrate(url: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.procs.migrate", url, *args],
        env=_env(),
        cwd=REPO_ROOT,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("fresh_url", ["sqlite", "postgresql"], indirect=True)
def test_commands_started_together_on_a_fresh_database_all_migrate_it(
    fresh_url: Callable[[], str], tmp_path: Path
) -> None:
    failures = []
    for attempt in range(2):
        url = fresh_url()
        go = tmp_path / f"go-{attempt}"
        racers = [_migrate(url, "--after", str(go)) for _ in range(4)]
        go.touch()
        for racer in racers:
            _, err = racer.communicate(timeout=120)
            if racer.returncode != 0:
                failures.append(err.decode().strip().splitlines()[-1])
        assert "alembic_version" in _tables(url)
    assert failures == []


@pytest.mark.parametrize("fresh_url", ["sqlite", "postgresql"], indirect=True)
def test_kill_9_during_the_first_migration_leaves_a_database_the_next_command_migrates(
    fresh_url: Callable[[], str],
) -> None:
    complete: set[str] | None = None
    for die_at in (1, 2, 5, 12, 25):
        url = fresh_url()
        victim = _migrate(url, "--die-at", str(die_at))
        victim.communicate(timeout=120)
        assert victim.returncode == -signal.SIGKILL
        left = _tables(url)
        assert left in (set(), {"alembic_version"}) or "alembic_version" in left, (die_at, sorted(left))
        engine = make_engine(url)
        try:
            upgrade(engine)  # the next command
        finally:
            engine.dispose()
        tables = _tables(url)
        complete = complete or tables
        assert tables == complete and "alembic_version" in tables, die_at
