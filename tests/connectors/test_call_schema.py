from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from aispend.connectors.files.call_schema import RowError, normalize_call


def test_plain_names() -> None:
    call = normalize_call(
        {
            "call_id": "abc",
            "timestamp": "2026-11-20T10:00:00Z",
            "provider": "OpenAI",
            "model": "gpt-4o",
            "input_tokens": "1000",
            "output_tokens": 20,
            "cache_read_tokens": 300,
            "cost": "0.0123",
            "workflow": "support-triage",
            "run_id": "r1",
            "step": "draft",
        }
    )
    assert call.ts == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert call.provider == "openai"
    assert (call.input_tokens, call.output_tokens, call.cache_read_tokens) == (1000, 20, 300)
    assert call.cost == Decimal("0.0123")
    assert call.call_key == "id:openai:abc"


def test_opentelemetry_attribute_names() -> None:
    call = normalize_call(
        {
            "timestamp": "2026-11-20T10:00:00+02:00",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.usage.input_tokens": 500,
            "gen_ai.usage.output_tokens": 50,
            "gen_ai.usage.cache_read.input_tokens": 100,
            "gen_ai.usage.cache_creation.input_tokens": 40,
        }
    )
    assert call.ts == datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert (call.provider, call.model) == ("anthropic", "claude-sonnet-4-5")
    assert (call.input_tokens, call.cache_read_tokens, call.cache_write_tokens) == (500, 100, 40)
    assert call.cost is None
    assert call.call_key.startswith("h:")


def test_uncached_input_tokens_are_added_up() -> None:
    call = normalize_call(
        {"ts": 1_763_632_800, "model": "m", "uncached_input_tokens": 10, "cache_read_tokens": 5, "output_tokens": 1}
    )
    assert call.input_tokens == 15
    assert call.ts == datetime(2025, 11, 20, 10, tzinfo=UTC)


def test_same_content_same_key_and_different_content_different_key() -> None:
    row = {"timestamp": "2026-11-20T10:00:00Z", "model": "gpt-4o", "input_tokens": 1}
    assert normalize_call(dict(row)).call_key == normalize_call(dict(row)).call_key
    assert normalize_call(dict(row)).call_key != normalize_call(row | {"input_tokens": 2}).call_key


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"model": "gpt-4o"}, "missing timestamp"),
        ({"timestamp": "yesterday", "model": "gpt-4o"}, "timestamp is not ISO 8601"),
        ({"timestamp": "2026-11-20T10:00:00Z"}, "missing model"),
        ({"timestamp": "2026-11-20T10:00:00Z", "model": "m", "input_tokens": -1}, "input_tokens must not be negative"),
        ({"timestamp": "2026-11-20T10:00:00Z", "model": "m", "output_tokens": "1.5"}, "output_tokens must be a whole"),
        ({"timestamp": "2026-11-20T10:00:00Z", "model": "m", "cost": "abc"}, "cost is not a number"),
        ({"timestamp": "2026-11-20T10:00:00Z", "model": "m", "cost": "-1"}, "cost must not be negative"),
        ({"timestamp": "2026-11-20T10:00:00Z", "model": "m", "currency": "dollars"}, "not an ISO 4217"),
        (
            {"timestamp": "2026-11-20T10:00:00Z", "model": "m", "input_tokens": 10, "cache_read_tokens": 20},
            "exceed input_tokens",
        ),
    ],
)
def test_bad_rows_say_what_is_wrong(row: dict[str, object], reason: str) -> None:
    with pytest.raises(RowError, match=reason):
        normalize_call(row)


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-20T10:00:00Z",
        " 2026-11-20T12:00:00+02:00 ",
        "2026-11-20 10:00:00",
        "1763632800",
        1763632800,
        "1763632800000",
    ],
)
def test_timestamps_in_every_accepted_form(value: object) -> None:
    from aispend.connectors.files.call_schema import parse_timestamp

    expected = (
        datetime(2026, 11, 20, 10, tzinfo=UTC)
        if not str(value).strip().isdigit()
        else datetime(2025, 11, 20, 10, tzinfo=UTC)
    )
    assert parse_timestamp(value) == expected
