"""HTTP mode: Bolt behind a small threaded WSGI server at /slack/events (put a TLS proxy in front).

Every POST to /slack/events passes the gate before Bolt sees it: a body over the size limit is refused
(413) without being read into memory; the signature and its age are verified here (401), so a body that
failed verification is never parsed or logged (Bolt logs such bodies whole); a replay of a request that
was let through is answered 200 and has no effect (bot/replay.py); a validly signed body that is not a
request this app handles, or not in the shape its listeners read, is refused with 400.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any, Literal
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier

from aispend.bot.app import SLACK_EVENTS_PATH
from aispend.bot.replay import ReplayGuard

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)
DEFAULT_MAX_BODY_BYTES = 1 << 20  # AISPEND_HTTP_MAX_BODY_BYTES; Slack's own requests are a few KB
_DRAIN_LIMIT = 64 << 20  # an oversized body is read and dropped up to this, so the client sees the 413
_CHUNK = 64 << 10


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return  # request lines are noise; Bolt logs what matters


# --- the shapes of the requests this app handles (what its listeners and Bolt's routing read) -----------


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


_URL = r"^https?://[^\s]+$"  # Slack's response_url is https://hooks.slack.com/...; the bot posts the reply there


class _SlashCommand(_Shape):
    command: str
    text: str = ""
    user_id: str = Field(min_length=1)
    response_url: str = Field(pattern=_URL)
    trigger_id: str = ""


class _User(_Shape):
    id: str = Field(min_length=1)


class _Action(_Shape):
    action_id: str
    block_id: str = ""
    value: str | None = None
    action_ts: str = ""
    selected_user: str | None = None


class _BlockActions(_Shape):
    type: Literal["block_actions"]
    user: _User
    actions: list[_Action] = Field(min_length=1)
    response_url: str | None = Field(default=None, pattern=_URL)
    trigger_id: str = ""


class _Event(_Shape):
    type: str
    user: str | None = None

    @model_validator(mode="after")
    def _home_has_a_user(self) -> _Event:
        if self.type == "app_home_opened" and not self.user:
            raise ValueError("app_home_opened needs the user")
        return self


class _EventCallback(_Shape):
    type: Literal["event_callback"]
    event: _Event


class _UrlVerification(_Shape):
    type: Literal["url_verification"]
    challenge: str


_SHAPES: dict[str, type[_Shape]] = {
    "block_actions": _BlockActions,
    "event_callback": _EventCallback,
    "url_verification": _UrlVerification,
}


def malformed(text: str, headers: dict[str, str]) -> str | None:
    """Why a (validly signed) body is not a request this app handles, or None. Pure."""
    try:
        # Bolt's own parsing (body and context): what it cannot parse would be a 500 inside Bolt.
        body = BoltRequest(body=text, headers={k: [v] for k, v in headers.items()}).body
    except Exception as exc:  # any parse failure is the sender's, not ours
        return f"the body cannot be read ({type(exc).__name__})"
    if not isinstance(body, dict):
        return "the body is not an object"
    if body.get("ssl_check") == "1":
        return None  # Slack's certificate check: Bolt answers it before any listener
    shape = _SlashCommand if "command" in body else _SHAPES.get(str(body.get("type")))
    if shape is None:
        return "not a kind of Slack request this app handles"
    try:
        shape.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        return f"{where}: {first['msg']}"
    return None


# --- the gate ---------------------------------------------------------------------------------------


class SlackGate:
    """The WSGI app in front of Bolt (see the module docstring)."""

    def __init__(
        self,
        bolt: Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]],
        *,
        signing_secret: str,
        replays: ReplayGuard,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if not signing_secret.strip():
            raise ValueError("SLACK_SIGNING_SECRET is empty: HTTP mode cannot verify Slack's requests")
        self.bolt = bolt
        self.verifier = SignatureVerifier(signing_secret)
        self.replays = replays
        self.max_body_bytes = max_body_bytes

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != SLACK_EVENTS_PATH:
            return self.bolt(environ, start_response)  # Bolt answers 404
        status, reason, raw = self._admit(environ)
        if status is not None:
            log.info("Slack request refused with %s: %s", status, reason)
            return _answer(start_response, status, reason)
        environ["wsgi.input"] = io.BytesIO(raw)
        environ["CONTENT_LENGTH"] = str(len(raw))
        return self.bolt(environ, start_response)

    def _admit(self, environ: WSGIEnvironment) -> tuple[str | None, str, bytes]:
        """(refusal status, reason, b"") or (None, "", the body to hand to Bolt)."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return "400 Bad Request", "Content-Length is not a number", b""
        stream = environ["wsgi.input"]
        if length > self.max_body_bytes:
            _drain(stream, min(length, _DRAIN_LIMIT))
            return "413 Content Too Large", f"body of {length} bytes (limit {self.max_body_bytes})", b""
        raw = stream.read(length) if length > 0 else b""
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
        if timestamp and not (timestamp.isascii() and timestamp.isdigit()):
            return "400 Bad Request", "X-Slack-Request-Timestamp is not a number", b""
        try:
            text = raw.decode("utf-8")  # Slack sends UTF-8; slack_sdk's verifier would raise on anything else
        except UnicodeDecodeError:
            return "400 Bad Request", "the body is not UTF-8", b""
        if not timestamp or not self.verifier.is_valid(text, timestamp, signature):
            return "401 Unauthorized", f"invalid signature or stale timestamp ({len(raw)} bytes)", b""
        headers = {"content-type": str(environ.get("CONTENT_TYPE") or "")}
        problem = malformed(text, headers)
        if problem is not None:
            return "400 Bad Request", f"malformed request: {problem}", b""
        if not self.replays.first_time(signature, int(timestamp)):
            return "200 OK", "a replay of a request already let through (ignored)", b""
        return None, "", raw


def _drain(stream: Any, length: int) -> None:
    """Read and drop the body, so that the client reads our answer instead of a reset connection."""
    left = length
    while left > 0:
        chunk = stream.read(min(_CHUNK, left))
        if not chunk:
            return
        left -= len(chunk)


def _answer(start_response: StartResponse, status: str, reason: str) -> Iterable[bytes]:
    body = b"" if status.startswith("200") else (reason.split(":")[0] + "\n").encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


def make_http_server(
    app: App,
    host: str,
    port: int,
    *,
    signing_secret: str,
    replays: ReplayGuard,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> WSGIServer:
    """A server bound to host:port (port 0 picks a free one: see `.server_port`). There is no HTTP mode
    without a signing secret: the gate verifies every request before Bolt sees it."""
    gate = SlackGate(
        SlackRequestHandler(app, path=SLACK_EVENTS_PATH),
        signing_secret=signing_secret,
        replays=replays,
        max_body_bytes=max_body_bytes,
    )
    return make_server(host, port, gate, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)


def serve_in_thread(server: WSGIServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="aispend-http", daemon=True)
    thread.start()
    return thread
