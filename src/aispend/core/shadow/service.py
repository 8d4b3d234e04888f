"""What the CLI, the bot and the scheduler call for shadow AI: settings in, the matcher, the rules and
the monthly audit out (reading export files is connectors/expenses/ingest.py)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Engine

from aispend.core.settings import Settings
from aispend.core.shadow.audit import run_monthly_audit
from aispend.core.shadow.catalog import load_catalog
from aispend.core.shadow.findings import Rules, ShadowReport
from aispend.core.shadow.matcher import Matcher


def build_matcher(settings: Settings) -> Matcher:
    return Matcher(load_catalog(settings.shadow_vendors_file))


def rules_from(settings: Settings) -> Rules:
    return Rules(
        new_vendor_lookback_days=settings.shadow_new_vendor_lookback_days,
        consolidation_min_people=settings.shadow_consolidation_min_people,
        consolidation_saving_percent=settings.shadow_consolidation_saving_percent,
        overlap_min_tools=settings.shadow_overlap_min_tools,
        spike_ratio=settings.shadow_spike_ratio,
        spike_min_increase=settings.shadow_spike_min_increase,
        spike_baseline_months=settings.shadow_spike_baseline_months,
        min_group_size=settings.shadow_min_group_size,
    )


def monthly_report(engine: Engine, month: date | None, *, now: datetime, settings: Settings) -> ShadowReport:
    return run_monthly_audit(
        engine,
        month,
        now=now,
        matcher=build_matcher(settings),
        rules=rules_from(settings),
        currency=settings.currency,
        duplicate_window_days=settings.shadow_duplicate_window_days,
        refund_window_days=settings.shadow_refund_window_days,
    )
