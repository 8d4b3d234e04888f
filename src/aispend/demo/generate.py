"""Generate the demo company's per-call logs: deterministic for a seed and an end date.

Weekday patterns, agent runs of several calls, one workflow that runs away in the last weeks
(more runs, and its drafting step moved to a frontier model), and an in-house model that
genai-prices does not know (so its calls are unpriced, never $0).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aispend.demo.company import (
    RUNAWAY_MODEL,
    RUNAWAY_RUNS_FACTOR,
    RUNAWAY_STARTS_DAYS_AGO,
    RUNAWAY_WORKFLOW,
    WORKFLOWS,
    DemoWorkflow,
    Step,
)

DEFAULT_SEED = 42
DEFAULT_DAYS = 90
# The demo is a snapshot of one fixed day, never of today, so that its figures (and the README's copy of
# them) are the same for everyone on any date. A Monday: the day the bot posts the weekly review of the
# week just ended (Mon 16 - Sun 22 Nov 2026), in which support-triage has run away all week.
DEFAULT_AS_OF = date(2026, 11, 23)


@dataclass(frozen=True)
class DemoOutcome:
    workflow: str
    day: date
    count: int


def _runaway(wf: DemoWorkflow, day: date, end: date, until: date | None) -> bool:
    """The runaway's last RUNAWAY_STARTS_DAYS_AGO days before `end`, unless it was fixed by `until`."""
    if wf.key != RUNAWAY_WORKFLOW or (end - day).days > RUNAWAY_STARTS_DAYS_AGO:
        return False
    return until is None or day < until


def _runs_for(wf: DemoWorkflow, day: date, end: date, rng: random.Random, until: date | None) -> int:
    base = wf.runs_per_weekday * (wf.weekend_factor if day.weekday() >= 5 else 1.0)
    if _runaway(wf, day, end, until):
        base *= RUNAWAY_RUNS_FACTOR
    return max(0, round(base * rng.uniform(0.85, 1.15)))


def _step_for(wf: DemoWorkflow, step: Step, day: date, end: date, until: date | None) -> Step:
    if step.name == "draft" and _runaway(wf, day, end, until):
        provider, model = RUNAWAY_MODEL
        return Step(step.name, provider, model, step.input_tokens, step.output_tokens, step.cache_read_share)
    return step


def _tokens(mean: int, rng: random.Random) -> int:
    return max(1, int(mean * rng.lognormvariate(0, 0.35)))


def generate_calls(
    *, end: date, days: int = DEFAULT_DAYS, seed: int = DEFAULT_SEED, runaway_until: date | None = None
) -> tuple[Iterator[dict[str, Any]], list[DemoOutcome]]:
    """Call rows (the documented call-log schema) for days [end - days, end), and daily outcomes.

    `runaway_until`: the day the runaway workflow was fixed; from it on, it runs as before. To show a
    recovery, load a demo ending on D, then the days after D with `runaway_until=D`."""
    outcomes: list[DemoOutcome] = []

    def rows() -> Iterator[dict[str, Any]]:
        for offset in range(days, 0, -1):
            day = end - timedelta(days=offset)
            for wf in WORKFLOWS:
                # One generator per (seed, workflow, day): a day's data never depends on other days.
                rng = random.Random(f"{seed}:{wf.key}:{day.isoformat()}")
                resolved = 0
                for run_index in range(_runs_for(wf, day, end, rng, runaway_until)):
                    succeeded = rng.random() < wf.outcome_rate
                    resolved += succeeded
                    yield from _run_calls(wf, day, end, run_index, succeeded, rng, runaway_until)
                outcomes.append(DemoOutcome(wf.key, day, resolved))

    return rows(), outcomes


def _run_calls(
    wf: DemoWorkflow,
    day: date,
    end: date,
    run_index: int,
    succeeded: bool,
    rng: random.Random,
    until: date | None,
) -> Iterator[dict[str, Any]]:
    run_id = f"{wf.key}-{day.isoformat()}-{run_index:05d}"
    # Working hours weigh more: 07:00-19:00 UTC for most calls.
    hour = rng.choice(range(7, 19)) if rng.random() < 0.85 else rng.randrange(24)
    ts = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=UTC)
    customer = rng.choice(wf.customers) if wf.customers else ""
    loops = rng.randint(*wf.repeats)
    call_index = 0
    for loop in range(loops):
        for base_step in wf.steps:
            step = _step_for(wf, base_step, day, end, until)
            input_tokens = _tokens(step.input_tokens, rng)
            cache_read = int(input_tokens * step.cache_read_share)
            is_last = loop == loops - 1 and base_step is wf.steps[-1]
            yield {
                "call_id": f"{run_id}-{call_index:02d}",
                "timestamp": ts.isoformat(),
                "provider": step.provider,
                "model": step.model,
                "input_tokens": input_tokens,
                "output_tokens": _tokens(step.output_tokens, rng),
                "cache_read_tokens": cache_read,
                "workflow": wf.key,
                "feature": wf.feature,
                "team": wf.team,
                "customer": customer,
                "run_id": run_id,
                "step": step.name,
                "outcome": "success" if is_last and succeeded else "",
                "latency_ms": rng.randint(300, 9000),
            }
            call_index += 1
            ts += timedelta(seconds=rng.randint(1, 20))
