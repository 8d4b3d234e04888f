"""Turn an HTTP failure into RetryableError / FatalError, reading every throttle header providers send.

Shared by every HTTP-based connector so that a 429 is handled the same way everywhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime

from aispend.connectors.base import ConnectorError, FatalError, RetryableError
from aispend.core.timeutil import as_utc

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def retry_after_seconds(headers: Mapping[str, str], now: datetime) -> float | None:
    """The longest wait any throttle header asks for, in seconds; None when no header says.

    Understood: `Retry-After` (seconds or HTTP date), `retry-after-ms` (OpenAI SDKs), any header
    ending in `retry-after` (Azure's x-ms-ratelimit-*-retry-after), OpenAI's
    `x-ratelimit-reset-requests` durations ("6m0s", "20ms") and Anthropic's
    `anthropic-ratelimit-*-reset` RFC 3339 times.
    """
    waits: list[float] = []
    for raw_name, raw_value in headers.items():
        name = raw_name.lower()
        value = raw_value.strip()
        if name == "retry-after-ms":
            number = _number(value)
            if number is not None:
                waits.append(number / 1000)
        elif name.endswith("retry-after"):
            wait = _number(value)
            if wait is None:
                wait = _http_date_wait(value, now)
            if wait is not None:
                waits.append(wait)
        elif name.startswith("x-ratelimit-reset-"):
            wait = _duration(value)
            if wait is not None:
                waits.append(wait)
        elif name.startswith("anthropic-ratelimit-") and name.endswith("-reset"):
            wait = _iso_wait(value, now)
            if wait is not None:
                waits.append(wait)
    if not waits:
        return None
    return max(0.0, max(waits))


def error_for_status(
    source: str,
    status: int,
    headers: Mapping[str, str],
    detail: str,
    *,
    now: datetime,
    auth_fix: str,
    request_fix: str,
) -> ConnectorError:
    """429/5xx/408 are retryable (with the server's wait); 401/403 and other 4xx are fatal with a fix."""
    detail = _error_message(detail).strip().replace("\n", " ")[:300]
    if status in RETRYABLE_STATUS or status >= 500:
        return RetryableError(source, f"HTTP {status}: {detail}", retry_after_seconds(headers, now))
    if status in (401, 403):
        return FatalError(source, f"HTTP {status} (not authorized): {detail}", auth_fix)
    return FatalError(source, f"HTTP {status}: {detail}", request_fix)


def _error_message(body: str) -> str:
    """The `error.message` of a JSON error body (OpenAI, Anthropic, Azure shapes), else the body."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        kind = error.get("type") or error.get("code")
        return f"{kind}: {error['message']}" if isinstance(kind, str) and kind else error["message"]
    return body


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _duration(value: str) -> float | None:
    parts = _DURATION_PART.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return _number(value)
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def _http_date_wait(value: str, now: datetime) -> float | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return (as_utc(when) - now).total_seconds()


def _iso_wait(value: str, now: datetime) -> float | None:
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (as_utc(when) - now).total_seconds()


def api_root(base_url: str) -> str:
    """A base URL given with or without a trailing `/v1` (or `/`), as the root without it."""
    root = base_url.strip().rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    return root
