"""The one connector protocol every source implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from aispend.core.ledger.costlines import CostLineIn
from aispend.core.ledger.usage import UsageLineIn


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


class ConnectorError(Exception):
    """Base for connector failures; `source` names the connector."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source


class RetryableError(ConnectorError):
    """429, 5xx, timeouts: worth another try, after `retry_after` seconds when the server said so."""

    def __init__(self, source: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(source, message)
        self.retry_after = retry_after


class FatalError(ConnectorError):
    """Auth and other 4xx: retrying will not help; the message says what to fix."""

    def __init__(self, source: str, message: str, fix: str) -> None:
        super().__init__(source, f"{message} — {fix}")
        self.fix = fix


class Connector(Protocol):
    name: str

    def is_configured(self) -> bool: ...

    def fetch(self, window: Window) -> FetchResult: ...
