"""The OTLP/HTTP receiver with the real OpenTelemetry SDK and its OTLP/HTTP protobuf exporter, the OTLP
JSON path, the plain JSON /v1/calls endpoint, and every kind of bad input (status and message)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import Engine

from aispend.connectors.otlp.receiver import IngestReceiver, LandedBatch
from aispend.connectors.otlp.tokens import create_token, list_tokens, revoke_token
from aispend.core.pricing import PriceBook, TokenCounts
from tests.connectors.otlp_helpers import NOW, calls, running_receiver


@pytest.fixture
def landed() -> list[LandedBatch]:
    return []


@pytest.fixture
def receiver(engine: Engine, landed: list[LandedBatch]) -> Iterator[IngestReceiver]:
    with running_receiver(engine, landed, max_body_bytes=200_000) as running:
        yield running


@pytest.fixture
def token(engine: Engine) -> str:
    return create_token(engine, "app", now=NOW, team="support")


def _spans(service: str = "support-triage") -> list[ReadableSpan]:
    """Spans made by the real SDK: two model calls (one OpenLLMetry-style, one OpenLIT with its cost)
    inside a workflow span that is not a call."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("agent", attributes={"traceloop.span.kind": "workflow"}):
        with tracer.start_as_current_span(
            "chat gpt-4o-mini",
            attributes={
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                "gen_ai.usage.input_tokens": 1000,
                "gen_ai.usage.output_tokens": 200,
                "gen_ai.usage.cache_read.input_tokens": 400,
                "aispend.step": "classify",
            },
        ):
            pass
        with tracer.start_as_current_span(
            "openai.chat",
            attributes={
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.prompt_tokens": 50,
                "gen_ai.usage.completion_tokens": 5,
                "gen_ai.usage.cost": 0.0123,
                "aispend.workflow": "drafting",
                "gen_ai.conversation.id": "conv-7",
            },
        ):
            pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def _exporter(receiver: IngestReceiver, token: str) -> OTLPSpanExporter:
    return OTLPSpanExporter(
        endpoint=f"http://127.0.0.1:{receiver.port}/v1/traces", headers={"Authorization": f"Bearer {token}"}
    )


def test_sdk_protobuf_export_lands_priced_calls_with_their_workflow(
    engine: Engine, receiver: IngestReceiver, token: str, landed: list[LandedBatch]
) -> None:
    spans = _spans()
    assert _exporter(receiver, token).export(spans) is SpanExportResult.SUCCESS
    rows = {row["model"]: row for row in calls(engine)}
    assert set(rows) == {"gpt-4o-mini-2024-07-18", "gpt-4o"}
    mini, big = rows["gpt-4o-mini-2024-07-18"], rows["gpt-4o"]
    call_span = next(s for s in spans if s.name == "chat gpt-4o-mini")
    assert mini["call_key"] == f"id:openai:{call_span.context.span_id:016x}"
    assert mini["workflow"] == "support-triage"  # service.name, the default workflow
    assert mini["team"] == "support"  # the token's default
    assert mini["run_id"] == f"{call_span.context.trace_id:032x}"  # no conversation id: the trace
    assert mini["step"] == "classify"
    assert (mini["input_tokens"], mini["output_tokens"], mini["cache_read_tokens"]) == (1000, 200, 400)
    expected = PriceBook().cost("openai", "gpt-4o-mini-2024-07-18", mini["ts"], TokenCounts(1000, 200, 400))  # type: ignore[arg-type]
    assert mini["cost"] == expected and mini["cost_source"] == "priced"
    assert big["workflow"] == "drafting" and big["run_id"] == "conv-7"
    assert big["cost"] == Decimal("0.0123") and big["cost_source"] == "given"
    stats = receiver.stats.snapshot()["app"]
    assert (stats.accepted, stats.refused, stats.ignored, stats.batches) == (2, 0, 1, 1)
    (persisted,) = list_tokens(engine)
    assert persisted.spans_accepted == 2 and persisted.last_batch_at is not None
    assert [(b.source, b.token, b.inserted, b.workflows) for b in landed] == [
        ("otlp", "app", 2, frozenset({"support-triage", "drafting"}))
    ]


def test_a_retried_batch_adds_nothing(engine: Engine, receiver: IngestReceiver, token: str) -> None:
    spans = _spans()
    exporter = _exporter(receiver, token)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    before = calls(engine)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert calls(engine) == before and len(before) == 2


def _otlp_json(spans: list[dict[str, object]], service: str = "search") -> dict[str, object]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [{"scope": {"name": "x"}, "spans": spans}],
            }
        ]
    }


def _json_span(span_id: str, **attrs: object) -> dict[str, object]:
    start = int(NOW.timestamp()) * 10**9
    values = []
    for key, value in attrs.items():
        if isinstance(value, str):
            values.append({"key": key, "value": {"stringValue": value}})
        else:
            values.append({"key": key, "value": {"intValue": str(value)}})  # int64 as a string, as OTLP JSON has it
    return {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": span_id,
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 1_500_000_000),
        "attributes": values,
    }


def _post(receiver: IngestReceiver, path: str, body: bytes, token: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{receiver.port}{path}",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers},
    )


def test_otlp_json_with_hex_ids_and_string_ints_gzip_too(engine: Engine, receiver: IngestReceiver, token: str) -> None:
    good = _json_span("eee19b7ec3c1b174", **{"gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 10})
    bad = _json_span("eee19b7ec3c1b175", **{"gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": -5})
    unknown = _json_span("eee19b7ec3c1b176", **{"gen_ai.request.model": "acme-llm-9", "gen_ai.usage.input_tokens": 3})
    other = _json_span("eee19b7ec3c1b177", **{"http.method": "GET"})
    body = gzip.compress(json.dumps(_otlp_json([good, bad, unknown, other])).encode())
    response = _post(receiver, "/v1/traces", body, token, **{"Content-Encoding": "gzip"})
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert "span eee19b7ec3c1b175: input_tokens must not be negative, got -5" in partial["errorMessage"]
    assert "acme-llm-9" in partial["errorMessage"] and "unpriced" in partial["errorMessage"]
    rows = {row["call_key"]: row for row in calls(engine)}
    # No provider given: the key has none (as in a file import), the row gets the inferred one.
    assert set(rows) == {"id::eee19b7ec3c1b174", "id::eee19b7ec3c1b176"}
    assert rows["id::eee19b7ec3c1b174"]["provider"] == "openai"
    assert rows["id::eee19b7ec3c1b174"]["latency_ms"] == 1500
    assert rows["id::eee19b7ec3c1b174"]["workflow"] == "search"
    assert rows["id::eee19b7ec3c1b176"]["cost_source"] == "unpriced"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b"\xff\xff\xff\xff", "application/x-protobuf", 400, "malformed protobuf"),
        (b'{"resourceSpans": [', "application/json", 400, "malformed JSON"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "zz"}]}]}]}', "application/json", 400, "not hex"),
        (b"x" * 200_001, "application/x-protobuf", 413, "larger than 200,000"),
        (b"{}", "text/plain", 415, "Content-Type text/plain"),
    ],
)
def test_bad_bodies_get_their_status_and_nothing_is_written(
    engine: Engine, receiver: IngestReceiver, token: str, body: bytes, content_type: str, status: int, message: str
) -> None:
    response = _post(receiver, "/v1/traces", body, token, **{"Content-Type": content_type})
    assert response.status_code == status
    if response.headers["Content-Type"] == "application/x-protobuf":
        text = status_pb2.Status.FromString(response.content).message
    else:
        text = response.json()["message"]
    assert message in text
    assert calls(engine) == []


def test_gzip_bomb_is_413(engine: Engine, receiver: IngestReceiver, token: str) -> None:
    body = gzip.compress(b"\0" * 1_000_000)
    response = _post(receiver, "/v1/traces", body, token, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413 and "once decompressed" in response.json()["message"]


def test_wrong_and_revoked_tokens_are_401_and_write_nothing(
    engine: Engine, receiver: IngestReceiver, token: str
) -> None:
    spans = _spans()
    assert _exporter(receiver, "aisp_wrong").export(spans) is SpanExportResult.FAILURE
    response = _post(receiver, "/v1/traces", b"{}", "aisp_wrong")
    assert response.status_code == 401 and "unknown or revoked" in response.json()["message"]
    assert httpx.post(f"http://127.0.0.1:{receiver.port}/v1/calls", content=b"{}").status_code == 401
    assert revoke_token(engine, "app", now=NOW)
    assert _exporter(receiver, token).export(spans) is SpanExportResult.FAILURE
    assert calls(engine) == []


def test_protobuf_partial_success(engine: Engine, receiver: IngestReceiver, token: str) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span(
        "chat", attributes={"gen_ai.request.model": "gpt-4o", "gen_ai.usage.output_tokens": -1}
    ):
        pass
    with tracer.start_as_current_span(
        "chat", attributes={"gen_ai.request.model": "gpt-4o", "gen_ai.usage.output_tokens": 7}
    ):
        pass
    body = encode_spans(list(memory.get_finished_spans())).SerializeToString()
    response = _post(receiver, "/v1/traces", body, token, **{"Content-Type": "application/x-protobuf"})
    assert response.status_code == 200
    parsed = ExportTraceServiceResponse.FromString(response.content)
    assert parsed.partial_success.rejected_spans == 1
    assert "output_tokens must not be negative, got -1" in parsed.partial_success.error_message
    assert len(calls(engine)) == 1


def test_plain_json_calls_same_validation_and_idempotency(
    engine: Engine, receiver: IngestReceiver, token: str, landed: list[LandedBatch]
) -> None:
    rows = [
        {"call_id": "c-1", "timestamp": NOW.isoformat(), "model": "gpt-4o-mini", "input_tokens": 100, "workflow": "w"},
        {"call_id": "c-2", "timestamp": NOW.isoformat(), "model": "gpt-4o-mini", "input_tokens": "0,25"},
        {"call_id": "c-3", "timestamp": NOW.isoformat(), "model": "gpt-4o-mini", "cost": "0.5"},
    ]
    response = _post(receiver, "/v1/calls", json.dumps(rows).encode(), token)
    assert response.status_code == 200
    result = response.json()
    assert result["inserted"] == 2
    assert [r["index"] for r in result["rejected"]] == [1]
    assert "input_tokens must be a whole number, got '0,25'" in result["rejected"][0]["reason"]
    again = _post(receiver, "/v1/calls", json.dumps(rows[0]).encode(), token).json()
    assert again["inserted"] == 0 and again["duplicates"] == 1
    stored = {row["call_key"]: row for row in calls(engine)}
    assert stored["id::c-1"]["workflow"] == "w" and stored["id::c-1"]["team"] == "support"
    assert stored["id::c-3"]["cost"] == Decimal("0.5")
    all_bad = _post(receiver, "/v1/calls", json.dumps([rows[1]]).encode(), token)
    assert all_bad.status_code == 422
    assert _post(receiver, "/v1/calls", b"[{", token).status_code == 400
    assert [b.inserted for b in landed] == [2]
