"""The job registry: name -> callable(context) -> result. Explicit and boring on purpose.

A job body gets a `JobContext` (settings, engine, `now`, notifier, a stop flag) and returns a
`JobResult` (or a plain summary string, or None). Raising marks the run failed; raising
`JobHandedBack` says "stopped early, run this slot again".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from aispend.core.settings import Settings
from aispend.core.timeutil import Clock, system_clock
from aispend.jobs.notify import Notifier


@dataclass(frozen=True)
class JobContext:
    name: str
    settings: Settings
    engine: Engine
    now: datetime  # the slot's wall time as the scheduler saw it (from the injected clock)
    slot: datetime | None
    notifier: Notifier
    stop_requested: Callable[[], bool] = lambda: False
    clock: Clock = system_clock  # for bodies that need more than the start time (the runner's clock)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("aispend.jobs"))

    @property
    def slot_key(self) -> str:
        """A stable key for this job and slot, for the dedupe key of anything the body posts.

        The scheduler runs a slot to completion at least once: if a leader dies after a body's side
        effect but before the run is recorded, the next leader runs the slot again. Posting with a
        dedupe key (the outbox's unique key) is what makes that second run post nothing.
        """
        moment = self.slot if self.slot is not None else self.now
        return f"{self.name}:{moment.isoformat()}"


@dataclass(frozen=True)
class JobResult:
    summary: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class JobHandedBack(Exception):
    """Raised by a body that stopped early (shutdown requested); the slot stays due."""


JobFn = Callable[[JobContext], "JobResult | str | None"]


class JobRegistry:
    """Bodies by job name. Sync bodies are keyed by source; each becomes job `sync:<source>`."""

    def __init__(self) -> None:
        self._bodies: dict[str, JobFn] = {}
        self._sync_sources: dict[str, JobFn] = {}

    def register(self, name: str, body: JobFn) -> None:
        if name in self._bodies:
            raise ValueError(f"job {name!r} is registered twice")
        self._bodies[name] = body

    def register_sync_source(self, source: str, body: JobFn) -> None:
        if source in self._sync_sources:
            raise ValueError(f"sync source {source!r} is registered twice")
        self._sync_sources[source] = body

    def body(self, name: str) -> JobFn | None:
        if name.startswith(SYNC_PREFIX):
            return self._sync_sources.get(name.removeprefix(SYNC_PREFIX))
        return self._bodies.get(name)

    def sync_sources(self) -> list[str]:
        return sorted(self._sync_sources)

    def names(self) -> Iterator[str]:
        yield from self._bodies


SYNC_PREFIX = "sync:"


def sync_job_name(source: str) -> str:
    return f"{SYNC_PREFIX}{source}"


def is_sync_job(name: str) -> bool:
    return name.startswith(SYNC_PREFIX)


def as_result(value: JobResult | str | None) -> JobResult:
    if isinstance(value, JobResult):
        return value
    return JobResult(summary=value or "")
