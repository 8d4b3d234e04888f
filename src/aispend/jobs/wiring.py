"""Which body runs for which job in this build. The registration points below are where the
other domains plug in at merge time; until a body is registered, its job is listed but never run.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from aispend.connectors.registry import build_connectors
from aispend.core.settings import Settings
from aispend.core.timeutil import Clock, system_clock
from aispend.governance.outbox import DeliveryResult
from aispend.jobs.catalog import EVALUATE, MONTHLY_REVIEW, QUARTERLY_REVIEW, RETENTION, ROLLUPS
from aispend.jobs.governance_jobs import evaluate_job, quarterly_review_job
from aispend.jobs.monthly import monthly_review_job
from aispend.jobs.registry import JobContext, JobRegistry
from aispend.jobs.retention import retention_job
from aispend.jobs.rollups import rollup_maintenance_job
from aispend.jobs.sync_job import sync_source_job


def default_registry(
    settings: Settings,
    clock: Clock = system_clock,
    *,
    deliver_outbox: bool = True,
    deliver: Callable[[JobContext], DeliveryResult] | None = None,
) -> JobRegistry:
    """`deliver_outbox=False` when the Slack app consumes the governance outbox itself; `deliver`: the
    Slack app's delivery, run right after each evaluation (jobs/slack_edge.py)."""
    registry = JobRegistry()
    registry.register(RETENTION, retention_job)
    registry.register(MONTHLY_REVIEW, monthly_review_job)  # shadow-AI audit now; thresholds join it (monthly.py)

    # One sync job per configured source, in the order and with the factories of connectors/registry.py.
    for source, connector in build_connectors(settings, clock=clock).items():
        if connector.is_configured():
            registry.register_sync_source(source, partial(sync_source_job, source=source, connector=connector))

    # Evaluation runs every AISPEND_JOBS_EVALUATE_CRON and right after every successful sync.
    registry.register(EVALUATE, partial(evaluate_job, deliver_outbox=deliver_outbox, deliver=deliver))
    registry.register(QUARTERLY_REVIEW, quarterly_review_job)

    # REGISTRATION POINT (digest): registry.register(DIGEST, weekly_digest_job)
    #     must post with a dedupe key (digest + ISO week) so a re-run never posts twice.

    registry.register(ROLLUPS, rollup_maintenance_job)
    return registry
