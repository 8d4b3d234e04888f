"""Fake OpenAI organization admin API: GET /v1/organization/costs and /v1/organization/usage/completions.

Wire format as the real API (and the `openai` client) use it: unix-second buckets, `group_by[]`
arrays, `limit` buckets per page, `has_more` / `next_page` cursors, amounts as JSON numbers with
lowercase currencies, `Authorization: Bearer <admin key>`.

    fake = FakeOpenAIAdmin()
    fake.set_cost(date(2026, 11, 1), "proj_a", "gpt-4o-2024-08-06, input", "1.25")
    with fake.running() as base_url:
        OpenAI(admin_api_key=fake.admin_key, base_url=base_url + "/v1")
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.fakes.server import FakeServer, Request, Response, decode_cursor, encode_cursor

DAY = 86400
COST_FIELDS = ("project_id", "line_item", "api_key_id", "user_id", "api_source")
USAGE_FIELDS = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier", "api_source")
USAGE_COUNTS = (
    "input_tokens",
    "input_cached_tokens",
    "input_uncached_tokens",
    "input_cache_write_tokens",
    "output_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
    "num_model_requests",
)


def _unix(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


class FakeOpenAIAdmin(FakeServer):
    def __init__(self, admin_key: str = "sk-admin-test", max_buckets_per_page: int | None = None) -> None:
        super().__init__()
        self.admin_key = admin_key
        # Caps the page size below the requested `limit`, to force pagination in tests.
        self.max_buckets_per_page = max_buckets_per_page
        self.costs: dict[date, dict[tuple[str, str], dict[str, Any]]] = defaultdict(dict)
        self.usage: dict[date, dict[tuple[str, str, str], dict[str, Any]]] = defaultdict(dict)

    # --- data ----------------------------------------------------------------------------------
    def set_cost(
        self,
        day: date,
        project_id: str,
        line_item: str,
        value: str,
        currency: str = "usd",
        quantity: str | None = None,
        quantity_unit: str | None = None,
    ) -> None:
        """One cost row (set again to restate it)."""
        self.costs[day][(project_id, line_item)] = {
            "project_id": project_id,
            "line_item": line_item,
            "amount": Decimal(value),
            "currency": currency,
            "quantity": Decimal(quantity) if quantity is not None else None,
            "quantity_unit": quantity_unit,
        }

    def remove_cost(self, day: date, project_id: str, line_item: str) -> None:
        del self.costs[day][(project_id, line_item)]

    def set_usage(
        self,
        day: date,
        project_id: str,
        api_key_id: str,
        model: str,
        *,
        input_tokens: int,
        cached_tokens: int = 0,
        output_tokens: int,
        requests: int = 1,
    ) -> None:
        self.usage[day][(project_id, api_key_id, model)] = {
            "project_id": project_id,
            "api_key_id": api_key_id,
            "model": model,
            "user_id": None,
            "batch": False,
            "service_tier": "default",
            "api_source": None,
            "input_tokens": input_tokens,
            "input_cached_tokens": cached_tokens,
            "input_uncached_tokens": input_tokens - cached_tokens,
            "input_cache_write_tokens": 0,
            "output_tokens": output_tokens,
            "input_audio_tokens": 0,
            "output_audio_tokens": 0,
            "num_model_requests": requests,
        }

    # --- protocol ------------------------------------------------------------------------------
    def error_body(self, status: int) -> Any:
        kind = "rate_limit_error" if status == 429 else "server_error"
        return {"error": {"message": f"scripted HTTP {status}", "type": kind, "param": None, "code": None}}

    def route(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.admin_key}":
            return Response(
                401,
                {
                    "error": {
                        "message": "Incorrect API key provided. You must be an organization owner.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "invalid_api_key",
                    }
                },
            )
        if request.method == "GET" and request.path == "/v1/organization/costs":
            return self._report(request, self._cost_results, default_limit=7, max_limit=180)
        if request.method == "GET" and request.path == "/v1/organization/usage/completions":
            return self._report(request, self._usage_results, default_limit=7, max_limit=31)
        return Response(
            404,
            {"error": {"message": f"Unknown request URL: {request.path}", "type": "invalid_request_error"}},
        )

    def _report(self, request: Request, results: Any, *, default_limit: int, max_limit: int) -> Response:
        if request.one("bucket_width", "1d") != "1d":
            return Response(400, {"error": {"message": "this fake serves bucket_width=1d only"}})
        try:
            start = int(request.one("start_time") or "")
            end = int(request.one("end_time") or start + default_limit * DAY)
            limit = int(request.one("limit") or default_limit)
        except ValueError:
            return Response(400, {"error": {"message": "start_time, end_time and limit must be integers"}})
        if not 1 <= limit <= max_limit:
            return Response(400, {"error": {"message": f"limit must be between 1 and {max_limit}"}})
        group_by = request.many("group_by")
        days = []
        moment = start
        while moment < end:
            days.append(datetime.fromtimestamp(moment, tz=UTC).date())
            moment += DAY
        offset = decode_cursor(request.one("page"))
        size = min(limit, self.max_buckets_per_page or limit)
        page_days = days[offset : offset + size]
        has_more = offset + size < len(days)
        data = [
            {
                "object": "bucket",
                "start_time": _unix(day),
                "end_time": _unix(day + timedelta(days=1)),
                "results": results(day, group_by),
            }
            for day in page_days
        ]
        return Response(
            200,
            {
                "object": "page",
                "data": data,
                "has_more": has_more,
                "next_page": encode_cursor(offset + size) if has_more else None,
            },
        )

    def _cost_results(self, day: date, group_by: list[str]) -> list[dict[str, Any]]:
        groups: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in self.costs.get(day, {}).values():
            key = (*tuple(row.get(f) for f in COST_FIELDS if f in group_by), row["currency"])
            out = groups.setdefault(
                key,
                {
                    "object": "organization.costs.result",
                    "amount": {"value": Decimal(0), "currency": row["currency"]},
                    **{f: (row.get(f) if f in group_by else None) for f in COST_FIELDS},
                    "quantity": None,
                    "quantity_unit": None,
                },
            )
            out["amount"]["value"] += row["amount"]
            if "line_item" in group_by and row["quantity"] is not None:
                out["quantity"] = (out["quantity"] or Decimal(0)) + row["quantity"]
                out["quantity_unit"] = row["quantity_unit"]
        for out in groups.values():  # JSON numbers, as the API sends them
            out["amount"]["value"] = float(out["amount"]["value"])
            if out["quantity"] is not None:
                out["quantity"] = float(out["quantity"])
        return list(groups.values())

    def _usage_results(self, day: date, group_by: list[str]) -> list[dict[str, Any]]:
        groups: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in self.usage.get(day, {}).values():
            key = tuple(row.get(f) for f in USAGE_FIELDS if f in group_by)
            out = groups.setdefault(
                key,
                {
                    "object": "organization.usage.completions.result",
                    **dict.fromkeys(USAGE_COUNTS, 0),
                    **{f: (row.get(f) if f in group_by else None) for f in USAGE_FIELDS},
                },
            )
            for count in USAGE_COUNTS:
                out[count] += row[count]
        return list(groups.values())
