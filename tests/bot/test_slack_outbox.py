"""The outbox on a real database: idempotent writes, ordered delivery, retries, the terminal sink."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session, select

from aispend.bot.blocks import Message, section
from aispend.bot.models import OutboxMessage
from aispend.bot.outbox import Delivered, Outbox, PermanentError, RetryLater
from aispend.bot.transport import TerminalTransport, plain_text

NOW = datetime(2026, 11, 25, 10, tzinfo=UTC)


class ScriptedTransport:
    """Answers each send with the next scripted outcome (a Delivered or an exception)."""

    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[str] = []

    def send(self, row: OutboxMessage, parent: OutboxMessage | None) -> Delivered:
        outcome = self.outcomes.pop(0) if self.outcomes else Delivered(ts=f"ts-{row.id}", channel="C1")
        if isinstance(outcome, Exception):
            raise outcome
        self.sent.append(row.idempotency_key)
        assert isinstance(outcome, Delivered)
        return outcome

    def find_delivered(self, row: OutboxMessage, parent: OutboxMessage | None) -> Delivered | None:
        return None


def statuses(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        return {r.idempotency_key: r.status for r in session.exec(select(OutboxMessage)).all()}


def test_same_key_is_written_once(engine: Engine) -> None:
    transport = ScriptedTransport()
    outbox = Outbox(engine, transport, lambda: NOW)
    with Session(engine) as session:
        assert outbox.post(session, "k", "C1", Message(text="one"))
        assert not outbox.post(session, "k", "C1", Message(text="two"))
        session.commit()
    with Session(engine) as session:
        assert not outbox.post(session, "k", "C1", Message(text="three"))
        session.commit()
    assert outbox.deliver_pending() == 1 and outbox.deliver_pending() == 0
    assert transport.sent == ["k"]


def test_thread_reply_waits_for_its_parent_and_temporary_errors_are_retried(engine: Engine) -> None:
    transport = ScriptedTransport(RetryLater("ratelimited"))
    outbox = Outbox(engine, transport, lambda: NOW)
    with Session(engine) as session:
        outbox.post(session, "parent", "C1", Message(text="alert"))
        outbox.post(session, "reply", "", Message(text="line"), thread_of="parent")
        session.commit()
    assert outbox.deliver_pending() == 0  # parent hit a 429 after retries; the reply must not go first
    assert statuses(engine) == {"parent": "pending", "reply": "pending"}
    assert outbox.deliver_pending() == 2
    assert transport.sent == ["parent", "reply"]


def test_permanent_error_fails_the_row_and_keeps_it(engine: Engine) -> None:
    outbox = Outbox(engine, ScriptedTransport(PermanentError("channel_not_found")), lambda: NOW)
    with Session(engine) as session:
        outbox.post(session, "bad", "C404", Message(text="x"))
        session.commit()
    outbox.deliver_pending()
    with Session(engine) as session:
        row = session.exec(select(OutboxMessage)).one()
    assert row.status == "failed" and row.last_error == "channel_not_found" and row.attempts == 1


def test_a_claimed_row_is_not_claimed_twice(engine: Engine) -> None:
    outbox = Outbox(engine, ScriptedTransport(), lambda: NOW)
    with Session(engine) as session:
        outbox.post(session, "k", "C1", Message(text="x"))
        session.commit()
        row_id = session.exec(select(OutboxMessage.id)).one()
    assert row_id is not None
    assert outbox.claim(row_id, "pending") and not outbox.claim(row_id, "pending")


def test_terminal_sink_prints_readable_text(engine: Engine) -> None:
    stream = io.StringIO()
    outbox = Outbox(engine, TerminalTransport(stream), lambda: NOW)
    message = Message(text="fallback", blocks=[section("*R&amp;D* spent $5 &lt;today&gt;, owner <@U0OWNER>")])
    with Session(engine) as session:
        outbox.post(session, "alert:1:post", "C0FIN", message)
        session.commit()
    assert outbox.deliver_pending() == 1
    printed = stream.getvalue()
    assert "R&D spent $5 <today>, owner @U0OWNER" in printed
    assert "[alert:1:post]" in printed
    assert statuses(engine) == {"alert:1:post": "sent"}


def test_plain_text_keeps_snake_case_names() -> None:
    assert plain_text("_no owner_ for support_triage_v2") == "no owner for support_triage_v2"
    assert plain_text(":red_circle: *red* :unknown_code:") == "🔴 red :unknown_code:"
