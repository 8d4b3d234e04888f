"""The one outbox: every message is written to the database first, then sent.

Writing and sending are separate steps so that a crash between them loses nothing (the row stays
pending and the next delivery sends it) and a restart never posts twice:

- a row is unique per idempotency key, so enqueuing the same message again is a no-op;
- a sender claims a row (pending -> sending) with a compare-and-set UPDATE, so two senders never
  both send it;
- a row still `sending` IN_DOUBT_AFTER after its claim is "in doubt" (its sender crashed): the transport
  asks Slack whether it arrived (posts carry the key in message metadata, uploads are found by title) and
  only sends when it did not;
- a send that timed out is in doubt the same way (Slack may have accepted it and answered late): it is
  looked up at once, and when it is not found yet it stays `sending`, so the in-doubt path looks again
  before anything is resent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from aispend.bot.blocks import Message
from aispend.bot.models import (
    FAILED,
    KIND_POST,
    KIND_RESPOND,
    KIND_UPDATE,
    KIND_UPLOAD,
    PENDING,
    SENDING,
    SENT,
    OutboxMessage,
)
from aispend.core.ledger.db import session_scope
from aispend.core.redact import redact
from aispend.core.timeutil import Clock

log = logging.getLogger(__name__)
# A row claimed longer ago than this is "in doubt" (its sender died). Longer than any send can take,
# Retry-After waits included, so a live sender is never second-guessed.
IN_DOUBT_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class Delivered:
    """What Slack answered: where the message is, so later updates and thread replies can find it."""

    ts: str | None
    channel: str | None


class PermanentError(Exception):
    """Slack refused the message for good (e.g. channel_not_found): retrying would not help."""


class RetryLater(Exception):
    """A temporary failure after the client's own retries (429s, connection errors): keep the row pending."""


class InDoubt(Exception):
    """The request may have reached Slack (it timed out waiting for the answer): look before resending."""


class Transport(Protocol):
    def send(self, row: OutboxMessage, parent: OutboxMessage | None) -> Delivered: ...

    def find_delivered(self, row: OutboxMessage, parent: OutboxMessage | None) -> Delivered | None:
        """For a row left `sending` by a crash: what Slack already has, or None if it never arrived."""
        ...


class Outbox:
    def __init__(self, engine: Engine, transport: Transport, clock: Clock) -> None:
        self.engine = engine
        self.transport = transport
        self.clock = clock

    # --- writing (inside the caller's transaction, so state and message commit together) -----------------

    def post(self, session: Session, key: str, channel: str, message: Message, *, thread_of: str | None = None) -> bool:
        return self._add(session, key, KIND_POST, channel=channel, message=message, parent_key=thread_of)

    def update(self, session: Session, key: str, original_key: str, message: Message) -> bool:
        return self._add(session, key, KIND_UPDATE, channel="", message=message, parent_key=original_key)

    def upload(
        self,
        session: Session,
        key: str,
        channel: str,
        data: bytes,
        *,
        filename: str,
        title: str,
        thread_of: str | None = None,
    ) -> bool:
        row = self._new_row(key, KIND_UPLOAD, channel, Message(text=title), thread_of)
        row.file_bytes, row.file_name, row.file_title = data, filename, title
        return self._insert(session, row)

    def respond(self, session: Session, key: str, response_url: str, message: Message, *, share: bool = False) -> bool:
        row = self._new_row(key, KIND_RESPOND, "in_channel" if share else "ephemeral", message, None)
        row.response_url = response_url
        return self._insert(session, row)

    def _add(
        self, session: Session, key: str, kind: str, *, channel: str, message: Message, parent_key: str | None
    ) -> bool:
        return self._insert(session, self._new_row(key, kind, channel, message, parent_key))

    def _new_row(self, key: str, kind: str, channel: str, message: Message, parent_key: str | None) -> OutboxMessage:
        return OutboxMessage(
            idempotency_key=key,
            kind=kind,
            channel=channel,
            parent_key=parent_key,
            text=message.text,
            blocks=message.blocks,
            created_at=self.clock(),
        )

    def _insert(self, session: Session, row: OutboxMessage) -> bool:
        """Add the row unless its key exists; True when it was new."""
        existing = session.exec(
            select(OutboxMessage.id).where(OutboxMessage.idempotency_key == row.idempotency_key)
        ).first()
        if existing is not None:
            return False
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:  # another writer inserted the same key meanwhile
            return False
        return True

    # --- sending ------------------------------------------------------------------------------------

    def deliver_pending(self, limit: int = 500) -> int:
        """Send every pending (and in-doubt) row in order; returns how many were sent now."""
        sent = 0
        for row_id in self._due_ids(limit):
            if self.deliver_one(row_id):
                sent += 1
        return sent

    def _due_ids(self, limit: int) -> Sequence[int]:
        with Session(self.engine) as session:
            ids = session.exec(
                select(OutboxMessage.id)
                .where(col(OutboxMessage.status).in_([PENDING, SENDING]))
                .order_by(col(OutboxMessage.id))
                .limit(limit)
            ).all()
        return [i for i in ids if i is not None]

    def deliver_one(self, row_id: int) -> bool:
        row, parent = self._load(row_id)
        if row is None or row.status in (SENT, FAILED):
            return False
        if row.parent_key and (parent is None or parent.status != SENT):
            return False  # its parent message is not in Slack yet: wait for it
        if row.status == SENDING:
            claimed_at = row.claimed_at or row.created_at
            if self.clock() - claimed_at < IN_DOUBT_AFTER:
                return False  # another sender may be sending it right now
            found = self.transport.find_delivered(row, parent)
            if found is not None:
                self.mark_sent(row_id, found)
                return False
        if not self.claim(row_id, row.status, row.claimed_at):
            return False
        try:
            delivered = self.transport.send(row, parent)
        except InDoubt as exc:
            return self._settle_in_doubt(row_id, row, parent, str(exc))
        except RetryLater as exc:
            self._release(row_id, str(exc))
            return False
        except PermanentError as exc:
            self._fail(row_id, str(exc))
            return False
        self.mark_sent(row_id, delivered)
        return True

    def _settle_in_doubt(self, row_id: int, row: OutboxMessage, parent: OutboxMessage | None, error: str) -> bool:
        """After a timed-out send: sent if Slack has it, else left `sending` for the in-doubt path, which looks
        again once IN_DOUBT_AFTER has passed and only then resends (never straight back to pending)."""
        try:
            found = self.transport.find_delivered(row, parent)
        except RetryLater as exc:
            found, error = None, f"{error}; {exc}"
        if found is not None:
            self.mark_sent(row_id, found)
            return True
        error = redact(error)
        log.warning("outbox message %s is in doubt, looked up again before any resend: %s", row_id, error)
        self._set(row_id, last_error=error[:2000])
        return False

    def claim(self, row_id: int, expected_status: str, expected_claimed_at: datetime | None = None) -> bool:
        """pending -> sending (or re-claim an in-doubt row), only if nobody else changed it first."""
        condition = [col(OutboxMessage.id) == row_id, col(OutboxMessage.status) == expected_status]
        if expected_status == SENDING:
            condition.append(col(OutboxMessage.claimed_at) == expected_claimed_at)
        with session_scope(self.engine) as session:
            result = session.execute(
                update(OutboxMessage)
                .where(*condition)
                .values(status=SENDING, claimed_at=self.clock(), attempts=OutboxMessage.attempts + 1)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def mark_sent(self, row_id: int, delivered: Delivered) -> None:
        with session_scope(self.engine) as session:
            session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == row_id)
                .values(
                    status=SENT,
                    sent_at=self.clock(),
                    ts=delivered.ts,
                    sent_channel=delivered.channel,
                    last_error=None,
                )
            )

    def _release(self, row_id: int, error: str) -> None:
        error = redact(error)
        log.warning("outbox message %s will be retried: %s", row_id, error)
        self._set(row_id, status=PENDING, last_error=error[:2000])

    def _fail(self, row_id: int, error: str) -> None:
        error = redact(error)
        log.error("outbox message %s failed for good: %s", row_id, error)
        self._set(row_id, status=FAILED, last_error=error[:2000])

    def _set(self, row_id: int, **values: object) -> None:
        with session_scope(self.engine) as session:
            session.execute(update(OutboxMessage).where(col(OutboxMessage.id) == row_id).values(**values))

    def _load(self, row_id: int) -> tuple[OutboxMessage | None, OutboxMessage | None]:
        with Session(self.engine, expire_on_commit=False) as session:
            row = session.get(OutboxMessage, row_id)
            parent = None
            if row is not None and row.parent_key:
                parent = session.exec(
                    select(OutboxMessage).where(OutboxMessage.idempotency_key == row.parent_key)
                ).first()
            if row is not None:
                session.expunge(row)
            if parent is not None:
                session.expunge(parent)
            return row, parent


def sent_row(session: Session, key: str) -> OutboxMessage | None:
    return session.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).first()


def outbox_rows(session: Session, since: datetime | None = None) -> Sequence[OutboxMessage]:
    query = select(OutboxMessage).order_by(col(OutboxMessage.id))
    if since is not None:
        query = query.where(col(OutboxMessage.created_at) >= since)
    return session.exec(query).all()


KINDS = (KIND_POST, KIND_UPDATE, KIND_UPLOAD, KIND_RESPOND)
