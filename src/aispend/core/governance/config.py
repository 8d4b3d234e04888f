"""Governance settings turned into rule policies, once, at the entry point."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from aispend.core.ledger.spend import SpendPolicy
from aispend.core.rules.agentic import EscalationGate
from aispend.core.rules.change import ChangePolicy
from aispend.core.rules.data_quality import DataQualityPolicy
from aispend.core.rules.lifecycle import LifecyclePolicy
from aispend.core.rules.periods import parse_period_kind
from aispend.core.rules.share import SharePolicy
from aispend.core.settings import Settings


@dataclass(frozen=True)
class GovernanceConfig:
    currency: str = "USD"
    period_kind: str = "month"
    spend: SpendPolicy = field(default_factory=SpendPolicy)  # currency, bill basis, dated rates
    share: SharePolicy = field(default_factory=SharePolicy)
    changes: tuple[ChangePolicy, ...] = (ChangePolicy("week"), ChangePolicy("month"))
    data_quality: DataQualityPolicy = field(default_factory=DataQualityPolicy)
    lifecycle: LifecyclePolicy = field(default_factory=LifecyclePolicy)
    gates: tuple[EscalationGate, ...] = ()

    @classmethod
    def from_settings(cls, s: Settings) -> GovernanceConfig:
        period = parse_period_kind(s.governance_period)
        return cls(
            currency=s.currency,
            period_kind=period,
            spend=SpendPolicy.from_settings(s),
            share=SharePolicy(
                yellow_pct=s.share_yellow_pct,
                red_pct=s.share_red_pct,
                min_total=s.share_min_spend,
                window_days=s.share_window_days,
                period_kind=period,
            ),
            changes=tuple(
                ChangePolicy(kind, s.change_flag_pct, s.change_min_spend, s.change_min_days, fold_pct=s.change_fold_pct)
                for kind in ("week", "month")
            ),
            data_quality=DataQualityPolicy(
                unattributed_max_pct=s.unattributed_max_pct,
                stale_after_hours=s.sync_stale_hours,
                drift_max_pct=s.reconciliation_drift_pct,
            ),
            lifecycle=LifecyclePolicy(
                escalate_after=timedelta(hours=s.escalate_after_hours) if s.escalate_after_hours else None,
                resend_every=timedelta(hours=s.resend_interval_hours) if s.resend_interval_hours else None,
            ),
            gates=tuple(EscalationGate.parse(g) for g in s.escalation_gates),
        )
