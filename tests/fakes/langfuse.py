"""Fake Langfuse public API: GET /api/public/observations, as Langfuse documents it.

Basic auth (public key : secret key), filters `type`, `fromStartTime` (inclusive) and `toStartTime`
(exclusive), page-numbered pagination (`page` from 1, `limit`) answered with
`{"data": [...], "meta": {"page", "limit", "totalItems", "totalPages"}}`, errors as
`{"message": ...}`. Observations are stored as the API returns them (ObservationsView).
"""

from __future__ import annotations

import base64
import math
from datetime import datetime
from typing import Any

from tests.fakes.server import FakeServer, Request, Response

PATH = "/api/public/observations"


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakeLangfuse(FakeServer):
    def __init__(self, public_key: str = "pk-lf-test", secret_key: str = "sk-lf-test", max_limit: int = 100) -> None:
        super().__init__()
        self.public_key = public_key
        self.secret_key = secret_key
        self.max_limit = max_limit  # a page holds at most this many, whatever `limit` asks
        self.observations: dict[str, dict[str, Any]] = {}

    def add(self, observation: dict[str, Any]) -> None:
        self.observations[observation["id"]] = observation

    def error_body(self, status: int) -> Any:
        return {"message": f"scripted HTTP {status}"}

    def route(self, request: Request) -> Response:
        expected = base64.b64encode(f"{self.public_key}:{self.secret_key}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return Response(401, {"message": "Invalid credentials. Confirm that you've configured the correct host."})
        if request.method != "GET" or request.path != PATH:
            return Response(404, {"message": "not found"})
        page = int(request.one("page") or 1)
        limit = min(int(request.one("limit") or 50), self.max_limit)
        kind = request.one("type")
        start, end = request.one("fromStartTime"), request.one("toStartTime")
        matching = [
            o
            for o in sorted(self.observations.values(), key=lambda o: (o["startTime"], o["id"]), reverse=True)
            if (kind is None or o.get("type") == kind)
            and (start is None or _time(o["startTime"]) >= _time(start))
            and (end is None or _time(o["startTime"]) < _time(end))
        ]
        total_pages = math.ceil(len(matching) / limit)
        data = matching[(page - 1) * limit : page * limit]
        meta = {"page": page, "limit": limit, "totalItems": len(matching), "totalPages": total_pages}
        return Response(200, {"data": data, "meta": meta})


def generation(
    obs_id: str,
    start: datetime,
    *,
    trace_id: str = "trace-1",
    model: str | None = "gpt-4o-mini-2024-07-18",
    usage: dict[str, int] | None = None,
    cost: dict[str, float] | None = None,
    calculated: float | None = None,
    metadata: dict[str, Any] | None = None,
    name: str = "chat",
    kind: str = "GENERATION",
) -> dict[str, Any]:
    """One observation as Langfuse's ObservationsView serializes it."""
    usage = {"input": 1000, "output": 200} if usage is None else usage
    total = sum(usage.values())
    return {
        "id": obs_id,
        "traceId": trace_id,
        "type": kind,
        "name": name,
        "startTime": start.isoformat().replace("+00:00", "Z"),
        "endTime": start.replace(microsecond=400_000).isoformat().replace("+00:00", "Z"),
        "completionStartTime": None,
        "model": model,
        "modelParameters": {"temperature": 0},
        "input": None,
        "output": None,
        "version": None,
        "metadata": metadata or {},
        "level": "DEFAULT",
        "statusMessage": None,
        "parentObservationId": None,
        "promptId": None,
        "environment": "production",
        "usage": {"input": usage.get("input", 0), "output": usage.get("output", 0), "total": total, "unit": "TOKENS"},
        "usageDetails": {**usage, "total": total} if usage else {},
        "costDetails": cost or {},
        "calculatedInputCost": None,
        "calculatedOutputCost": None,
        "calculatedTotalCost": calculated,
        "latency": 0.4,
        "timeToFirstToken": None,
    }
