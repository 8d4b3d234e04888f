"""What the cloud-billing connectors (AWS, Azure, GCP) share: their base class, keys, days, throttle retries.

Retry split: a connector retries a *throttled* request itself (the provider said how long to wait,
and redoing earlier pages would cost money on Cost Explorer), a few times, through an injected
`sleep`. Everything else retryable (5xx, timeouts, throttles that outlast the budget) is raised as
RetryableError with the provider's wait in `retry_after`, and the sync engine owns the backoff.
"""

from __future__ import annotations

import hashlib
import time
from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from ipaddress import ip_address
from typing import TYPE_CHECKING, Any, Self, TypeVar
from urllib.parse import urlsplit

from aispend.connectors.base import Connector, ConnectorError, RetryableError, Sleep
from aispend.core.rules.attribution import AttributionRules, load_rules
from aispend.core.timeutil import Clock, start_of_day, system_clock

if TYPE_CHECKING:
    from aispend.core.settings import Settings

T = TypeVar("T")

DEFAULT_THROTTLE_RETRIES = 3
# A throttle asking for a longer wait than this is handed to the engine instead of slept on here.
MAX_INLINE_WAIT_SECONDS = 120.0


class Throttled(RetryableError):
    """The provider rate-limited the request (429 or its own throttle code)."""


class CloudConnector(Connector):
    """A cloud bill: attribution rules, throttled requests retried in place, built from settings.

    Subclasses take their options as keyword arguments (`rules`, `sleep`, `max_throttle_retries`
    and their own), say which settings fill them in `settings_options`, and classify their client
    library's exceptions in `classify`.
    """

    def __init__(
        self,
        *,
        rules: AttributionRules | None = None,
        sleep: Sleep = time.sleep,
        max_throttle_retries: int = DEFAULT_THROTTLE_RETRIES,
    ) -> None:
        self._rules = rules or AttributionRules()
        self._sleep = sleep
        self._max_throttle_retries = max_throttle_retries

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Clock = system_clock, sleep: Sleep = time.sleep, **overrides: Any
    ) -> Self:
        """Options from `settings_options`, then `overrides` (tests: a client, a retry budget).

        `clock` is accepted like every connector's and unused: a cloud bill's days come from the
        window, and its freshness from the rows.
        """
        options: dict[str, Any] = {
            "rules": load_rules(settings.attribution_file),
            **cls.settings_options(settings),
            "sleep": sleep,
        }
        options.update(overrides)
        return cls(**options)

    @classmethod
    @abstractmethod
    def settings_options(cls, settings: Settings) -> dict[str, Any]:
        """The constructor's keyword arguments that the settings give."""

    @abstractmethod
    def classify(self, exc: Exception) -> ConnectorError | None:
        """The client library's exception as our error; None when it is not a client failure."""

    def retrying(self, call: Callable[[], T], on_attempt: Callable[[], None] | None = None) -> T:
        """`call`, with a throttled attempt waited on and retried here (see `with_throttle_retry`)."""
        return with_throttle_retry(
            call,
            classify=self.classify,
            sleep=self._sleep,
            max_retries=self._max_throttle_retries,
            on_attempt=on_attempt,
        )


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
