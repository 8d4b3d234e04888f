"""Evaluation when data lands, within seconds instead of at the next 15-minute tick.

`LandedTrigger.landed(source)` is the plain, thread-safe callable a live path calls after committing
(the OTLP/JSON receiver's `on_landed`, a sync in this process). The first landing opens a window of
`debounce` seconds; each landing in it pushes the run back by `debounce`, never past `max_delay` after
the first, so a burst of batches is one evaluation. Landings during a run open the next window.

Data landed by another process (`aispend ingest calls FILE`, `-`, `--follow`, a receiver deployed on
its own) is seen by polling a cheap marker (the ledger's newest call id, `marker`) every
`poll_seconds`: a change is a landing. The run happens on the leader only (`is_leader`); a follower
drops its landings, since the leader's poll sees the same rows.

The worker thread's decisions are `step()`'s, on the injected monotonic clock; it waits with the
injected `wait` (an Event's wait by default, which `landed` and `stop` end early), so tests drive
`step()` with their own clock and never sleep.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("aispend.jobs.trigger")


@dataclass
class _Window:
    first: float
    due: float
    sources: set[str]


class LandedTrigger:
    def __init__(
        self,
        run: Callable[[], object],
        *,
        debounce: float,
        max_delay: float,
        is_leader: Callable[[], bool] = lambda: True,
        marker: Callable[[], object] | None = None,
        poll_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._run = run
        self.debounce = debounce
        self.max_delay = max(max_delay, debounce)
        self._is_leader = is_leader
        self._marker = marker
        self.poll_seconds = poll_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._window: _Window | None = None
        self._last_marker: object = None
        self._marker_known = False
        self._next_poll = monotonic()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    # --- what live paths call ----------------------------------------------------------------
    def landed(self, source: str, **_detail: object) -> None:
        """New data is committed (from `source`): evaluate within `debounce` seconds."""
        now = self._monotonic()
        with self._lock:
            window = self._window
            if window is None:
                self._window = _Window(now, now + self.debounce, {source})
            else:
                window.sources.add(source)
                window.due = min(now + self.debounce, window.first + self.max_delay)
        self._wake.set()

    # --- the decisions -------------------------------------------------------------------------
    def step(self) -> bool:
        """Poll the marker when its time has come, then run the evaluation if a window is due.
        Returns whether it ran."""
        now = self._monotonic()
        if self._marker is not None and now >= self._next_poll:
            self._next_poll = now + self.poll_seconds
            self._poll_marker()
        with self._lock:
            window = self._window
            if window is None or now < window.due:
                return False
            self._window = None
        if not self._is_leader():
            log.debug("data landed (%s) on a follower: the leader evaluates", ", ".join(sorted(window.sources)))
            return False
        self._refresh_marker()  # what this run evaluates is not a landing for the next poll
        log.info("data landed (%s): evaluating now", ", ".join(sorted(window.sources)))
        try:
            self._run()
        except Exception:
            log.exception("the evaluation after data landed failed (the next landing or tick runs it again)")
        self.runs += 1
        return True

    def wait_seconds(self) -> float:
        """Until the next thing to do: the window's end or the next marker poll."""
        now = self._monotonic()
        candidates = [self._next_poll - now] if self._marker is not None else [self.poll_seconds]
        with self._lock:
            if self._window is not None:
                candidates.append(self._window.due - now)
        return max(0.0, min(candidates))

    def _poll_marker(self) -> None:
        if not self._is_leader():
            self._marker_known = False  # a new leader takes its baseline when it leads
            return
        try:
            value = self._marker() if self._marker is not None else None
        except Exception:
            log.warning("could not read the ledger's change marker (retried)", exc_info=True)
            return
        if not self._marker_known:
            self._last_marker, self._marker_known = value, True
            return
        if value != self._last_marker:
            self._last_marker = value
            self.landed("ledger")

    def _refresh_marker(self) -> None:
        if self._marker is None:
            return
        try:
            self._last_marker, self._marker_known = self._marker(), True
        except Exception:
            log.warning("could not read the ledger's change marker (retried)", exc_info=True)

    # --- the worker thread ---------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="landed-trigger", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.step()
            self._wake.wait(self.wait_seconds())
            self._wake.clear()
