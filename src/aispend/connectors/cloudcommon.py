"""Helpers shared by the cloud-billing connectors (AWS, Azure, GCP): keys, days, throttle retries.

Retry split: a connector retries a *throttled* request itself (the provider said how long to wait,
and redoing earlier pages would cost money on Cost Explorer), a few times, through an injected
`sleep`. Everything else retryable (5xx, timeouts, throttles that outlast the budget) is raised as
RetryableError with the provider's wait in `retry_after`, and the sync engine owns the backoff.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from ipaddress import ip_address
from typing import Any, TypedDict, TypeVar
from urllib.parse import urlsplit

from aispend.connectors.base import ConnectorError, RetryableError
from aispend.core.rules.attribution import AttributionRules
from aispend.core.timeutil import start_of_day

T = TypeVar("T")

DEFAULT_THROTTLE_RETRIES = 3
# A throttle asking for a longer wait than this is handed to the engine instead of slept on here.
MAX_INLINE_WAIT_SECONDS = 120.0


@dataclass
class CheckReport:
    """What a connector's `check()` found, one fact per line (for `aispend connectors check`).

    A check that fails raises the same FatalError / RetryableError a fetch would.
    """

    source: str
    details: list[str]


class Dimensions(TypedDict):
    workflow: str
    feature: str
    team: str
    customer: str
    environment: str


def attribute(rules: AttributionRules, fields: Mapping[str, str], tags: Mapping[str, Any]) -> Dimensions:
    """The attribution dimensions of one bill line, through the shared rules (core/rules/attribution.py)."""
    dims = rules.attribute(fields, tags)
    return Dimensions(
        workflow=dims["workflow"],
        feature=dims["feature"],
        team=dims["team"],
        customer=dims["customer"],
        environment=dims["environment"],
    )


class Throttled(RetryableError):
    """The provider rate-limited the request (429 or its own throttle code)."""


def natural_key(day: date, *identity: str) -> str:
    """A stable key from a row's upstream identity (never its amount): `YYYY-MM-DD:<sha256 prefix>`.

    Hashed because identities hold long resource ids and the ledger column is 128 characters.
    """
    digest = hashlib.sha256("\x1f".join((day.isoformat(), *identity)).encode("utf-8")).hexdigest()
    return f"{day.isoformat()}:{digest[:48]}"


def day_period(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a UTC day as aware datetimes."""
    start = start_of_day(day)
    return start, start + timedelta(days=1)


def split_days(start: date, end: date, max_days: int) -> list[tuple[date, date]]:
    """[start, end) cut into consecutive chunks of at most `max_days` days."""
    chunks = []
    cursor = start
    while cursor < end:
        chunk_end = min(end, cursor + timedelta(days=max_days))
        chunks.append((cursor, chunk_end))
        cursor = chunk_end
    return chunks


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After-style header: delta seconds or an HTTP date (relative to its own Date)."""
    if value is None or not str(value).strip():
        return None
    try:
        seconds = float(str(value).strip())
    except ValueError:
        # An HTTP-date form: we keep no wall clock here, so fall back to our own backoff.
        return None
    return max(seconds, 0.0)


def max_retry_after(headers: Mapping[str, str], names: Iterable[str] | None = None) -> float | None:
    """The longest wait any `*retry-after*` header asks for (providers send several)."""
    waits = []
    for key, value in headers.items():
        lowered = key.lower()
        if (names is None and lowered.endswith("retry-after")) or (names is not None and lowered in names):
            seconds = parse_retry_after(value)
            if seconds is not None:
                waits.append(seconds)
    return max(waits) if waits else None


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def with_throttle_retry(
    call: Callable[[], T],
    *,
    classify: Callable[[Exception], ConnectorError | None],
    sleep: Callable[[float], None],
    max_retries: int = DEFAULT_THROTTLE_RETRIES,
    on_attempt: Callable[[], None] | None = None,
) -> T:
    """Run `call`; on a Throttled classification wait (server's hint, else 1, 2, 4 s...) and retry.

    `classify` turns a client library's exception into our error, or None for "not ours" (re-raised).
    Other connector errors are raised at once for the engine to handle.
    """
    attempt = 0
    while True:
        if on_attempt is not None:
            on_attempt()
        try:
            return call()
        except ConnectorError:
            raise
        except Exception as exc:
            error = classify(exc)
            if error is None:
                raise
            if isinstance(error, Throttled) and attempt < max_retries:
                wait = error.retry_after if error.retry_after is not None else float(2**attempt)
                if wait <= MAX_INLINE_WAIT_SECONDS:
                    sleep(wait)
                    attempt += 1
                    continue
            raise error from exc
