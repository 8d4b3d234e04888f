"""Per-source status (pure): ok, stale, failing, never synced, not configured."""

from __future__ import annotations

from datetime import timedelta

from aispend.core.rules.freshness import read_freshness
from aispend.jobs.status import describe_age
from tests.sync_helpers import NOW

DAY = timedelta(hours=36)


def state(**values: object) -> dict[str, object]:
    return {
        "last_success_at": None,
        "last_error": None,
        "last_error_at": None,
        "freshest_data_at": None,
        **values,
    }


def test_recent_success_is_ok_with_ages() -> None:
    status = read_freshness(
        "openai",
        state(last_success_at=NOW - timedelta(hours=2), freshest_data_at=NOW - timedelta(hours=5)),
        NOW,
        DAY,
    )
    assert status.state == "ok" and status.staleness == timedelta(hours=2) and status.data_age == timedelta(hours=5)


def test_old_success_is_stale() -> None:
    status = read_freshness("aws", state(last_success_at=NOW - timedelta(days=3)), NOW, DAY)
    assert status.state == "stale" and describe_age(status.staleness) == "3.0 days"


def test_error_after_last_success_is_failing_and_older_error_is_history() -> None:
    failing = read_freshness(
        "azure",
        state(
            last_success_at=NOW - timedelta(hours=5),
            last_error="azure: HTTP 403",
            last_error_at=NOW - timedelta(hours=1),
        ),
        NOW,
        DAY,
    )
    assert failing.state == "failing" and failing.last_error == "azure: HTTP 403"
    recovered = read_freshness(
        "azure",
        state(
            last_success_at=NOW - timedelta(hours=1),
            last_error="azure: HTTP 403",
            last_error_at=NOW - timedelta(hours=5),
        ),
        NOW,
        DAY,
    )
    assert recovered.state == "ok" and recovered.last_error == "azure: HTTP 403"


def test_never_synced_and_not_configured() -> None:
    assert read_freshness("gcp", None, NOW, DAY).state == "never synced"
    assert read_freshness("gcp", None, NOW, DAY, configured=False).state == "not configured"
    assert describe_age(None) == "never"
