"""The job set: which jobs exist, on which schedule, and the body each one runs (if wired).

A job without a body is listed (so `aispend jobs list` shows what is still to wire) but never run.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from aispend.core.schedule import Trigger, parse_schedule, parse_sync_overrides
from aispend.core.settings import Settings
from aispend.jobs.registry import JobFn, JobRegistry, is_sync_job, sync_job_name

EVALUATE = "evaluate"
DIGEST = "digest"
MONTHLY_REVIEW = "monthly_review"
QUARTERLY_REVIEW = "quarterly_review"
RETENTION = "retention"
ROLLUPS = "rollups"

DESCRIPTIONS = {
    EVALUATE: "governance evaluation (budgets, forecasts, caps); also right after every successful sync",
    DIGEST: "weekly top-5 digest",
    MONTHLY_REVIEW: "monthly review: thresholds against actual spend and the shadow-AI audit, to finance",
    QUARTERLY_REVIEW: "quarterly model review",
    RETENTION: "delete raw call records past AISPEND_CALL_RETENTION_DAYS (hourly rollups stay)",
    ROLLUPS: "rollup maintenance",
}


@dataclass(frozen=True)
class JobSpec:
    name: str
    schedule: str
    trigger: Trigger
    description: str
    body: JobFn | None

    @property
    def wired(self) -> bool:
        return self.body is not None


def build_job_set(settings: Settings, registry: JobRegistry) -> list[JobSpec]:
    """Every job in run order within a tick: syncs first (evaluation follows them), then the rest."""
    tz = ZoneInfo(settings.timezone)
    specs: list[JobSpec] = []
    overrides = parse_sync_overrides(settings.jobs_sync_crons)
    for index, source in enumerate(registry.sync_sources()):
        minute = (5 + index * settings.jobs_sync_stagger_minutes) % 60
        schedule = overrides.get(source, settings.jobs_sync_cron.replace("{minute}", str(minute)))
        name = sync_job_name(source)
        trigger = parse_schedule(schedule, tz)
        specs.append(JobSpec(name, schedule, trigger, f"sync {source}", registry.body(name)))
    scheduled = {
        EVALUATE: settings.jobs_evaluate_cron,
        DIGEST: settings.jobs_digest_cron,
        MONTHLY_REVIEW: settings.jobs_monthly_review_cron,
        QUARTERLY_REVIEW: settings.jobs_quarterly_review_cron,
        RETENTION: settings.jobs_retention_cron,
        ROLLUPS: settings.jobs_rollups_cron,
    }
    for name, schedule in scheduled.items():
        trigger = parse_schedule(schedule, tz)
        specs.append(JobSpec(name, schedule, trigger, DESCRIPTIONS[name], registry.body(name)))
    disabled = set(settings.jobs_disabled)
    return [spec for spec in specs if spec.name not in disabled]


def follows(job: str, finished: str) -> bool:
    """Jobs that also run right after another job succeeds: evaluation after every sync."""
    return job == EVALUATE and is_sync_job(finished)
