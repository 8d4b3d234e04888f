"""opentelemetry-instrumentation-openai (OpenLLMetry) wrapping the real openai client, talking to a fake
chat-completions server on 127.0.0.1; its spans go through the SDK's OTLP/HTTP exporter to the receiver
and land as priced calls with the right workflow."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from sqlalchemy import Engine

from aispend.connectors.otlp.tokens import create_token
from aispend.core.pricing import PriceBook, TokenCounts
from tests.connectors.otlp_helpers import NOW, calls, running_receiver


class _FakeOpenAI(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps(
            {
                "id": "chatcmpl-fake-1",
                "object": "chat.completion",
                "created": int(NOW.timestamp()),
                "model": request["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1200, "completion_tokens": 80, "total_tokens": 1280},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fake_openai() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_instrumented_openai_calls_land_as_priced_calls(engine: Engine, fake_openai: str) -> None:
    token = create_token(engine, "support-app", now=NOW, team="support")
    with running_receiver(engine) as receiver:
        provider = TracerProvider(resource=Resource.create({"service.name": "support-triage"}))
        exporter = OTLPSpanExporter(
            endpoint=f"http://127.0.0.1:{receiver.port}/v1/traces", headers={"Authorization": f"Bearer {token}"}
        )
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        instrumentor = OpenAIInstrumentor()
        instrumentor.instrument(tracer_provider=provider)
        try:
            client = openai.OpenAI(api_key="sk-test", base_url=fake_openai, max_retries=0)
            reply = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "triage this ticket"}]
            )
        finally:
            instrumentor.uninstrument()
            provider.shutdown()
    assert reply.choices[0].message.content == "ok"
    (row,) = calls(engine)
    assert (row["provider"], row["model"], row["workflow"], row["team"]) == (
        "openai",
        "gpt-4o-mini",
        "support-triage",
        "support",
    )
    assert (row["input_tokens"], row["output_tokens"]) == (1200, 80)
    assert row["cost_source"] == "priced"
    assert row["cost"] == PriceBook().cost("openai", "gpt-4o-mini", row["ts"], TokenCounts(1200, 80))  # type: ignore[arg-type]
