"""OTLP spans -> per-call rows in the README's per-call schema. Pure: no I/O, no pricing.

A span that describes a model call (it names a model and is not an agent, tool or workflow span)
becomes one row; every other span is counted and ignored. The attribute names are the OpenTelemetry
GenAI semantic conventions (current and previous), OpenLLMetry's (traceloop.*, llm.usage.*), OpenLIT's
(gen_ai.usage.cost) and the LiteLLM OTel callback's (gen_ai.cost.total_cost, metadata.*). The table
is docs/ingest-otel.md; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

# Each canonical field of the per-call schema: the span (or resource) attributes that answer it, in order
# of preference. A value found earlier in a list wins.
MODEL = ("gen_ai.response.model", "gen_ai.request.model", "llm.response.model", "llm.request.model")
PROVIDER = ("gen_ai.provider.name", "gen_ai.system", "llm.vendor")
INPUT_TOKENS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",  # semconv before 1.27; OpenLLMetry and OpenLIT still send it
    "llm.usage.prompt_tokens",
)
OUTPUT_TOKENS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.usage.completion_tokens")
CACHE_READ = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")
CACHE_WRITE = ("gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens")
# A cost the span carries (in USD unless aispend.currency says otherwise): aispend's own, OpenLIT's, LiteLLM's.
COST = ("aispend.cost", "gen_ai.usage.cost", "gen_ai.cost.total_cost")
SERVICE_TIER = (
    "gen_ai.openai.response.service_tier",
    "openai.response.service_tier",
    "gen_ai.openai.request.service_tier",
)
RESPONSE_ID = ("gen_ai.response.id",)
RUN_ID = ("aispend.run_id", "gen_ai.conversation.id", "session.id")
WORKFLOW = ("aispend.workflow", "traceloop.association.properties.workflow", "traceloop.workflow.name")
FEATURE = ("aispend.feature", "traceloop.association.properties.feature")
TEAM = ("aispend.team", "traceloop.association.properties.team", "metadata.user_api_key_team_alias")
CUSTOMER = (
    "aispend.customer",
    "traceloop.association.properties.customer",
    "traceloop.association.properties.customer_id",
    "tenant.id",
)
USER = (
    "aispend.user",
    "enduser.id",
    "user.id",
    "gen_ai.user",
    "llm.user",
    "traceloop.association.properties.user_id",
    "metadata.user_api_key_end_user_id",
)
STEP = ("aispend.step", "gen_ai.agent.name")
OUTCOME = ("aispend.outcome",)
PROMPT_PREFIX_HASH = ("aispend.prompt_prefix_hash",)
CURRENCY = ("aispend.currency",)

# Spans that name a model without being one call of it: agent and tool spans (GenAI conventions) and
# OpenLLMetry's workflow/task/agent/tool spans around the calls.
NOT_A_CALL_OPERATIONS = frozenset({"invoke_agent", "create_agent", "execute_tool"})
NOT_A_CALL_KINDS = frozenset({"workflow", "task", "agent", "tool"})

# Provider names as instrumentations send them -> the ledger's provider ids (who bills the call).
PROVIDERS = {
    "az.ai.openai": "azure",
    "azure.ai.openai": "azure",
    "azure_openai": "azure",
    "azure.ai.inference": "azure",
    "aws.bedrock": "aws",
    "bedrock": "aws",
    "gcp.gen_ai": "google",
    "gcp.vertex_ai": "google",
    "gcp.gemini": "google",
    "vertex_ai": "google",
    "gemini": "google",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "unknown": "",
}

# service.name values the SDKs set when the application did not name itself: not a workflow.
_UNNAMED_SERVICE = "unknown_service"


@dataclass(frozen=True, slots=True)
class Defaults:
    """Attribution a request's ingest token carries, and whether service.name is a default workflow or feature."""

    workflow: str = ""
    team: str = ""
    customer: str = ""
    service_name_as: str = "workflow"  # workflow | feature | none
    currency: str = "USD"  # of a carried cost without aispend.currency (the tools report USD)


@dataclass(slots=True)
class MappedSpans:
    """A request's spans: the call rows (span id hex, row), and how many spans were not model calls."""

    rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    ignored: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (span id hex, reason) caught here


def value_of(value: AnyValue) -> Any:
    """An OTLP AnyValue as a Python value (int for intValue: JSON sends it as a string, decoded already)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "array_value":
        return [value_of(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return None


def attributes(pairs: Sequence[KeyValue]) -> dict[str, Any]:
    return {pair.key: value_of(pair.value) for pair in pairs}


def _first(attrs: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = attrs.get(name)
        if value is not None and value != "":
            return value
    return None


def _time(unix_nano: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=unix_nano // 1000)).isoformat()


def is_model_call(attrs: dict[str, Any]) -> bool:
    if _first(attrs, MODEL) is None:
        return False
    if attrs.get("gen_ai.operation.name") in NOT_A_CALL_OPERATIONS:
        return False
    return attrs.get("traceloop.span.kind") not in NOT_A_CALL_KINDS


def provider_id(value: Any) -> Any:
    if type(value) is not str:
        return value
    lowered = value.strip().lower()
    return PROVIDERS.get(lowered, lowered)


def span_row(
    span_attrs: dict[str, Any],
    resource_attrs: dict[str, Any],
    *,
    trace_id: str,
    span_id: str,
    start_unix_nano: int,
    end_unix_nano: int,
    defaults: Defaults,
) -> dict[str, Any]:
    """One model-call span as a per-call row (canonical field names; validation is call_schema's)."""
    get = span_attrs.get

    def attributed(names: tuple[str, ...], token_default: str) -> Any:
        # The span's own attributes (baggage copied onto it included), then the resource's, then the token's.
        found = _first(span_attrs, names)
        if found is None:
            found = _first(resource_attrs, names[:1])
        return token_default if found is None else found

    workflow = attributed(WORKFLOW, defaults.workflow)
    feature = attributed(FEATURE, "")
    service = resource_attrs.get("service.name")
    if type(service) is str and service and not service.startswith(_UNNAMED_SERVICE):
        if defaults.service_name_as == "workflow" and not workflow:
            workflow = service
        elif defaults.service_name_as == "feature" and not feature:
            feature = service
    cost = _first(span_attrs, COST)
    currency = _first(span_attrs, CURRENCY) or _first(resource_attrs, CURRENCY)
    if cost is not None and currency is None:
        currency = defaults.currency
    row: dict[str, Any] = {
        "call_id": span_id,
        "timestamp": _time(start_unix_nano),
        "provider": provider_id(_first(span_attrs, PROVIDER)),
        "model": _first(span_attrs, MODEL),
        "input_tokens": _first(span_attrs, INPUT_TOKENS),
        "output_tokens": _first(span_attrs, OUTPUT_TOKENS),
        "cache_read_tokens": _first(span_attrs, CACHE_READ),
        "cache_write_tokens": _first(span_attrs, CACHE_WRITE),
        "service_tier": _first(span_attrs, SERVICE_TIER),
        "cost": cost,
        "currency": currency,
        "workflow": workflow,
        "feature": feature,
        "team": attributed(TEAM, defaults.team),
        "customer": attributed(CUSTOMER, defaults.customer),
        "user": _first(span_attrs, USER),
        "run_id": _first(span_attrs, RUN_ID) or trace_id,
        "step": _first(span_attrs, STEP),
        "outcome": get("aispend.outcome"),
        "prompt_prefix_hash": get("aispend.prompt_prefix_hash"),
    }
    if end_unix_nano >= start_unix_nano > 0:
        row["latency_ms"] = (end_unix_nano - start_unix_nano) // 1_000_000
    return {key: value for key, value in row.items() if value is not None}


def map_request(request: ExportTraceServiceRequest, defaults: Defaults) -> MappedSpans:
    """Every span of an export request: model calls as rows, the rest counted as ignored."""
    mapped = MappedSpans()
    for resource_spans in request.resource_spans:
        resource_attrs = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                span_id = span.span_id.hex()
                span_attrs = attributes(span.attributes)
                if not is_model_call(span_attrs):
                    mapped.ignored += 1
                    continue
                if len(span.span_id) != 8:
                    mapped.refused.append((span_id or "(none)", "span id must be 8 bytes (16 hex digits)"))
                    continue
                mapped.rows.append(
                    (
                        span_id,
                        span_row(
                            span_attrs,
                            resource_attrs,
                            trace_id=span.trace_id.hex(),
                            span_id=span_id,
                            start_unix_nano=span.start_time_unix_nano,
                            end_unix_nano=span.end_time_unix_nano,
                            defaults=defaults,
                        ),
                    )
                )
    return mapped


def span_count(request: ExportTraceServiceRequest) -> int:
    return sum(len(scope.spans) for rs in request.resource_spans for scope in rs.scope_spans)


def iter_spans(request: ExportTraceServiceRequest) -> Iterator[Any]:
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            yield from scope_spans.spans
