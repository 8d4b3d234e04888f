"""Retry classified connector errors: exponential backoff with jitter, server waits honoured, a deadline.

The sleep function, the monotonic timer and the random source are parameters so that tests run
without waiting.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from aispend.connectors.base import RetryableError

T = TypeVar("T")
Sleep = Callable[[float], None]
Timer = Callable[[], float]


class TimeLimitError(Exception):
    """The source's time limit would be passed before the next attempt could start."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 2.0
    max_delay: float = 120.0


def backoff_delay(attempt: int, policy: RetryPolicy, retry_after: float | None, rng: random.Random) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based).

    Equal jitter (half fixed, half random) spreads retries of many sources; a longer wait asked
    for by the server (Retry-After and throttle headers) always wins.
    """
    ceiling = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
    delay = ceiling / 2 + rng.uniform(0, ceiling / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


@dataclass
class RetryStats:
    attempts: int = 0
    waited: float = 0.0


def call_with_retries(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    sleep: Sleep,
    timer: Timer,
    deadline: float,
    rng: random.Random,
    stats: RetryStats,
) -> T:
    """`fn()`, retried on RetryableError; FatalError and anything else propagate at once."""
    attempt = 0
    while True:
        if timer() >= deadline:
            raise TimeLimitError("time limit reached before the next request")
        attempt += 1
        stats.attempts += 1
        try:
            return fn()
        except RetryableError as exc:
            if attempt >= policy.max_attempts:
                last = str(exc).removeprefix(exc.source + ": ")
                raise RetryableError(
                    exc.source, f"gave up after {attempt} attempts; last error: {last}", exc.retry_after
                ) from exc
            delay = backoff_delay(attempt, policy, exc.retry_after, rng)
            if timer() + delay >= deadline:
                raise TimeLimitError(f"time limit reached while backing off after: {exc}") from exc
            sleep(delay)
            stats.waited += delay
