"""The one connector protocol every source implements: the `Connector` base class.

Every source subclasses `Connector`. It must give `name`, `is_configured()` and `fetch(window)`;
it may override what has a documented default here: `max_window_days`, `check(today)` and the
`from_settings(settings, *, clock, sleep)` constructor the registry calls for every source.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Self

from aispend.core.errors import AispendError
from aispend.core.ledger.calls import StoredCall
from aispend.core.ledger.costlines import CostLineIn
from aispend.core.ledger.usage import UsageLineIn
from aispend.core.timeutil import Clock, system_clock

if TYPE_CHECKING:
    from aispend.core.settings import Settings

Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Window:
    """UTC days [start, end): end is exclusive, like Cost Explorer, FOCUS and the admin APIs."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"empty window: {self.start} .. {self.end}")


@dataclass
class FetchResult:
    """What one fetch returned: bill lines, and how many (possibly billed) requests it made."""

    lines: Sequence[CostLineIn]
    requests: int = 0
    freshest_data_at: datetime | None = None
    notes: list[str] = field(default_factory=list)
    # Token usage the source reports beside its bill (admin APIs); quantities only, never spend.
    usage: Sequence[UsageLineIn] = ()
    # Per-call records (LiteLLM, Langfuse), priced, keyed by the source's own call id: the engine
    # upserts them, so a restated call replaces its stored version and re-syncing changes nothing.
    calls: Sequence[StoredCall] = ()
    # Records the source returned that could not be read, one reason each ("observation o-1: ...");
    # reported by the sync, never fatal: the other records of the window are written.
    rejected: list[str] = field(default_factory=list)


class ConnectorError(AispendError):
    """Base for connector failures; `source` names the connector."""

    code = "connector_failed"

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source


class RetryableError(ConnectorError):
    """429, 5xx, timeouts: worth another try, after `retry_after` seconds when the server said so."""

    code = "source_unavailable"

    def __init__(self, source: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(source, message)
        self.retry_after = retry_after


class FatalError(ConnectorError):
    """Auth and other 4xx: retrying will not help; the message says what to fix."""

    code = "source_refused"

    def __init__(self, source: str, message: str, fix: str) -> None:
        super().__init__(source, f"{message} — {fix}")
        self.fix = fix


@dataclass
class CheckReport:
    """What a connector's `check()` found, one fact per line (for `aispend connectors check`).

    A check that fails raises the same FatalError / RetryableError a fetch would.
    """

    source: str
    details: list[str] = field(default_factory=list)
    freshest_data_at: datetime | None = None


class Connector(ABC):
    """A source of bill lines (and usage), or of per-call records. The sync engine only ever calls
    what is declared here."""

    name: str
    # The longest window the engine asks `fetch` for; None: the sync policy's chunk size (31 days).
    # A source where every request is billed and one request covers months (Cost Explorer) asks
    # for more, so that a backfill is not cut into chunks that each repeat the billed requests.
    max_window_days: int | None = None

    @abstractmethod
    def is_configured(self) -> bool:
        """Whether the settings name this source (false: the engine skips it, nothing is called)."""

    @abstractmethod
    def fetch(self, window: Window) -> FetchResult:
        """Every bill line of `window`; raise RetryableError / FatalError when that is not possible."""

    def check(self, today: date) -> CheckReport:
        """Prove the credentials work, for `aispend connectors check`; nothing is written.

        Default: one small fetch of yesterday and `today`. A source where that read is billed or
        slow overrides this with a cheaper call, and may say what it found in `details`.
        """
        window = Window(today - timedelta(days=1), today + timedelta(days=1))
        return CheckReport(self.name, freshest_data_at=self.fetch(window).freshest_data_at)

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = system_clock, sleep: Sleep = time.sleep) -> Self:
        """The connector the settings describe; how the registry builds every source.

        `clock` is the time the connector reads (never the wall clock directly); a connector that
        waits on its own (the cloud connectors retry a throttled request in place) waits through
        `sleep`, the engine's, so that tests never really wait and every wait is visible to them.
        """
        raise NotImplementedError(f"{cls.__name__} cannot be built from settings")
