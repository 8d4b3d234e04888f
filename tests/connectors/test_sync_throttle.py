"""Retry classification and throttle headers (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aispend.connectors.base import FatalError, RetryableError
from aispend.connectors.throttle import api_root, error_for_status, retry_after_seconds
from aispend.core.rules.attribution import AttributionError, parse_rules

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"Retry-After": "Thu, 26 Nov 2026 12:00:30 GMT"}, 30.0),
        ({"x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after": "18", "Retry-After": "2"}, 18.0),
        ({"x-ratelimit-reset-requests": "6m0s"}, 360.0),
        ({"x-ratelimit-reset-tokens": "20ms"}, 0.02),
        ({"anthropic-ratelimit-requests-reset": "2026-11-26T12:00:45Z"}, 45.0),
        ({"content-type": "application/json"}, None),
        ({"Retry-After": "soon"}, None),
    ],
)
def test_retry_after_reads_every_throttle_header(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(headers, NOW) == expected


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 529])
def test_throttling_and_server_errors_are_retryable(status: int) -> None:
    error = error_for_status("src", status, {"retry-after": "1"}, "busy", now=NOW, auth_fix="a", request_fix="r")
    assert isinstance(error, RetryableError) and error.retry_after == 1.0 and error.source == "src"


@pytest.mark.parametrize(("status", "fix"), [(401, "set THE_KEY"), (403, "set THE_KEY"), (400, "check THE_URL")])
def test_auth_and_client_errors_are_fatal_with_the_fix(status: int, fix: str) -> None:
    error = error_for_status("src", status, {}, "nope", now=NOW, auth_fix="set THE_KEY", request_fix="check THE_URL")
    assert isinstance(error, FatalError) and str(error).startswith(f"src: HTTP {status}") and str(error).endswith(fix)


@pytest.mark.parametrize(
    "url", ["https://api.x.com", "https://api.x.com/", "https://api.x.com/v1", "https://api.x.com/v1/"]
)
def test_api_root_accepts_base_urls_with_or_without_v1(url: str) -> None:
    assert api_root(url) == "https://api.x.com"


def test_attribution_rule_lists_match_any_value_and_scalars_still_work() -> None:
    rules = parse_rules(
        {
            "rules": [
                {"match": {"api_key_id": ["k1", "k2"]}, "set": {"workflow": "bot"}},
                {"match": {"workspace_id": "w1"}, "set": {"team": "ml"}},
            ]
        }
    )
    assert rules.attribute({"api_key_id": "k2", "workspace_id": "w1"}, {})["workflow"] == "bot"
    assert rules.attribute({"api_key_id": "k3", "workspace_id": "w1"}, {}) == {
        "workflow": "",
        "feature": "",
        "team": "ml",
        "customer": "",
        "environment": "",
    }


def test_attribution_rule_without_set_is_rejected() -> None:
    with pytest.raises(AttributionError, match="rule 1"):
        parse_rules({"rules": [{"match": {"api_key_id": ["k1"]}}]})


def test_error_detail_is_the_apis_own_message() -> None:
    body = '{"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}'
    error = error_for_status("anthropic", 401, {}, body, now=NOW, auth_fix="set KEY", request_fix="r")
    assert str(error) == "anthropic: HTTP 401 (not authorized): authentication_error: invalid x-api-key — set KEY"
    plain = error_for_status("x", 502, {}, "<html>bad gateway</html>", now=NOW, auth_fix="a", request_fix="r")
    assert str(plain) == "x: HTTP 502: <html>bad gateway</html>"


def test_attribution_rule_with_an_empty_list_is_rejected() -> None:
    with pytest.raises(AttributionError, match="empty list"):
        parse_rules({"rules": [{"match": {"api_key_id": []}, "set": {"team": "x"}}]})
