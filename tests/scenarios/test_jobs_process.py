"""`aispend run` as real processes: terminal sink without Slack, /healthz and /metrics, and two
replicas against one PostgreSQL database (one digest per slot, one alert, fail-over on kill)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from aispend.jobs.models import JobRun
from tests.conftest import FIXTURES

STANDINS = FIXTURES / "jobs" / "run_with_standins.py"
AISPEND = Path(sys.executable).with_name("aispend")


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> object:
    """Wait for a real event (a process writing a file), polling, with a deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _base_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AISPEND_", "SLACK_"))}
    env.update(
        AISPEND_DATABASE_URL=database_url,
        AISPEND_TIMEZONE="UTC",
        AISPEND_LOG_FORMAT="json",
        AISPEND_OPS_PORT="0",
        AISPEND_INGEST_PORT="0",
        AISPEND_JOBS_TICK_SECONDS="0.2",
        AISPEND_JOBS_LOCK_POLL_SECONDS="0.5",
        AISPEND_JOBS_SHUTDOWN_GRACE_SECONDS="10",
    )
    return env


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, name: str) -> None:
        self.out = cwd / f"{name}.out"
        self.err = cwd / f"{name}.err"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.popen = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=err)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def logs(self) -> list[dict[str, object]]:
        records = []
        for line in self.err.read_text().splitlines():
            if line.startswith("{"):
                records.append(json.loads(line))
        return records

    def stop(self, timeout: float = 20) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout)

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in started:
        proc.kill()


def _ops_port(proc: Proc) -> int:
    def port() -> int | None:
        for record in proc.logs():
            if "ops_port" in record:
                return int(record["ops_port"])  # type: ignore[call-overload]
        return None

    return int(wait_for(port, 30, "the ops endpoint start-up message"))  # type: ignore[call-overload]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_run_without_slack_token_runs_the_schedule_with_the_terminal_sink(
    engine: Engine, database_url: str, tmp_path: Path, procs: list[Proc]
) -> None:
    env = _base_env(database_url, tmp_path)
    env["AISPEND_JOBS_RETENTION_CRON"] = "* * * * * *"  # every second, so the test sees real runs
    proc = Proc([str(AISPEND), "run"], env, tmp_path, "single")
    procs.append(proc)
    port = _ops_port(proc)

    def retention_runs() -> list[JobRun]:
        with engine.connect() as conn:
            rows = conn.execute(select(JobRun).where(JobRun.job == "retention")).all()  # type: ignore[arg-type]
        return [row for row in rows if row.status == "ok"]

    wait_for(lambda: len(retention_runs()) >= 2, 30, "two scheduled retention runs")
    status, body = _get(f"http://127.0.0.1:{port}/healthz")
    assert status == 200
    health = json.loads(body)
    assert health == {"leader": True, "stopping": False, "database": "ok", "status": "ok"}
    status, metrics = _get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    assert "aispend_scheduler_leader 1.0" in metrics
    assert 'aispend_job_runs_total{job="retention",status="ok"}' in metrics
    assert 'aispend_job_last_success_age_seconds{job="retention"}' in metrics
    assert 'aispend_open_alerts{level="red"} 0.0' in metrics and "aispend_outbox_depth 0.0" in metrics
    assert _get(f"http://127.0.0.1:{port}/nope")[0] == 404

    assert proc.stop() == 0  # graceful: SIGTERM, the job in hand finishes, exit 0
    messages = [str(record["msg"]) for record in proc.logs()]
    assert any("terminal sink" in m for m in messages)
    assert any(m.startswith("scheduler started") for m in messages)
    assert messages[-1] == "stopped"
    assert all(run.trigger == "schedule" for run in retention_runs())


def test_run_refuses_contradictory_slack_settings_with_a_clear_message(tmp_path: Path) -> None:
    env = _base_env(f"sqlite:///{tmp_path / 'a.db'}", tmp_path)
    env["SLACK_BOT_TOKEN"] = "xoxb-not-used"
    result = subprocess.run([str(AISPEND), "run"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "neither SLACK_APP_TOKEN (Socket Mode) nor SLACK_SIGNING_SECRET" in result.stderr
    assert "xoxb-not-used" not in result.stderr + result.stdout

    env.pop("SLACK_BOT_TOKEN")
    env["AISPEND_JOBS_DIGEST_CRON"] = "0 9 * * funday"
    result = subprocess.run([str(AISPEND), "run"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    stderr = " ".join(result.stderr.split())  # the console wraps long lines
    assert "jobs_digest_cron" in stderr and 'Invalid weekday name "funday"' in stderr


def test_two_replicas_on_postgresql_run_each_slot_once_alert_once_and_fail_over(
    engine: Engine, database_url: str, tmp_path: Path, procs: list[Proc]
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas need PostgreSQL (SQLite supports one `aispend run` process)")
    markers, alerts = tmp_path / "digests.txt", tmp_path / "admin.txt"
    markers.touch()
    alerts.touch()
    env = _base_env(database_url, tmp_path)
    env.update(
        AISPEND_JOBS_DIGEST_CRON="*/2 * * * * *",  # a "weekly" digest every 2 s, to see many slots
        AISPEND_JOBS_EVALUATE_CRON="* * * * * *",  # fails every time: alert after 3 in a row
        AISPEND_JOBS_DISABLED="retention",
        STANDIN_MARKER_FILE=str(markers),
        STANDIN_ALERT_FILE=str(alerts),
    )
    for name in ("a", "b"):
        procs.append(Proc([sys.executable, str(STANDINS)], env, tmp_path, name))

    def digest_lines() -> list[tuple[str, int]]:
        return [(slot, int(pid)) for slot, pid in (line.split() for line in markers.read_text().splitlines())]

    wait_for(lambda: len(digest_lines()) >= 4, 60, "four digests")
    wait_for(lambda: alerts.read_text(), 30, "the admin alert")
    leaders = {pid for _, pid in digest_lines()}
    assert len(leaders) == 1, "only the leader runs scheduled jobs"
    (leader_pid,) = leaders
    leader = next(p for p in procs if p.pid == leader_pid)
    follower = next(p for p in procs if p.pid != leader_pid)

    leader.popen.send_signal(signal.SIGKILL)  # the leader dies without any clean-up
    killed_at = time.monotonic()
    leader.popen.wait(10)
    wait_for(lambda: any(pid == follower.pid for _, pid in digest_lines()), 30, "the follower to take over")
    takeover_s = time.monotonic() - killed_at
    assert takeover_s < 30
    wait_for(lambda: sum(pid == follower.pid for _, pid in digest_lines()) >= 2, 30, "more digests")
    assert follower.stop() == 0

    # While both replicas were alive, each slot ran once, on the leader only (checked above). After
    # the kill, the one slot the dead leader may have had in hand (side effect written, run not yet
    # recorded) is run again by the new leader: at-least-once by design; the real digest posts with a
    # dedupe key (context.slot_key / digest + ISO week) so Slack sees it once.
    slots = Counter(slot for slot, _ in digest_lines())
    repeated = [slot for slot, count in slots.items() if count > 1]
    assert max(slots.values()) <= 2 and len(repeated) <= 1, slots.most_common(3)
    with engine.connect() as conn:
        runs = conn.execute(select(JobRun).where(JobRun.job == "digest").order_by(JobRun.id)).all()  # type: ignore[arg-type]
    for slot in repeated:
        attempts = [run for run in runs if run.slot is not None and run.slot.isoformat() == slot]
        assert [(run.owner.split(":")[2], run.status) for run in attempts] == [
            (str(leader_pid), "handed_back"),  # voided by the new leader when it took over
            (str(follower.pid), "ok"),
        ]
    finished = Counter(run.slot for run in runs if run.status == "ok")
    assert max(finished.values()) == 1  # each slot completed exactly once
    alert_lines = alerts.read_text().splitlines()
    assert len(alert_lines) == 1, alert_lines  # the streak goes on past 3 after fail-over: no second alert
    assert alert_lines[0].startswith("admin\tjob-failures:evaluate:")
    assert "`evaluate` failed 3 times in a row" in alert_lines[0]
    assert {run.owner.split(":")[2] for run in runs} == {str(leader_pid), str(follower.pid)}
    print(f"fail-over took {takeover_s:.1f}s")


def test_run_with_slack_serves_bolt_and_posts_the_digest_once(
    engine: Engine, database_url: str, tmp_path: Path, procs: list[Proc]
) -> None:
    from tests.fakes.slack_api import FakeSlack

    fake = FakeSlack().start()
    try:
        env = _base_env(database_url, tmp_path)
        env.update(
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_SIGNING_SECRET="test-signing-secret",
            AISPEND_SLACK_API_URL=fake.api_url,
            AISPEND_HTTP_PORT="0",
            AISPEND_SLACK_GOVERNANCE_CHANNEL="C0GOV",
            AISPEND_JOBS_DIGEST_CRON="* * * * * *",  # every second: the outbox key keeps it to one per week
            AISPEND_JOBS_DISABLED="retention,evaluate",
        )
        proc = Proc([str(AISPEND), "run"], env, tmp_path, "slack")
        procs.append(proc)

        def slack_port() -> int | None:
            return next((int(r["slack_port"]) for r in proc.logs() if "slack_port" in r), None)  # type: ignore[call-overload]

        port = int(wait_for(slack_port, 30, "the Slack HTTP listener"))  # type: ignore[call-overload]
        wait_for(lambda: fake.history.get("C0GOV"), 30, "the digest in the governance channel")
        with engine.connect() as conn:
            wait_for(
                lambda: conn.execute(
                    select(JobRun).where(JobRun.job == "digest", JobRun.status == "ok")  # type: ignore[arg-type]
                ).all()[2:],
                30,
                "three digest runs",
            )
        request = urllib.request.Request(f"http://127.0.0.1:{port}/slack/events", data=b"{}", method="POST")
        assert _status(request) == 401  # Bolt verifies signatures in HTTP mode
        assert proc.stop() == 0
        posts = [m for m in fake.history["C0GOV"] if m.get("text")]
        assert len(posts) == 1  # three runs, one digest (the outbox's ISO-week key)
    finally:
        fake.stop()


def _status(request: urllib.request.Request) -> int:
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
