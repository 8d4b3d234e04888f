"""A tiny threaded HTTP server on 127.0.0.1:0 that hands every request to a Python handler.

Subclasses implement `route(request) -> Response`. Scripted failures (`fail_next`) and a request log
are shared by every fake.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]

    def one(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return default

    def many(self, name: str) -> list[str]:
        return [value for key, value in self.query if key in (name, f"{name}[]")]


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ScriptedFailure:
    status: int
    headers: dict[str, str]
    path: str | None  # only requests to this path fail; None = any
    remaining: int
    body: Any = None  # None: the fake's own error body for the status


def encode_cursor(offset: int) -> str:
    return "page_" + base64.urlsafe_b64encode(str(offset).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    raw = cursor.removeprefix("page_")
    return int(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode())


class FakeServer:
    """Start with `with fake.running() as base_url:` or start()/stop()."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._failures: list[ScriptedFailure] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- scripting -----------------------------------------------------------------------------
    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        path: str | None = None,
        body: Any = None,
    ) -> None:
        """The next `times` requests (to `path`, if given) answer `status` with `headers` (and `body`)."""
        with self._lock:
            self._failures.append(ScriptedFailure(status, headers or {}, path, times, body))

    def error_body(self, status: int) -> Any:
        return {"error": {"message": f"scripted HTTP {status}"}}

    def route(self, request: Request) -> Response:
        raise NotImplementedError

    def calls_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    # --- serving -------------------------------------------------------------------------------
    def _handle(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(request)
            for failure in self._failures:
                if failure.remaining > 0 and (failure.path is None or failure.path == request.path):
                    failure.remaining -= 1
                    body = self.error_body(failure.status) if failure.body is None else failure.body
                    return Response(failure.status, body, dict(failure.headers))
        return self.route(request)

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms delayed-ACK stalls

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                parts = urlsplit(self.path)
                request = Request(
                    method=method,
                    path=parts.path,
                    query=parse_qsl(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                )
                response = fake._handle(request)
                payload = b"" if response.body is None else json.dumps(response.body).encode()
                self.send_response(response.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @contextmanager
    def running(self) -> Iterator[str]:
        url = self.start()
        try:
            yield url
        finally:
            self.stop()
