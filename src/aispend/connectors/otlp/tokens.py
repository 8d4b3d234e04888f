"""Ingest tokens: bearer tokens of the live endpoints, stored as their sha256, shown once at creation.

A token may carry default attribution (workflow, team, customer) for the calls sent with it. A revoked
token is refused (401) and nothing is written. `aispend ingest-tokens create|list|revoke`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, RowMapping, insert, select, update

from aispend.core.errors import AispendError
from aispend.core.ledger.models import IngestToken, table_of

TOKENS = table_of(IngestToken)
TOKEN_PREFIX = "aisp_"  # tells an aispend ingest token apart in a config file or a leaked-secret scan
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


class TokenError(AispendError, ValueError):
    code = "ingest_token"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What a request's token says: its name and default attribution (never the token itself)."""

    name: str
    workflow: str = ""
    team: str = ""
    customer: str = ""
    created_at: datetime | None = None
    revoked_at: datetime | None = None
    last_batch_at: datetime | None = None
    spans_accepted: int = 0
    spans_refused: int = 0


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    engine: Engine, name: str, *, now: datetime, workflow: str = "", team: str = "", customer: str = ""
) -> str:
    """A new token named `name`; returns the token (the only time it is seen: only its hash is kept)."""
    if not _NAME.match(name):
        raise TokenError(
            f"token name {name!r}: use 1-64 letters, digits, '_', '.', ':' or '-', starting with a letter or digit"
        )
    for field, value in (("workflow", workflow), ("team", team), ("customer", customer)):
        if len(value) > 128:
            raise TokenError(f"--{field} is longer than 128 characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        if conn.execute(select(TOKENS.c.name).where(TOKENS.c.name == name)).first() is not None:
            raise TokenError(f"an ingest token named {name!r} exists already (revoke it, or choose another name)")
        conn.execute(
            insert(TOKENS).values(
                name=name,
                token_hash=token_hash(token),
                workflow=workflow.strip(),
                team=team.strip(),
                customer=customer.strip(),
                created_at=now,
                spans_accepted=0,
                spans_refused=0,
            )
        )
    return token


def list_tokens(engine: Engine) -> list[TokenInfo]:
    with engine.connect() as conn:
        rows = conn.execute(select(TOKENS).order_by(TOKENS.c.name)).mappings().all()
    return [_info(row) for row in rows]


def revoke_token(engine: Engine, name: str, *, now: datetime) -> bool:
    """Revoke `name`; False when there is no such token or it was revoked already."""
    with engine.begin() as conn:
        result = conn.execute(
            update(TOKENS).where(TOKENS.c.name == name, TOKENS.c.revoked_at.is_(None)).values(revoked_at=now)
        )
    return bool(result.rowcount)


def authenticate(engine: Engine, token: str) -> TokenInfo | None:
    """The token's info when it is known and not revoked, else None. Read on every request, so a
    revocation takes effect at once."""
    if not token:
        return None
    with engine.connect() as conn:
        row = conn.execute(select(TOKENS).where(TOKENS.c.token_hash == token_hash(token))).mappings().first()
    if row is None or row["revoked_at"] is not None:
        return None
    return _info(row)


def record_batch(conn: Connection, name: str, *, now: datetime, accepted: int, refused: int) -> None:
    """Count a committed batch against its token (in the batch's own transaction)."""
    conn.execute(
        update(TOKENS)
        .where(TOKENS.c.name == name)
        .values(
            last_batch_at=now,
            spans_accepted=TOKENS.c.spans_accepted + accepted,
            spans_refused=TOKENS.c.spans_refused + refused,
        )
    )


def _info(row: RowMapping) -> TokenInfo:
    get = row.__getitem__
    return TokenInfo(
        name=get("name"),
        workflow=get("workflow"),
        team=get("team"),
        customer=get("customer"),
        created_at=get("created_at"),
        revoked_at=get("revoked_at"),
        last_batch_at=get("last_batch_at"),
        spans_accepted=int(get("spans_accepted")),
        spans_refused=int(get("spans_refused")),
    )
