"""The live ingest receiver: OTLP/HTTP traces (`POST /v1/traces`) and plain JSON calls (`POST /v1/calls`).

Both take `Authorization: Bearer <ingest token>`. A batch is validated with the per-call schema, priced
as file imports are and written through the file importer's write path (connectors/files/calls.py:
one transaction with the rollups and run totals); the 2xx is sent only after the commit. Span ids are
call ids, so an exporter that retries a batch adds nothing. Status codes: docs/ingest-otel.md.

`on_landed(LandedBatch)` is called after each committed batch that inserted calls (the composition
root hooks the debounced evaluation to it); `ReceiverStats.snapshot()` gives the counters per token.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from aispend.connectors.files.call_schema import DEFAULT_MAX_CALL_COST, CallLimits
from aispend.connectors.files.calls import BatchLog, ImportSummary, stored_calls, write_batch
from aispend.connectors.files.readers import SourceRow, decode_json_line
from aispend.connectors.otlp.mapping import Defaults, map_request, span_count
from aispend.connectors.otlp.tokens import TokenInfo, authenticate, record_batch
from aispend.core.ledger.calls import CallEncoder, batch_totals, purge_watermark
from aispend.core.pricing import PriceBook, price_book
from aispend.core.settings import Settings
from aispend.core.timeutil import Clock, system_clock

log = logging.getLogger("aispend.ingest")

SOURCE_OTLP = "otlp"
SOURCE_CALLS = "calls"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MAX_LISTED = 20  # rejections named in one response (the count covers all)
_JSON_DECODER = msgspec.json.Decoder(float_hook=Decimal)
_JSON_ENCODER = msgspec.json.Encoder(decimal_format="number")


@dataclass(frozen=True, slots=True)
class ReceiverConfig:
    host: str = "127.0.0.1"
    port: int = 4318
    max_body_bytes: int = 16 << 20  # after gzip decompression too
    max_pending: int = 8  # requests being processed at once; more are shed with 429 + Retry-After
    retry_after_seconds: int = 5
    service_name_as: str = "workflow"
    currency: str = "USD"
    max_call_cost: Any = DEFAULT_MAX_CALL_COST


@dataclass(frozen=True, slots=True)
class LandedBatch:
    """What one committed batch brought: for the debounced evaluation trigger."""

    source: str  # otlp | calls
    token: str
    inserted: int
    days: frozenset[str] = frozenset()  # UTC days (ISO) of the inserted calls
    workflows: frozenset[str] = frozenset()


@dataclass
class TokenStats:
    accepted: int = 0  # spans / rows written or already in the ledger
    refused: int = 0  # rejected spans / rows, and every span of a refused request
    ignored: int = 0  # spans that are not model calls
    batches: int = 0
    last_batch_at: datetime | None = None


@dataclass
class ReceiverStats:
    """In-memory counters by token name ("" for requests without a valid token). The persisted
    counterpart (last batch time, accepted and refused counts) is on each ingest_token row."""

    _by_token: dict[str, TokenStats] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count(
        self, token: str, *, accepted: int = 0, refused: int = 0, ignored: int = 0, at: datetime | None = None
    ) -> None:
        with self._lock:
            stats = self._by_token.setdefault(token, TokenStats())
            stats.accepted += accepted
            stats.refused += refused
            stats.ignored += ignored
            if at is not None:
                stats.batches += 1
                stats.last_batch_at = at

    def snapshot(self) -> dict[str, TokenStats]:
        with self._lock:
            return {name: TokenStats(**vars(stats)) for name, stats in self._by_token.items()}


class RequestError(Exception):
    """A request refused as a whole: its status and the message the client sees."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass
class BatchResult:
    accepted: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (span id or row index, reason)
    ignored: int = 0
    warnings: list[str] = field(default_factory=list)
    inserted: int = 0
    duplicates: int = 0


class Ingest:
    """The receiver's work without HTTP: authenticate, map, validate, price, write."""

    def __init__(
        self,
        engine: Engine,
        config: ReceiverConfig,
        *,
        prices: PriceBook | None = None,
        clock: Clock = system_clock,
        on_landed: Callable[[LandedBatch], object] | None = None,
        stats: ReceiverStats | None = None,
    ) -> None:
        self.engine = engine
        self.config = config
        self.prices = prices or PriceBook()
        self.clock = clock
        self.on_landed = on_landed
        self.stats = stats or ReceiverStats()
        self.encoder = CallEncoder(type(engine.dialect))
        self._stamp_lock = threading.Lock()
        self._last_stamp: datetime | None = None
        # SQLite has one writer at a time: queue the batches here rather than in its busy loop.
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else None

    def token(self, authorization: str | None) -> TokenInfo:
        scheme, _, secret = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise RequestError(401, "missing bearer token: send Authorization: Bearer <ingest token>")
        try:
            info = authenticate(self.engine, secret.strip())
        except DBAPIError as exc:
            raise self._unavailable(exc) from None
        if info is None:
            raise RequestError(401, "unknown or revoked ingest token (aispend ingest-tokens list)")
        return info

    def _stamp(self) -> datetime:
        """The batch's ingested_at: unique per batch (the ledger tells a batch's rows by it)."""
        with self._stamp_lock:
            now = self.clock()
            if self._last_stamp is not None and now <= self._last_stamp:
                now = self._last_stamp + timedelta(microseconds=1)
            self._last_stamp = now
            return now

    def _unavailable(self, exc: Exception) -> RequestError:
        log.warning("ingest: database unavailable (%s); asking the client to retry", exc.__class__.__name__)
        return RequestError(503, "the ledger database is unavailable; retry later", self.config.retry_after_seconds)

    # --- OTLP ---------------------------------------------------------------------------
    def traces(self, token: TokenInfo, request: ExportTraceServiceRequest) -> BatchResult:
        config = self.config
        defaults = Defaults(token.workflow, token.team, token.customer, config.service_name_as, "USD")
        mapped = map_request(request, defaults)
        rows = [SourceRow(span_id, index, fields) for index, (span_id, fields) in enumerate(mapped.rows)]
        result = self._write(token, rows, SOURCE_OTLP, early_refused=mapped.refused)
        result.ignored = mapped.ignored
        self.stats.count(token.name, ignored=mapped.ignored)
        return result

    # --- plain JSON calls ------------------------------------------------------------------
    def calls(self, token: TokenInfo, body: bytes) -> BatchResult:
        try:
            value = _JSON_DECODER.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise RequestError(400, f"not valid JSON: {exc}") from None
        items = value if isinstance(value, list) else [value]
        rows = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                rows.append(SourceRow("row", index, None, "a row must be a JSON object"))
                continue
            fields, error = decode_json_line(_JSON_ENCODER.encode(item))  # exactly as a JSONL line is read
            if fields is not None:
                for name, default in (("workflow", token.workflow), ("team", token.team), ("customer", token.customer)):
                    if default and not _attributed(fields, name):
                        fields[name] = default
            rows.append(SourceRow("row", index, fields, error))
        return self._write(token, rows, SOURCE_CALLS)

    # --- the write -------------------------------------------------------------------------
    def _write(
        self, token: TokenInfo, rows: list[SourceRow], source: str, early_refused: list[tuple[str, str]] | None = None
    ) -> BatchResult:
        config = self.config
        result = BatchResult(rejected=list(early_refused or []))
        now = self._stamp()
        summary = ImportSummary()
        origins: list[SourceRow] = []
        try:
            with self.engine.connect() as conn:
                watermark = purge_watermark(conn)
            limits = CallLimits.at(now, config.max_call_cost, self.engine.dialect.name)
            calls = stored_calls(rows, self.prices, config.currency, watermark, summary, limits, origins)
            encoded = self.encoder.encode(calls, now)
            totals = batch_totals(encoded, self.encoder.sqlite)
            refused_before = summary.rejected_count + len(result.rejected)

            def count(conn: Connection, inserted: int, conflicts: int) -> None:
                record_batch(
                    conn, token.name, now=now, accepted=len(encoded) - conflicts, refused=refused_before + conflicts
                )

            # The live ingest log (`aispend status`, /metrics), in the batch's own transaction.
            batch_log = BatchLog(source=source, token_name=token.name, received_at=now, refused=refused_before)
            if self._write_lock is not None:
                with self._write_lock:
                    write_batch(self.engine, encoded, totals, now, summary, origins, log=batch_log, also=count)
            else:
                write_batch(self.engine, encoded, totals, now, summary, origins, log=batch_log, also=count)
        except DBAPIError as exc:
            raise self._unavailable(exc) from None
        result.inserted = summary.inserted
        result.duplicates = summary.duplicates
        result.rejected += [(_where(r.file, r.line, source), r.reason) for r in summary.rejections]
        result.accepted = summary.inserted + summary.duplicates
        for (provider, model, why), n in summary.unpriced_models.most_common():
            result.warnings.append(f"{n} call(s) unpriced, kept out of cost totals: {model} ({provider}): {why}")
        if summary.zero_cost_flagged:
            result.warnings.append(f"{summary.zero_cost_flagged} call(s) with tokens but a cost of exactly 0 (flagged)")
        self.stats.count(token.name, accepted=result.accepted, refused=len(result.rejected), at=now)
        if summary.inserted and self.on_landed is not None:
            landed = LandedBatch(
                source,
                token.name,
                summary.inserted,
                frozenset(c.ts.date().isoformat() for c in calls),
                frozenset(c.workflow for c in calls),
            )
            try:
                self.on_landed(landed)
            except Exception:
                log.exception("ingest: the on_landed callback failed (the batch is committed)")
        return result


def _attributed(fields: dict[str, Any], name: str) -> bool:
    return any(fields.get(alias) not in (None, "") for alias in (name, f"aispend.{name}"))


def _where(file: str, line: int, source: str) -> str:
    return f"span {file}" if source == SOURCE_OTLP else f"row {line}"


# --- OTLP JSON ----------------------------------------------------------------------------------

_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def parse_otlp_json(body: bytes) -> ExportTraceServiceRequest:
    """OTLP/JSON: proto3 JSON, except that trace and span ids are hex (not base64)."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise RequestError(400, f"malformed JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RequestError(400, "malformed OTLP JSON: the body must be an ExportTraceServiceRequest object")
    try:
        for resource_spans in _items(value, "resourceSpans", "resource_spans"):
            for scope_spans in _items(resource_spans, "scopeSpans", "scope_spans"):
                for span in _items(scope_spans, "spans", "spans"):
                    _hex_ids(span)
                    for link in _items(span, "links", "links"):
                        _hex_ids(link)
        request = ExportTraceServiceRequest()
        json_format.ParseDict(value, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, AttributeError) as exc:
        raise RequestError(400, f"malformed OTLP JSON: {str(exc)[:300]}") from None
    return request


def _items(value: Any, camel: str, snake: str) -> list[Any]:
    if not isinstance(value, dict):
        raise ValueError(f"expected an object, got {type(value).__name__}")
    items = value.get(camel, value.get(snake)) or []
    if not isinstance(items, list):
        raise ValueError(f"{camel} must be a list")
    return items


def _hex_ids(value: dict[str, Any]) -> None:
    for name in _ID_FIELDS:
        text = value.get(name)
        if isinstance(text, str) and text:
            try:
                value[name] = base64.b64encode(bytes.fromhex(text)).decode()
            except ValueError:
                raise ValueError(f"{name} {text[:40]!r} is not hex") from None


def parse_otlp_protobuf(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, RecursionError) as exc:
        raise RequestError(400, f"malformed protobuf: not an ExportTraceServiceRequest ({exc})") from None
    return request


def gunzip(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise RequestError(400, f"malformed gzip body: {exc}") from None
    if len(data) > limit:
        raise RequestError(
            413, f"request body is larger than {limit:,} bytes once decompressed (AISPEND_INGEST_MAX_BODY_BYTES)"
        )
    if not inflater.eof:
        raise RequestError(400, "malformed gzip body: truncated")
    return data


# --- HTTP -------------------------------------------------------------------------------------


class IngestReceiver:
    """The HTTP server (stdlib, one thread per connection) around an Ingest."""

    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest
        config = ingest.config
        self._pending = threading.BoundedSemaphore(config.max_pending)
        self._server = ThreadingHTTPServer((config.host, config.port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="ingest-http", daemon=True)

    @property
    def stats(self) -> ReceiverStats:
        return self.ingest.stats

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> IngestReceiver:
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(receiver: IngestReceiver) -> type[BaseHTTPRequestHandler]:
    ingest = receiver.ingest
    limit = ingest.config.max_body_bytes

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            kind = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
            as_json = kind == JSON or path == "/v1/calls"
            token_name = ""
            try:
                if path not in ("/v1/traces", "/v1/calls"):
                    raise RequestError(404, f"no such endpoint {path}: POST /v1/traces or /v1/calls")
                if path == "/v1/traces" and kind not in (PROTOBUF, JSON):
                    raise RequestError(415, f"Content-Type {kind or '(none)'}: send {PROTOBUF} or {JSON}")
                token = ingest.token(self.headers.get("Authorization"))
                token_name = token.name
                body = self._body()
                if not receiver._pending.acquire(blocking=False):
                    raise RequestError(
                        429, "too many batches in progress; retry later", ingest.config.retry_after_seconds
                    )
                try:
                    if path == "/v1/calls":
                        self._calls(token, body)
                    else:
                        self._traces(token, body, as_json)
                finally:
                    receiver._pending.release()
            except RequestError as exc:
                if exc.status in (400, 413, 415) and token_name:
                    ingest.stats.count(token_name, refused=1)
                self._error(exc, as_json)
            except Exception:
                log.exception("ingest: request failed")
                self._error(RequestError(500, "internal error (logged); nothing was written"), as_json)

        def _body(self) -> bytes:
            length_text = self.headers.get("Content-Length")
            if length_text is None:
                raise RequestError(411, "Content-Length is required")
            try:
                length = int(length_text)
            except ValueError:
                raise RequestError(400, f"Content-Length {length_text[:20]!r} is not a number") from None
            if length > limit:
                raise RequestError(
                    413, f"request body of {length:,} bytes is larger than {limit:,} (AISPEND_INGEST_MAX_BODY_BYTES)"
                )
            body = self.rfile.read(length)
            encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
            if encoding == "gzip":
                return gunzip(body, limit)
            if encoding not in ("identity", ""):
                raise RequestError(415, f"Content-Encoding {encoding}: send gzip or none")
            return body

        def _traces(self, token: TokenInfo, body: bytes, as_json: bool) -> None:
            request = parse_otlp_json(body) if as_json else parse_otlp_protobuf(body)
            result = ingest.traces(token, request)
            response = ExportTraceServiceResponse()
            if result.rejected or result.warnings:
                response.partial_success.rejected_spans = len(result.rejected)
                response.partial_success.error_message = _message(result)
            if as_json:
                self._send(200, JSON, json_format.MessageToJson(response, indent=None).encode())
            else:
                self._send(200, PROTOBUF, response.SerializeToString())
            log.debug("ingest: %d spans from %s", span_count(request), token.name)

        def _calls(self, token: TokenInfo, body: bytes) -> None:
            result = ingest.calls(token, body)
            payload = {
                "inserted": result.inserted,
                "duplicates": result.duplicates,
                "rejected": [{"index": _index(where), "reason": reason} for where, reason in result.rejected],
                "warnings": result.warnings,
            }
            status = 422 if result.rejected and not result.accepted else 200
            self._send(status, JSON, json.dumps(payload).encode())

        def _error(self, exc: RequestError, as_json: bool) -> None:
            self.close_connection = True  # the body may be unread
            headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}
            if as_json:
                body = json.dumps({"code": _rpc_code(exc.status), "message": exc.message}).encode()
                self._send(exc.status, JSON, body, headers)
            else:
                status = status_pb2.Status(code=_rpc_code(exc.status), message=exc.message)
                self._send(exc.status, PROTOBUF, status.SerializeToString(), headers)

        def _send(self, status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("ingest http: " + format, *args)

    return Handler


def _message(result: BatchResult) -> str:
    parts = [f"{where}: {reason}" for where, reason in result.rejected[:MAX_LISTED]]
    if len(result.rejected) > MAX_LISTED:
        parts.append(f"... and {len(result.rejected) - MAX_LISTED} more")
    if result.rejected:
        parts.insert(0, f"{len(result.rejected)} span(s) rejected")
    return "; ".join(parts + result.warnings)


def _index(where: str) -> int | str:
    prefix, _, number = where.partition(" ")
    return int(number) if prefix == "row" and number.isdigit() else where


# google.rpc.Code for each HTTP status the receiver sends.
_RPC = {400: 3, 401: 16, 404: 5, 411: 3, 413: 8, 415: 3, 429: 8, 500: 13, 503: 14}


def _rpc_code(status: int) -> int:
    return _RPC.get(status, 2)


__all__ = [
    "BatchResult",
    "Ingest",
    "IngestReceiver",
    "LandedBatch",
    "ReceiverConfig",
    "ReceiverStats",
    "RequestError",
    "TokenStats",
    "build_receiver",
]


def config_from_settings(settings: Settings, *, port: int | None = None) -> ReceiverConfig:
    return ReceiverConfig(
        host=settings.ingest_host,
        port=(settings.ingest_port or 0) if port is None else port,
        max_body_bytes=settings.ingest_max_body_bytes,
        max_pending=settings.ingest_max_pending,
        retry_after_seconds=settings.ingest_retry_after_seconds,
        service_name_as=settings.ingest_service_name_as,
        currency=settings.currency,
        max_call_cost=settings.max_call_cost,
    )


def build_receiver(
    settings: Settings,
    engine: Engine,
    *,
    clock: Clock = system_clock,
    on_landed: Callable[[LandedBatch], object] | None = None,
    port: int | None = None,
) -> IngestReceiver:
    """The receiver as settings describe it (`aispend run`, `aispend serve-ingest`); not started."""
    ingest = Ingest(
        engine, config_from_settings(settings, port=port), prices=price_book(settings), clock=clock, on_landed=on_landed
    )
    return IngestReceiver(ingest)
