"""HTTP mode: Bolt behind a small threaded WSGI server at /slack/events (put a TLS proxy in front)."""

from __future__ import annotations

import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from aispend.bot.app import SLACK_EVENTS_PATH


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return  # request lines are noise; Bolt logs what matters


def make_http_server(app: App, host: str, port: int) -> WSGIServer:
    """A server bound to host:port (port 0 picks a free one: see `.server_port`)."""
    return make_server(
        host,
        port,
        SlackRequestHandler(app, path=SLACK_EVENTS_PATH),
        server_class=_ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )


def serve_in_thread(server: WSGIServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="aispend-http", daemon=True)
    thread.start()
    return thread
