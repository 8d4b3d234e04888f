"""A chat.postMessage Slack accepts but answers too late: slack_sdk times out, the outbox must not post it twice."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from aispend.bot.blocks import Message
from aispend.bot.models import OutboxMessage
from aispend.bot.outbox import IN_DOUBT_AFTER, Outbox
from aispend.bot.transport import SlackTransport, make_client
from tests.fakes.slack_api import FakeSlack

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
CLIENT_TIMEOUT = 0.3  # a real socket timeout, short so the test is quick


@pytest.fixture
def slow_slack() -> Iterator[tuple[FakeSlack, threading.Event]]:
    fake = FakeSlack().start()
    gate = threading.Event()
    fake.hold_answers["chat.postMessage"] = gate
    try:
        yield fake, gate
    finally:
        gate.set()
        fake.stop()


def _outbox(engine: Engine, fake: FakeSlack, at: datetime) -> Outbox:
    client = make_client("xoxb-test", fake.api_url, max_retries=2, sleep=lambda _s: None, timeout=CLIENT_TIMEOUT)
    return Outbox(engine, SlackTransport(client), lambda: at)


def _rows(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxMessage)).all())


def test_a_post_slack_accepted_but_answered_late_is_found_not_sent_again(
    engine: Engine, slow_slack: tuple[FakeSlack, threading.Event]
) -> None:
    fake, gate = slow_slack
    outbox = _outbox(engine, fake, NOW)
    with Session(engine) as session:
        outbox.post(session, "digest:2026-W48", "C0GOV", Message(text="weekly digest"))
        session.commit()

    assert outbox.deliver_pending() == 1  # timed out, then found in the channel: counted as sent
    gate.set()
    (row,) = _rows(engine)
    assert row.status == "sent" and row.ts == fake.history["C0GOV"][0]["ts"]

    for later in (NOW, NOW + IN_DOUBT_AFTER + timedelta(minutes=1)):  # the next runs, and after a restart
        _outbox(engine, fake, later).deliver_pending()
    assert len(fake.of("chat.postMessage")) == 1
    assert len(fake.history["C0GOV"]) == 1


def test_a_timed_out_post_that_never_arrived_is_looked_up_again_before_it_is_resent(
    engine: Engine, slow_slack: tuple[FakeSlack, threading.Event]
) -> None:
    fake, gate = slow_slack
    fake.hold_answers["conversations.history"] = gate  # the look-up times out too: still in doubt
    outbox = _outbox(engine, fake, NOW)
    with Session(engine) as session:
        outbox.post(session, "alert:1", "C0FIN", Message(text="red"))
        session.commit()

    assert outbox.deliver_pending() == 0
    (row,) = _rows(engine)
    assert row.status == "sending" and "no answer in time" in (row.last_error or "")
    assert outbox.deliver_pending() == 0  # inside IN_DOUBT_AFTER: left alone, not resent
    assert len(fake.of("chat.postMessage")) == 1

    gate.set()
    fake.hold_answers.clear()
    fake.history.clear()  # Slack never kept it after all
    assert _outbox(engine, fake, NOW + IN_DOUBT_AFTER + timedelta(minutes=1)).deliver_pending() == 1
    assert len(fake.of("chat.postMessage")) == 2 and len(fake.history["C0FIN"]) == 1
