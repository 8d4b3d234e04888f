"""A local fake of Slack's Web API (and of response_url / file upload URLs) for slack_sdk and Bolt.

Speaks the wire format slack_sdk uses: POST /api/<method> with form-encoded or JSON bodies and a
Bearer token, answers {"ok": true, ...}. Records every request body; can answer 429 with Retry-After;
keeps channel history so conversations.history / .replies show what was posted (with metadata).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class Call:
    method: str  # "chat.postMessage", "upload", "response"
    body: dict[str, Any]
    raw: bytes = b""
    path: str = ""


@dataclass
class FakeSlack:
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    rate_limits: dict[str, list[int]] = field(default_factory=dict)  # method -> Retry-After values to answer
    fail_with: dict[str, str] = field(default_factory=dict)  # method -> Slack error code
    # method -> an event the answer waits for: the call is recorded (and posted) first, answered only once
    # the test sets it (after the client gave up waiting), as a slow Slack does.
    hold_answers: dict[str, threading.Event] = field(default_factory=dict)
    _lock: threading.Condition = field(default_factory=threading.Condition)
    _counter: int = 0
    server: ThreadingHTTPServer | None = None

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status, headers, payload = fake.handle(self.path, self.headers.get("Content-Type", ""), raw)
                gate = fake.hold_answers.get(urlparse(self.path).path.removeprefix("/api/"))
                if gate is not None:
                    gate.wait(timeout=30)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json" if not isinstance(payload, bytes) else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except BrokenPipeError:  # a held answer: the client stopped waiting long ago
                    return

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/"

    def response_url(self, name: str) -> str:
        return f"{self.base}/response/{name}"

    # --- test helpers -------------------------------------------------------------------------------

    def rate_limit(self, method: str, *retry_after: int) -> None:
        """The next len(retry_after) calls of `method` get 429 with these Retry-After values."""
        self.rate_limits.setdefault(method, []).extend(retry_after)

    def methods(self) -> list[str]:
        with self._lock:
            return [c.method for c in self.calls]

    def of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, predicate: Callable[[FakeSlack], bool], timeout: float = 10.0) -> None:
        """Block until `predicate(fake)` holds (checked after every request), or fail after `timeout`."""
        with self._lock:
            if not self._lock.wait_for(lambda: predicate(self), timeout=timeout):
                raise AssertionError(f"timed out waiting; calls so far: {[c.method for c in self.calls]}")

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    # --- the API ------------------------------------------------------------------------------------

    def handle(self, path: str, content_type: str, raw: bytes) -> tuple[int, dict[str, str], Any]:
        parsed = urlparse(path)
        with self._lock:
            try:
                return self._handle(parsed.path, content_type, raw)
            finally:
                self._lock.notify_all()

    def _handle(self, path: str, content_type: str, raw: bytes) -> tuple[int, dict[str, str], Any]:
        if path.startswith("/upload/"):
            file_id = path.rsplit("/", 1)[-1]
            self.uploads[file_id] = raw
            self.calls.append(Call("upload", {"file_id": file_id, "length": len(raw)}, raw, path))
            return 200, {}, b"OK - " + str(len(raw)).encode()
        if path.startswith("/response/"):
            body = json.loads(raw or b"{}")
            self.calls.append(Call("response", body, raw, path))
            return 200, {}, b"ok"
        if not path.startswith("/api/"):
            return 404, {}, {"ok": False, "error": "unknown_path"}
        method = path[len("/api/") :]
        body = self._body(content_type, raw)
        self.calls.append(Call(method, body, raw, path))
        pending = self.rate_limits.get(method)
        if pending:
            return 429, {"Retry-After": str(pending.pop(0))}, {"ok": False, "error": "ratelimited"}
        if method in self.fail_with:
            return 200, {}, {"ok": False, "error": self.fail_with[method]}
        answer = getattr(self, "_" + method.replace(".", "_"), None)
        if answer is None:
            return 200, {}, {"ok": False, "error": "unknown_method"}
        return 200, {}, answer(body)

    @staticmethod
    def _body(content_type: str, raw: bytes) -> dict[str, Any]:
        if "json" in content_type:
            return dict(json.loads(raw or b"{}"))
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        for key in ("blocks", "files", "metadata", "view"):
            if isinstance(form.get(key), str):
                form[key] = json.loads(form[key])
        return form

    def _next_ts(self) -> str:
        self._counter += 1
        return f"{1_790_000_000 + self._counter}.{self._counter:06d}"

    def _auth_test(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1"}

    def _chat_postMessage(self, body: dict[str, Any]) -> dict[str, Any]:
        ts = self._next_ts()
        message = {
            "ts": ts,
            "text": body.get("text"),
            "blocks": body.get("blocks"),
            "metadata": body.get("metadata"),
        }
        if body.get("thread_ts"):
            message["thread_ts"] = body["thread_ts"]
        self.history.setdefault(body["channel"], []).append(message)
        return {"ok": True, "channel": body["channel"], "ts": ts, "message": message}

    def _chat_update(self, body: dict[str, Any]) -> dict[str, Any]:
        for message in self.history.get(body["channel"], []):
            if message["ts"] == body["ts"]:
                message.update(text=body.get("text"), blocks=body.get("blocks"))
                return {"ok": True, "channel": body["channel"], "ts": body["ts"]}
        return {"ok": False, "error": "message_not_found"}

    def _conversations_history(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = [m for m in self.history.get(body["channel"], []) if "thread_ts" not in m]
        return {"ok": True, "messages": list(reversed(messages)), "has_more": False}

    def _conversations_replies(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = [m for m in self.history.get(body["channel"], []) if m.get("thread_ts") == body["ts"]]
        return {"ok": True, "messages": messages, "has_more": False}

    def _files_getUploadURLExternal(self, body: dict[str, Any]) -> dict[str, Any]:
        self._counter += 1
        file_id = f"F{self._counter:05d}"
        return {"ok": True, "upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id}

    def _files_completeUploadExternal(self, body: dict[str, Any]) -> dict[str, Any]:
        files = body["files"]
        missing = [f["id"] for f in files if f["id"] not in self.uploads]
        if missing:
            return {"ok": False, "error": "file_not_uploaded"}
        shared = [{"id": f["id"], "title": f.get("title")} for f in files]
        channel = body.get("channel_id")
        if channel:
            self.history.setdefault(channel, []).append({"ts": self._next_ts(), "files": shared})
        return {"ok": True, "files": shared}

    def _usergroups_users_list(self, body: dict[str, Any]) -> dict[str, Any]:
        group = body.get("usergroup", "")
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": self.usergroups[group]}

    def _views_publish(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "view": {"id": "V1", **(body.get("view") or {})}}
