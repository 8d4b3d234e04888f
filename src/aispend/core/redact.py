"""Secrets out of error texts: the one home for redaction.

An upstream may echo the credential it refused ("Incorrect API key provided: Bearer sk-admin-…"), and
error texts travel far: sync_state, `status --json`, governance findings, the Slack digest, the outbox,
logs. Every error text aispend stores, logs or shows goes through `redact`, which removes

- every configured secret (each SecretStr setting and the database URL's password), also as a gateway
  may echo it: URL-encoded, JSON- or HTML-escaped, base64, in another case, or cut short (a piece of 12
  characters or more);
- any `Bearer …` credential and the password of any URL, configured or not.

The secrets are gathered from every Settings object built in this process (settings are built once,
at the entry point), so code deep in a connector or the outbox needs no settings to redact.
A piece of a key shorter than 12 characters (a masked prefix such as "sk-admin-…") is left: it
identifies the key without giving it away.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from pydantic import BaseModel, SecretStr

REDACTED = "[redacted]"
# Shorter secrets are not searched for in free text (they would match ordinary words); URL passwords of
# any length are still masked by _URL_PASSWORD.
MIN_SECRET_LENGTH = 6
# A run of at least this many characters of a secret is a piece of it (an echo cut short).
MIN_PIECE_LENGTH = 12

_BEARER = re.compile(r"\b(Bearer)(\s+)([A-Za-z0-9._~+/=:%-]{8,})", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)([^@\s/]+)(@)")
_TOKEN = re.compile(rf"[A-Za-z0-9._~+/=%-]{{{MIN_PIECE_LENGTH},}}")

_lock = threading.Lock()
_known: set[str] = set()  # every variant of every configured secret, longest matched first


def variants(secret: str) -> set[str]:
    """The forms in which an upstream or a gateway may echo `secret`. Pure."""
    forms = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        html.escape(secret),
        base64.b64encode(secret.encode()).decode().rstrip("="),
    }
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


def database_password(url: str) -> str | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        password = make_url(url).password
    except (ArgumentError, ValueError):
        return None
    return str(password) if password else None


def secrets_of(settings: BaseModel) -> list[str]:
    """The secret values of a settings object: each SecretStr field, and the database URL's password."""
    found = []
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr) and value.get_secret_value():
            found.append(value.get_secret_value())
        elif name.endswith("database_url") and isinstance(value, str):
            password = database_password(value)
            if password:
                found.append(password)
    return found


def remember(secrets: Iterable[str]) -> None:
    """Adds secrets to the process-wide set `redact` removes (called for every Settings built)."""
    with _lock:
        for secret in secrets:
            if len(secret) >= MIN_SECRET_LENGTH:
                _known.update(variants(secret))


def redact(text: str | None, secrets: Iterable[str] | None = None) -> str:
    """`text` without any configured secret (or `secrets`, when given), credential header or URL password."""
    if not text:
        return text or ""
    if secrets is None:
        with _lock:
            known = sorted(_known, key=len, reverse=True)
    else:
        known = sorted({v for s in secrets if len(s) >= MIN_SECRET_LENGTH for v in variants(s)}, key=len, reverse=True)
    if known:  # case-insensitive: some gateways upper- or lower-case what they echo
        text = re.sub("|".join(re.escape(k) for k in known), REDACTED, text, flags=re.IGNORECASE)
        folded = [k.casefold() for k in known]
        text = _TOKEN.sub(lambda m: REDACTED if any(m.group(0).casefold() in k for k in folded) else m.group(0), text)
    text = _BEARER.sub(_bearer, text)
    return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}***{m.group(3)}", text)


def _bearer(match: re.Match[str]) -> str:
    token = match.group(3)
    if not any(c.isdigit() for c in token):  # "Bearer authentication failed": a word, not a token
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}{REDACTED}"


def redact_optional(text: str | None) -> str | None:
    return None if text is None else redact(text)


def install_log_filter() -> None:
    """Redact on every root handler and on logging's last-resort handler (commands that set up no logging)."""
    handlers = [logging.lastResort, *logging.getLogger().handlers]
    for handler in handlers:
        if handler is not None and not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


class RedactingFilter(logging.Filter):
    """On a handler: every record's message (and traceback) leaves without secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
