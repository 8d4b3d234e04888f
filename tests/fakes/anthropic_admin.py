"""Fake Anthropic Admin API: GET /v1/organizations/cost_report and /v1/organizations/usage_report/messages.

Wire format as documented: RFC 3339 `starting_at` / `ending_at`, daily buckets (empty ones
included), `group_by[]`, `limit` buckets per page, `has_more` / `next_page`, cost amounts as
decimal strings in cents, `x-api-key` (or `Authorization: Bearer`) with `anthropic-version`.

    fake = FakeAnthropicAdmin()
    fake.set_cost(date(2026, 11, 1), "wrkspc_a", "claude-sonnet-5", "input", "1250.5")  # $12.505
    with fake.running() as base_url: ...
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.fakes.server import FakeServer, Request, Response, decode_cursor, encode_cursor

COST_DESCRIPTION_FIELDS = (
    "description",
    "cost_type",
    "token_type",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
)
USAGE_GROUPS = ("api_key_id", "workspace_id", "model", "service_tier", "context_window", "inference_geo")


def _rfc3339(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _parse(text: str | None) -> datetime:
    if not text:
        raise ValueError("missing")
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


class FakeAnthropicAdmin(FakeServer):
    def __init__(self, admin_key: str = "sk-ant-admin01-test", max_buckets_per_page: int | None = None) -> None:
        super().__init__()
        self.admin_key = admin_key
        self.max_buckets_per_page = max_buckets_per_page
        self.costs: dict[date, dict[tuple[Any, ...], dict[str, Any]]] = defaultdict(dict)
        self.usage: dict[date, dict[tuple[Any, ...], dict[str, Any]]] = defaultdict(dict)

    # --- data ----------------------------------------------------------------------------------
    def set_cost(
        self,
        day: date,
        workspace_id: str | None,
        model: str,
        token_type: str,
        cents: str,
        service_tier: str = "standard",
    ) -> None:
        """One token cost row, amount in cents as the API sends it (set again to restate)."""
        labels = {"uncached_input_tokens": "Input Tokens", "output_tokens": "Output Tokens"}
        description = f"{model} Usage - {labels.get(token_type, token_type)}"
        self.costs[day][(workspace_id, model, token_type, service_tier)] = {
            "workspace_id": workspace_id,
            "description": description,
            "cost_type": "tokens",
            "token_type": token_type,
            "model": model,
            "service_tier": service_tier,
            "context_window": "0-200k",
            "inference_geo": "global",
            "amount": Decimal(cents),
            "currency": "USD",
        }

    def set_usage(
        self,
        day: date,
        workspace_id: str | None,
        api_key_id: str | None,
        model: str,
        *,
        uncached_input: int,
        output: int,
        cache_read: int = 0,
        cache_write_5m: int = 0,
        cache_write_1h: int = 0,
    ) -> None:
        self.usage[day][(workspace_id, api_key_id, model)] = {
            "api_key_id": api_key_id,
            "workspace_id": workspace_id,
            "model": model,
            "service_tier": "standard",
            "context_window": "0-200k",
            "inference_geo": "global",
            "uncached_input_tokens": uncached_input,
            "cache_read_input_tokens": cache_read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": cache_write_5m,
                "ephemeral_1h_input_tokens": cache_write_1h,
            },
            "output_tokens": output,
            "server_tool_use": {"web_search_requests": 0},
        }

    # --- protocol ------------------------------------------------------------------------------
    def error_body(self, status: int) -> Any:
        kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": f"scripted HTTP {status}"}}

    def route(self, request: Request) -> Response:
        key = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
        if key != self.admin_key:
            return Response(
                401,
                {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}},
            )
        if not request.headers.get("anthropic-version"):
            return Response(
                400,
                {
                    "type": "error",
                    "error": {
                        "type": "invalid_request_error",
                        "message": "anthropic-version header is required",
                    },
                },
            )
        if request.path == "/v1/organizations/cost_report":
            return self._report(request, self._cost_results, max_limit=31)
        if request.path == "/v1/organizations/usage_report/messages":
            return self._report(request, self._usage_results, max_limit=31)
        return Response(404, {"type": "error", "error": {"type": "not_found_error", "message": "Not found"}})

    def _report(self, request: Request, results: Any, *, max_limit: int) -> Response:
        if request.one("bucket_width", "1d") != "1d":
            return Response(
                400, {"type": "error", "error": {"type": "invalid_request_error", "message": "1d only here"}}
            )
        try:
            start = _parse(request.one("starting_at")).date()
            end = _parse(request.one("ending_at")).date() if request.one("ending_at") else start + timedelta(days=7)
            limit = int(request.one("limit") or 7)
        except ValueError:
            return Response(
                400,
                {
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": "bad starting_at/ending_at/limit"},
                },
            )
        if not 1 <= limit <= max_limit:
            return Response(
                400,
                {
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": f"limit must be 1..{max_limit}"},
                },
            )
        days = [start + timedelta(days=i) for i in range((end - start).days)]
        offset = decode_cursor(request.one("page"))
        size = min(limit, self.max_buckets_per_page or limit)
        has_more = offset + size < len(days)
        data = [
            {
                "starting_at": _rfc3339(day),
                "ending_at": _rfc3339(day + timedelta(days=1)),
                "results": results(day, request.many("group_by")),
            }
            for day in days[offset : offset + size]
        ]
        return Response(
            200,
            {
                "data": data,
                "has_more": has_more,
                "next_page": encode_cursor(offset + size) if has_more else None,
            },
        )

    def _cost_results(self, day: date, group_by: list[str]) -> list[dict[str, Any]]:
        by_description = "description" in group_by
        groups: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in self.costs.get(day, {}).values():
            key = (
                row["workspace_id"] if "workspace_id" in group_by else None,
                *(row[f] for f in COST_DESCRIPTION_FIELDS if by_description),
            )
            out = groups.setdefault(
                key,
                {
                    "currency": "USD",
                    "amount": Decimal(0),
                    "workspace_id": row["workspace_id"] if "workspace_id" in group_by else None,
                    **{f: (row[f] if by_description else None) for f in COST_DESCRIPTION_FIELDS},
                },
            )
            out["amount"] += row["amount"]
        for out in groups.values():
            out["amount"] = str(out["amount"])  # decimal string, in cents
        return list(groups.values())

    def _usage_results(self, day: date, group_by: list[str]) -> list[dict[str, Any]]:
        groups: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in self.usage.get(day, {}).values():
            key = tuple(row[f] for f in USAGE_GROUPS if f in group_by)
            out = groups.setdefault(
                key,
                {
                    **{f: (row[f] if f in group_by else None) for f in USAGE_GROUPS},
                    "uncached_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                    "output_tokens": 0,
                    "server_tool_use": {"web_search_requests": 0},
                },
            )
            for count in ("uncached_input_tokens", "cache_read_input_tokens", "output_tokens"):
                out[count] += row[count]
            for count in ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"):
                out["cache_creation"][count] += row["cache_creation"][count]
        return list(groups.values())
