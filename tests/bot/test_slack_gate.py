"""The HTTP gate in front of Bolt, over real HTTP on 127.0.0.1: replays applied once (across two gates on
one database), a body limit, unverified bodies never logged, malformed signed bodies answered 400."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_bolt import App
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from aispend.bot.app import build_app
from aispend.bot.models import AuditEntry, SeenRequest
from aispend.bot.replay import ReplayGuard, expires_at
from aispend.bot.server import make_http_server, serve_in_thread
from aispend.core.governance.models import Threshold, ThresholdAudit
from aispend.core.settings import Settings
from tests.bot.test_slack_e2e import SECRET, Harness, running_bot, signed

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


class InlineExecutor(Executor):
    """Bolt's listeners run before the HTTP answer: once a request returns, its work and logs are done."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


@pytest.fixture
def real(engine: Engine) -> Iterator[Harness]:
    with running_bot(engine, InlineExecutor()) as running:
        yield running


def _app(harness: Harness) -> App:
    """Another Bolt app on the same bot and database (another replica)."""
    assert harness.wired.client is not None
    bot, client = harness.wired.bot, harness.wired.client
    return build_app(bot, client, signing_secret=SECRET, verify_token=False, listener_executor=InlineExecutor())


def _count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one()[0])  # type: ignore[call-overload]


def _red(engine: Engine) -> Decimal | None:
    with Session(engine) as session:
        row = session.exec(select(Threshold.red).where(Threshold.scope_key == "x")).first()  # type: ignore[call-overload]
    return None if row is None else row[0]


def _post(url: str, body: str | bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url, content=body.encode() if isinstance(body, str) else body, headers=headers, timeout=60)


# --- item 3: replays --------------------------------------------------------------------------------------


def test_a_replayed_threshold_change_is_answered_200_and_applied_once(real: Harness) -> None:
    first = real.command_body("thresholds set team:x red=500", user="U0FIN", trigger="r1")
    headers = signed(first)
    assert _post(real.url, first, headers).status_code == 200
    assert real.command("thresholds set team:x red=600", user="U0FIN", trigger="r2").status_code == 200
    assert _red(real.engine) == 600
    replay = _post(real.url, first, headers)  # the first request again, inside Slack's 5-minute window
    assert (replay.status_code, replay.text) == (200, "")
    assert _red(real.engine) == 600
    assert _count(real.engine, ThresholdAudit) == 2 and _count(real.engine, AuditEntry) == 2
    assert len(real.fake.of("response")) == 2  # the replay got no second reply either


def test_concurrent_replays_through_two_gates_on_one_database_apply_once(real: Harness) -> None:
    other = make_http_server(  # a second replica: its own Bolt app and gate, the same database
        _app(real), "127.0.0.1", 0, signing_secret=SECRET, replays=ReplayGuard(real.engine)
    )
    serve_in_thread(other)
    try:
        urls = [real.url, f"http://127.0.0.1:{other.server_port}/slack/events"]
        body = real.command_body("thresholds set team:x red=700", user="U0FIN", trigger="c1")
        headers = signed(body)
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(lambda i: _post(urls[i % 2], body, headers).status_code, range(16)))
    finally:
        other.shutdown()
        other.server_close()
    assert statuses == [200] * 16
    assert _red(real.engine) == 700
    assert _count(real.engine, ThresholdAudit) == 1 and _count(real.engine, AuditEntry) == 1
    assert len(real.fake.of("response")) == 1


def test_seen_signatures_are_kept_for_the_window_and_a_minute_then_purged(engine: Engine) -> None:
    now = [datetime(2026, 11, 25, 10, 0, tzinfo=UTC)]
    guard = ReplayGuard(engine, lambda: now[0])
    stamp = int(now[0].timestamp())
    assert guard.first_time("v0=" + "a" * 64, stamp)
    assert not guard.first_time("v0=" + "a" * 64, stamp)
    ahead = stamp + 300  # a timestamp five minutes ahead of our clock still verifies until it is 5 minutes old
    assert expires_at(ahead, now[0]) == now[0] + timedelta(minutes=11)
    assert guard.first_time("v0=" + "b" * 64, ahead)
    now[0] += timedelta(minutes=6, seconds=1)
    assert guard.purge(now[0]) == 1  # the first one's window is over; the one stamped ahead is kept
    assert _count(engine, SeenRequest) == 1
    assert not guard.first_time("v0=" + "b" * 64, ahead)


# --- item 4: body limit, unverified bodies never logged ------------------------------------------------


def test_big_unsigned_bodies_are_refused_and_the_log_does_not_grow_with_them(
    real: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    statuses = []
    for size in (1_000_000, 10_000_000, 50_000_000):
        body = b"command=%2Faispend&text=thresholds+set+company+red%3D1&user_id=U0FIN&" + b"a" * size
        statuses.append(_post(real.url, body, {"Content-Type": FORM}).status_code)
    assert statuses == [401, 413, 413]
    server_side = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]  # not the client's
    logged = sum(len(r.getMessage()) + len(r.exc_text or "") for r in server_side)
    assert logged < 1000, [r.getMessage()[:200] for r in server_side]
    assert _count(real.engine, Threshold) == 0


def test_the_body_limit_applies_to_signed_requests_too(real: Harness) -> None:
    small = make_http_server(
        _app(real), "127.0.0.1", 0, signing_secret=SECRET, replays=ReplayGuard(real.engine), max_body_bytes=2048
    )
    serve_in_thread(small)
    try:
        url = f"http://127.0.0.1:{small.server_port}/slack/events"
        big = real.command_body("workflow " + "w" * 3000, trigger="big")
        fits = real.command_body("top", trigger="fits")
        assert _post(url, big, signed(big)).status_code == 413
        assert _post(url, fits, signed(fits)).status_code == 200
    finally:
        small.shutdown()
        small.server_close()
    assert Settings().http_max_body_bytes == 1 << 20  # type: ignore[call-arg]


# --- item 5: malformed but validly signed bodies ---------------------------------------------------------


def _payload(**fields: object) -> str:
    return urlencode({"payload": json.dumps(fields)})


@pytest.mark.parametrize(
    ("body", "headers_of"),
    [
        ("payload=notjson", lambda b: signed(b)),
        (_payload(type="block_actions", user={"id": "U0FIN"}, actions=[]), lambda b: signed(b)),
        (_payload(type="block_actions", user={"id": "U0FIN"}, actions=["x"]), lambda b: signed(b)),
        (_payload(type="block_actions", actions=[{"action_id": "alert_ack"}]), lambda b: signed(b)),
        ("command=%2Faispend&text=top", lambda b: signed(b)),  # no user, no response_url
        ('{"type": "event_callback", "event": {"type": "app_home_opened"}}', lambda b: signed(b, content_type=JSON)),
        ("[1, 2]", lambda b: signed(b, content_type=JSON)),
        ("{not json", lambda b: signed(b, content_type=JSON)),
        ("command=%2Faispend&text=top", lambda b: {**signed(b), "X-Slack-Request-Timestamp": "abc"}),
    ],
)
def test_malformed_signed_bodies_get_400_and_change_nothing(
    real: Harness, body: str, headers_of: Callable[[str], dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    headers = headers_of(body)
    if headers["X-Slack-Request-Timestamp"] == "abc":  # validly signed with the non-numeric timestamp itself
        headers = {**headers, **{"X-Slack-Signature": signed_with_timestamp(body, "abc")}}
    response = _post(real.url, body, headers)
    assert response.status_code == 400
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert real.fake.of("response") == [] and _count(real.engine, AuditEntry) == 0


def signed_with_timestamp(body: str, timestamp: str) -> str:
    from slack_sdk.signature import SignatureVerifier

    signature = SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return signature
