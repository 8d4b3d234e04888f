"""Prometheus metrics for /metrics.

Run metrics (durations, failures) are observed as jobs finish in this process. Ages and counts are
read at scrape time: the age of the last successful sync per source from SyncState (which the sync
engine writes) — or from the sync job's own record when SyncState has no row yet — and, through
callables the owning domains provide, open alerts by level and the outbox depth. A feed that is not
wired is simply not exported (absent, rather than a misleading 0).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, select

from aispend.core.ledger.ingest_log import LiveSource, live_sources
from aispend.core.ledger.models import SyncState
from aispend.core.timeutil import Clock, as_utc
from aispend.jobs.models import STATUS_FAILED, JobState
from aispend.jobs.registry import is_sync_job
from aispend.jobs.runner import RunOutcome, sync_source_of

log = logging.getLogger("aispend.jobs.metrics")

DURATION_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


@dataclass
class MetricFeeds:
    """Gauges the composition root (aispend.app.metric_feeds) hands in: open alerts, outbox depth."""

    open_alerts_by_level: Callable[[], Mapping[str, int]] | None = None
    outbox_depth: Callable[[], int] | None = None


class OpsMetrics:
    def __init__(self, engine: Engine, clock: Clock, feeds: MetricFeeds | None = None) -> None:
        self.registry = CollectorRegistry()
        self.job_duration = Histogram(
            "aispend_job_duration_seconds",
            "Duration of job runs",
            ["job"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.job_runs = Counter(
            "aispend_job_runs", "Job runs by final status", ["job", "status"], registry=self.registry
        )
        self.sync_duration = Histogram(
            "aispend_sync_duration_seconds",
            "Duration of sync runs per source",
            ["source"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.sync_failures = Counter(
            "aispend_sync_failures", "Failed sync runs per source", ["source"], registry=self.registry
        )
        self.leader = Gauge(
            "aispend_scheduler_leader", "1 when this process runs the scheduled jobs", registry=self.registry
        )
        self.registry.register(_ScrapeTimeCollector(engine, clock, feeds or MetricFeeds()))

    def observe(self, outcome: RunOutcome) -> None:
        self.job_duration.labels(outcome.job).observe(outcome.duration_s)
        self.job_runs.labels(outcome.job, outcome.status).inc()
        source = sync_source_of(outcome.job)
        if source is not None:
            self.sync_duration.labels(source).observe(outcome.duration_s)
            if outcome.status == STATUS_FAILED:
                self.sync_failures.labels(source).inc()


class _ScrapeTimeCollector(Collector):
    def __init__(self, engine: Engine, clock: Clock, feeds: MetricFeeds) -> None:
        self._engine = engine
        self._clock = clock
        self._feeds = feeds

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = as_utc(self._clock())
        try:
            with self._engine.connect() as conn:
                sync_rows = conn.execute(select(SyncState.source, SyncState.last_success_at)).all()  # type: ignore[call-overload]
                job_rows = conn.execute(select(JobState)).all()
                live = live_sources(conn, now)
        except Exception:
            log.warning("metrics: the database did not answer", exc_info=True)
            return
        sync_age = GaugeMetricFamily(
            "aispend_sync_last_success_age_seconds",
            "Seconds since the last successful sync per source",
            labels=["source"],
        )
        seen: dict[str, float] = {}
        for row in job_rows:
            if is_sync_job(row.name) and row.last_success_at is not None:
                seen[row.name.split(":", 1)[1]] = (now - as_utc(row.last_success_at)).total_seconds()
        for source, last_success in sync_rows:
            if last_success is not None:
                seen[source] = (now - as_utc(last_success)).total_seconds()
        for source, age in sorted(seen.items()):
            sync_age.add_metric([source], age)
        yield sync_age

        job_age = GaugeMetricFamily(
            "aispend_job_last_success_age_seconds", "Seconds since the job last succeeded", labels=["job"]
        )
        streak = GaugeMetricFamily("aispend_job_consecutive_failures", "Failures in a row per job", labels=["job"])
        for row in job_rows:
            streak.add_metric([row.name], row.consecutive_failures)
            if row.last_success_at is not None:
                job_age.add_metric([row.name], (now - as_utc(row.last_success_at)).total_seconds())
        yield job_age
        yield streak
        yield from _live_families(live, now)

        if self._feeds.open_alerts_by_level is not None:
            alerts = GaugeMetricFamily("aispend_open_alerts", "Open alerts by level", labels=["level"])
            for level, count in sorted(self._feeds.open_alerts_by_level().items()):
                alerts.add_metric([level], count)
            yield alerts
        if self._feeds.outbox_depth is not None:
            yield GaugeMetricFamily(
                "aispend_outbox_depth", "Messages waiting in the outbox", value=self._feeds.outbox_depth()
            )


def _live_families(live: list[LiveSource], now: datetime) -> Iterator[GaugeMetricFamily]:
    """The live sources of `aispend status`, from the live ingest log: the same figures, by token name."""
    labels = ["source", "token_name"]
    age = GaugeMetricFamily(
        "aispend_ingest_last_batch_age_seconds", "Seconds since the live source's last batch", labels=labels
    )
    accepted = GaugeMetricFamily(
        "aispend_ingest_accepted_last_hour", "Rows or spans a live source had accepted in the last hour", labels=labels
    )
    refused = GaugeMetricFamily(
        "aispend_ingest_refused_last_hour", "Rows or spans a live source had refused in the last hour", labels=labels
    )
    batches = GaugeMetricFamily("aispend_ingest_batches_last_hour", "Batches landed in the last hour", labels=labels)
    for s in live:
        key = [s.source, s.token_name]
        age.add_metric(key, (now - s.last_batch_at).total_seconds())
        accepted.add_metric(key, s.accepted_last_hour)
        refused.add_metric(key, s.refused_last_hour)
        batches.add_metric(key, s.batches_last_hour)
    yield from (age, accepted, refused, batches)
