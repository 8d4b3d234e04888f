"""Local fake endpoints for the cloud-billing connector tests (127.0.0.1, port 0, one thread each).

Each fake speaks the provider's real wire format, logs every request, and can be told to answer the
next requests with scripted faults (429 with throttle headers, 5xx, 401/403) before serving normally.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


@dataclass
class Fault:
    reply: Reply
    when: Callable[[Request], bool] = lambda _request: True
    times: int = 1


class FakeServer:
    """A threaded HTTP server; subclasses implement `serve(request) -> Reply`."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                reply = fake.dispatch(request)
                payload = reply.encoded()
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(payload)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, reply: Reply, *, times: int = 1, when: Callable[[Request], bool] | None = None) -> None:
        with self._lock:
            self.faults.append(Fault(reply=reply, times=times, when=when or (lambda _r: True)))

    def dispatch(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            for fault in self.faults:
                if fault.times > 0 and fault.when(request):
                    fault.times -= 1
                    return fault.reply
        return self.serve(request)

    def serve(self, request: Request) -> Reply:  # pragma: no cover - overridden
        return Reply(404, {"error": "not found"})


# --- AWS: a Cost Explorer front for moto ---------------------------------------------------------


class CostExplorerFront(FakeServer):
    """Forwards Cost Explorer calls to moto's server, answering what moto cannot.

    moto 5 replays queued GetCostAndUsage results but does not implement GetDimensionValues, nor
    throttling or server errors; this front answers GetDimensionValues from `dimension_values`
    (SearchString = case-insensitive "contains", as Cost Explorer does) and injects scripted faults.
    """

    def __init__(self, moto_url: str) -> None:
        super().__init__()
        self.moto = urlsplit(moto_url)
        self.dimension_values: list[str] = []

    def targets(self, name: str) -> list[Request]:
        return [r for r in self.requests if r.headers.get("x-amz-target", "").endswith(f".{name}")]

    def serve(self, request: Request) -> Reply:
        if request.headers.get("x-amz-target", "").endswith(".GetDimensionValues"):
            search = str(request.json().get("SearchString", "")).lower()
            values = [v for v in self.dimension_values if search in v.lower()]
            return Reply(
                200,
                {
                    "DimensionValues": [{"Value": v, "Attributes": {}} for v in values],
                    "ReturnSize": len(values),
                    "TotalSize": len(values),
                },
                content_type="application/x-amz-json-1.1",
            )
        conn = http.client.HTTPConnection(self.moto.hostname, self.moto.port, timeout=30)
        try:
            conn.request(request.method, request.path, body=request.body, headers=request.headers)
            response = conn.getresponse()
            return Reply(
                response.status,
                response.read(),
                content_type=response.getheader("Content-Type", "application/x-amz-json-1.1"),
            )
        finally:
            conn.close()


def ce_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    """The JSON error shape of Cost Explorer (awsJson1_1)."""
    return Reply(
        status,
        {"__type": code, "message": message},
        headers={"x-amzn-ErrorType": code, **(headers or {})},
        content_type="application/x-amz-json-1.1",
    )


# --- Azure: a fake ARM Cost Management query endpoint ----------------------------------------------


@dataclass
class AzureCostRecord:
    day: str  # YYYY-MM-DD
    service: str
    resource_id: str
    cost: str
    tags: dict[str, str] = field(default_factory=dict)
    currency: str = "USD"


class FakeCostManagement(FakeServer):
    """POST /{scope}/providers/Microsoft.CostManagement/query — the real response shape.

    Aggregates `records` by the requested groupings (at most 2, as Azure enforces), Daily rows with
    `UsageDate` as yyyymmdd, the aggregated column named after the source column, `Currency` last;
    pages of `page_size` rows linked by an absolute `nextLink` with `$skiptoken`. Bearer token
    "expired" gets Azure's 401.
    """

    def __init__(self, page_size: int = 1000) -> None:
        super().__init__()
        self.records: list[AzureCostRecord] = []
        self.page_size = page_size

    def queries(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("/providers/Microsoft.CostManagement/query")]

    def serve(self, request: Request) -> Reply:
        if request.headers.get("authorization") == "Bearer expired":
            return Reply(401, {"error": {"code": "ExpiredAuthenticationToken", "message": "The access token expiry."}})
        if not request.path.endswith("/providers/Microsoft.CostManagement/query") or request.method != "POST":
            return Reply(404, {"error": {"code": "NotFound", "message": request.path}})
        body = request.json()
        dataset = body["dataset"]
        groupings = dataset.get("grouping") or []
        if len(groupings) > 2:
            return Reply(400, {"error": {"code": "BadRequest", "message": "Invalid query: at most 2 groupings"}})
        (aggregation,) = dataset["aggregation"].values()
        first = body["timePeriod"]["from"][:10]
        last = body["timePeriod"]["to"][:10]
        totals: dict[tuple[Any, ...], float] = {}
        for record in self.records:
            if not first <= record.day <= last or not _azure_filter_matches(dataset.get("filter"), record):
                continue
            key: list[Any] = [int(record.day.replace("-", ""))]
            for group in groupings:
                if group["type"] == "TagKey":
                    key += [group["name"], record.tags.get(group["name"], "")]
                else:
                    key.append({"ServiceName": record.service, "ResourceId": record.resource_id}[group["name"]])
            key.append(record.currency)
            totals[tuple(key)] = totals.get(tuple(key), 0.0) + float(record.cost)
        columns = [{"name": aggregation["name"], "type": "Number"}, {"name": "UsageDate", "type": "Number"}]
        for group in groupings:
            if group["type"] == "TagKey":
                columns += [{"name": "TagKey", "type": "String"}, {"name": "TagValue", "type": "String"}]
            else:
                columns.append({"name": group["name"], "type": "String"})
        columns.append({"name": "Currency", "type": "String"})
        rows = [[round(total, 12), *key] for key, total in sorted(totals.items())]
        skip = int(request.query.get("$skiptoken", ["0"])[0])
        page = rows[skip : skip + self.page_size]
        next_link = None
        if skip + self.page_size < len(rows):
            next_link = f"{self.url}{request.path}?api-version=2025-03-01&$skiptoken={skip + self.page_size}"
        return Reply(
            200,
            {
                "id": f"{request.path}/query-id",
                "name": "query-id",
                "type": "Microsoft.CostManagement/query",
                "properties": {"nextLink": next_link, "columns": columns, "rows": page},
            },
        )


def _azure_filter_matches(expression: dict[str, Any] | None, record: AzureCostRecord) -> bool:
    if not expression:
        return True
    if "or" in expression:
        return any(_azure_filter_matches(e, record) for e in expression["or"])
    if "and" in expression:
        return all(_azure_filter_matches(e, record) for e in expression["and"])
    dimension = expression["dimensions"]
    resource_type = "/".join(record.resource_id.lower().split("/providers/")[-1].split("/")[:2])
    actual = {"ServiceName": record.service, "ResourceType": resource_type}[dimension["name"]]
    return actual in dimension["values"]


def azure_throttle(retry_after: dict[str, str]) -> Reply:
    """Azure Cost Management's 429: no standard Retry-After, only its own throttle headers."""
    headers = {f"x-ms-ratelimit-microsoft.costmanagement-{k}-retry-after": v for k, v in retry_after.items()}
    return Reply(429, {"error": {"code": "429", "message": "Too many requests. Please retry."}}, headers=headers)


# --- GCP: BigQuery REST (jobs.query, getQueryResults paging, tables) and Cloud Billing REST ---------

BQ_RESULT_SCHEMA = [
    ("usage_day", "DATE"),
    ("service_id", "STRING"),
    ("service_name", "STRING"),
    ("sku_id", "STRING"),
    ("sku_description", "STRING"),
    ("project_id", "STRING"),
    ("region", "STRING"),
    ("cost_type", "STRING"),
    ("currency", "STRING"),
    ("labels_json", "STRING"),
    ("resource_name", "STRING"),
    ("cost", "NUMERIC"),
    ("credits", "NUMERIC"),
    ("usage_amount", "NUMERIC"),
    ("usage_unit", "STRING"),
    ("last_export", "TIMESTAMP"),
]


class FakeGoogleCloud(FakeServer):
    """BigQuery v2 REST and Cloud Billing v1 REST on one local endpoint.

    The fake does not run SQL: `result_rows` (dicts keyed like the connector's SELECT) are the query's
    result, kept when `usage_day` falls in [@start, @end). Cells are encoded as BigQuery does (every
    scalar a string, TIMESTAMP as integer microseconds because the client asks useInt64Timestamp);
    pages of `maxResults` rows continue through GET .../queries/{job}?pageToken=.
    """

    def __init__(self, project: str = "billing-proj") -> None:
        super().__init__()
        self.project = project
        self.result_rows: list[dict[str, Any]] = []
        self.tables: set[str] = set()  # "dataset.table"
        self.billing_accounts: dict[str, dict[str, Any]] = {}
        self.billing_projects: dict[str, list[dict[str, Any]]] = {}
        self._jobs: dict[str, tuple[list[list[Any]], int, str]] = {}

    def query_posts(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/queries")]

    def serve(self, request: Request) -> Reply:
        parts = [p for p in request.path.split("/") if p]
        if parts[:2] == ["bigquery", "v2"]:
            return self._bigquery(request, parts[2:])
        if parts[:2] == ["v1", "billingAccounts"]:
            return self._billing(parts[2:])
        return Reply(404, {"error": {"code": 404, "message": f"no route {request.path}", "status": "NOT_FOUND"}})

    # BigQuery
    def _bigquery(self, request: Request, parts: list[str]) -> Reply:
        if len(parts) == 3 and parts[2] == "queries" and request.method == "POST":
            return self._query(request, parts[1])
        if len(parts) == 4 and parts[2] == "jobs":
            sql = self._jobs[parts[3]][2]
            return Reply(
                200,
                {
                    "kind": "bigquery#job",
                    "id": f"{parts[1]}:US.{parts[3]}",
                    "jobReference": {"projectId": parts[1], "jobId": parts[3], "location": "US"},
                    "status": {"state": "DONE"},
                    "configuration": {"query": {"query": sql, "useLegacySql": False}},
                    "statistics": {"query": {"totalBytesProcessed": "1024"}},
                },
            )
        if len(parts) == 4 and parts[2] == "queries":
            token = request.query.get("pageToken", ["0"])[0]
            return Reply(200, self._page(parts[1], parts[3], int(token), kind="bigquery#getQueryResultsResponse"))
        if len(parts) == 6 and parts[2] == "datasets" and parts[4] == "tables":
            table = f"{parts[3]}.{parts[5]}"
            if table not in self.tables:
                return google_error(404, "notFound", f"Not found: Table {parts[1]}:{table}")
            return Reply(
                200,
                {
                    "kind": "bigquery#table",
                    "id": f"{parts[1]}:{table}",
                    "tableReference": {"projectId": parts[1], "datasetId": parts[3], "tableId": parts[5]},
                    "type": "TABLE",
                },
            )
        if len(parts) == 5 and parts[2] == "datasets" and parts[4] == "tables":
            names = [t.split(".", 1)[1] for t in sorted(self.tables) if t.split(".", 1)[0] == parts[3]]
            return Reply(
                200,
                {
                    "kind": "bigquery#tableList",
                    "tables": [
                        {
                            "kind": "bigquery#table",
                            "id": f"{parts[1]}:{parts[3]}.{name}",
                            "tableReference": {"projectId": parts[1], "datasetId": parts[3], "tableId": name},
                            "type": "TABLE",
                        }
                        for name in names
                    ],
                    "totalItems": len(names),
                },
            )
        return google_error(404, "notFound", f"no route {request.path}")

    def _query(self, request: Request, project: str) -> Reply:
        body = request.json()
        params = {p["name"]: p for p in body.get("queryParameters", [])}
        start = params["start"]["parameterValue"]["value"][:10]
        end = params["end"]["parameterValue"]["value"][:10]
        rows = [row for row in self.result_rows if start <= row["usage_day"] < end]
        job_id = f"job_{len(self._jobs) + 1}"
        page_size = int(body.get("maxResults") or 1000)
        self._jobs[job_id] = (
            [[row.get(name) for name, _ in BQ_RESULT_SCHEMA] for row in rows],
            page_size,
            body["query"],
        )
        return Reply(200, self._page(project, job_id, 0, kind="bigquery#queryResponse"))

    def _page(self, project: str, job_id: str, offset: int, kind: str) -> dict[str, Any]:
        rows, page_size, _sql = self._jobs[job_id]
        chunk = rows[offset : offset + page_size]
        page: dict[str, Any] = {
            "kind": kind,
            "jobComplete": True,
            "jobReference": {"projectId": project, "jobId": job_id, "location": "US"},
            "schema": {"fields": [{"name": n, "type": t, "mode": "NULLABLE"} for n, t in BQ_RESULT_SCHEMA]},
            "totalRows": str(len(rows)),
            "rows": [{"f": [{"v": _bq_cell(value)} for value in row]} for row in chunk],
        }
        if offset + page_size < len(rows):
            page["pageToken"] = str(offset + page_size)
        return page

    # Cloud Billing
    def _billing(self, parts: list[str]) -> Reply:
        account = parts[0] if parts else ""
        if account not in self.billing_accounts:
            return google_error(403, "forbidden", f"The caller does not have permission on billingAccounts/{account}")
        if len(parts) == 1:
            return Reply(200, self.billing_accounts[account])
        if parts[1:] == ["projects"]:
            return Reply(200, {"projectBillingInfo": self.billing_projects.get(account, []), "nextPageToken": ""})
        return google_error(404, "notFound", "no route")


def _bq_cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        return str(int(value.timestamp() * 1_000_000))
    return str(value)


def google_error(status: int, reason: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    """The JSON error shape of Google REST APIs (BigQuery's `errors[].reason` included)."""
    return Reply(
        status,
        {"error": {"code": status, "message": message, "errors": [{"reason": reason, "message": message}]}},
        headers=headers or {},
    )
