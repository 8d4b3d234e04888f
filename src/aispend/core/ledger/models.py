"""Ledger tables (SQLModel). Times are aware UTC; money is MoneyAmount with its currency beside it.

Dimension columns in rollups use "" (not NULL) for "not attributed" so that they can be part of
a unique key on every database; reports show "" as "(unattributed)".
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import JSON, BigInteger, Column, Index, Table, UniqueConstraint
from sqlmodel import Field, SQLModel

from aispend.core.ledger.types import MoneyAmount

UNATTRIBUTED = ""

# How a per-call cost was obtained.
COST_GIVEN = "given"  # the log carried the cost
COST_PRICED = "priced"  # priced from tokens with genai-prices at the call's timestamp
COST_UNPRICED = "unpriced"  # no cost and no known price: never counted as 0 silently


def money_field(nullable: bool = False) -> Any:
    return Field(default=None if nullable else Decimal(0), sa_type=MoneyAmount, nullable=nullable)


def tokens_field() -> Any:
    return Field(default=0, sa_type=BigInteger, nullable=False)


class CostLine(SQLModel, table=True):
    """One billed line from a bill or billing export, FOCUS-aligned. Unique per (source, natural_key)."""

    __tablename__ = "cost_line"
    __table_args__ = (
        UniqueConstraint("source", "natural_key", name="uq_cost_line_source_key"),
        Index("ix_cost_line_day", "charge_day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    natural_key: str = Field(max_length=128)
    charge_period_start: datetime
    charge_period_end: datetime
    charge_day: date  # UTC day of charge_period_start: the grain every daily query uses
    billed_cost: Decimal = money_field()
    effective_cost: Decimal | None = money_field(nullable=True)
    list_cost: Decimal | None = money_field(nullable=True)
    billing_currency: str = Field(max_length=3)
    provider: str = Field(default="", max_length=128)
    service_name: str = Field(default="", max_length=256)
    service_category: str = Field(default="", max_length=128)
    charge_category: str = Field(default="", max_length=32)
    resource_id: str | None = Field(default=None, max_length=1024)
    sku_id: str | None = Field(default=None, max_length=256)
    region: str | None = Field(default=None, max_length=128)
    consumed_quantity: Decimal | None = money_field(nullable=True)
    consumed_unit: str | None = Field(default=None, max_length=128)
    tags: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    is_ai: bool = Field(default=False)
    # attribution
    workflow: str = Field(default=UNATTRIBUTED, max_length=128)
    feature: str = Field(default=UNATTRIBUTED, max_length=128)
    team: str = Field(default=UNATTRIBUTED, max_length=128)
    customer: str = Field(default=UNATTRIBUTED, max_length=128)
    environment: str = Field(default=UNATTRIBUTED, max_length=64)
    model: str = Field(default=UNATTRIBUTED, max_length=128)
    # provenance
    estimated: bool = Field(default=False)
    ingested_at: datetime


class CallRecord(SQLModel, table=True):
    """One model call from the company's own per-call logs. Kept for the raw retention window."""

    __tablename__ = "call_record"
    # Only the time index: every read of raw calls is a time range (runs are read from agent_run),
    # and each extra index costs every insert.
    __table_args__ = (Index("ix_call_record_ts", "ts"),)

    id: int | None = Field(default=None, primary_key=True)
    call_key: str = Field(max_length=64, unique=True)  # call id when given, else a content hash
    ts: datetime
    provider: str = Field(max_length=64)
    model: str = Field(max_length=128)
    input_tokens: int = tokens_field()  # includes cache-read and cache-write tokens
    output_tokens: int = tokens_field()
    cache_read_tokens: int = tokens_field()
    cache_write_tokens: int = tokens_field()
    cost: Decimal | None = money_field(nullable=True)  # None when unpriced
    currency: str = Field(max_length=3)
    cost_source: str = Field(max_length=8)  # given | priced | unpriced
    zero_cost_flag: bool = Field(default=False)  # tokens > 0 but a given cost of exactly 0
    workflow: str = Field(default=UNATTRIBUTED, max_length=128)
    feature: str = Field(default=UNATTRIBUTED, max_length=128)
    team: str = Field(default=UNATTRIBUTED, max_length=128)
    customer: str = Field(default=UNATTRIBUTED, max_length=128)
    user: str = Field(default=UNATTRIBUTED, max_length=128)
    run_id: str = Field(default=UNATTRIBUTED, max_length=128)
    step: str = Field(default=UNATTRIBUTED, max_length=128)
    outcome: str = Field(default=UNATTRIBUTED, max_length=64)
    latency_ms: int | None = Field(default=None, sa_type=BigInteger)
    prompt_prefix_hash: str | None = Field(default=None, max_length=128)
    # The part of cache_write_tokens kept for one hour (priced at its own rate), and the service tier
    # as the log gave it ("" = standard): both kept so that re-pricing prices the call as it was billed.
    # Their database defaults (migration 0011) filled the calls kept before; declared so the models match.
    cache_write_1h_tokens: int = Field(
        default=0, sa_type=BigInteger, nullable=False, sa_column_kwargs={"server_default": "0"}
    )
    service_tier: str = Field(default="", max_length=32, sa_column_kwargs={"server_default": ""})
    ingested_at: datetime


ROLLUP_DIMENSIONS = ("provider", "model", "workflow", "feature", "team", "customer")


class RollupFigures(SQLModel):
    """The dimensions and measures the hourly and daily rollups share."""

    provider: str = Field(max_length=64)
    model: str = Field(max_length=128)
    workflow: str = Field(default=UNATTRIBUTED, max_length=128)
    feature: str = Field(default=UNATTRIBUTED, max_length=128)
    team: str = Field(default=UNATTRIBUTED, max_length=128)
    customer: str = Field(default=UNATTRIBUTED, max_length=128)
    currency: str = Field(max_length=3)
    calls: int = tokens_field()
    input_tokens: int = tokens_field()
    output_tokens: int = tokens_field()
    cache_read_tokens: int = tokens_field()
    cache_write_tokens: int = tokens_field()
    cost: Decimal = money_field()  # priced and given calls only
    unpriced_calls: int = tokens_field()
    unpriced_tokens: int = tokens_field()
    zero_cost_calls: int = tokens_field()
    latency_ms_sum: int = tokens_field()


class CallRollup(RollupFigures, table=True):
    """Hourly totals of per-call records, kept for good. Every report reads these, never raw calls."""

    __tablename__ = "call_rollup"
    __table_args__ = (
        UniqueConstraint(
            "hour",
            "provider",
            "model",
            "workflow",
            "feature",
            "team",
            "customer",
            "currency",
            name="uq_call_rollup_key",
        ),
        Index("ix_call_rollup_day", "day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    hour: datetime
    day: date


class CallRollupDaily(RollupFigures, table=True):
    """Daily totals, maintained from the same inserted calls as the hourly rollups.

    Reports over weeks and months read these: a year is ~365 rows per key instead of ~8,760.
    """

    __tablename__ = "call_rollup_daily"
    __table_args__ = (
        UniqueConstraint(
            "day",
            "provider",
            "model",
            "workflow",
            "feature",
            "team",
            "customer",
            "currency",
            name="uq_call_rollup_daily_key",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True)


class AgentRun(SQLModel, table=True):
    """One agent run / user action spanning many calls. Totals over its calls; kept for good."""

    __tablename__ = "agent_run"
    # Every report and evaluation reads runs by day range (and workflow).
    __table_args__ = (
        Index("ix_agent_run_started", "started_at"),
        Index("ix_agent_run_day_workflow", "day", "workflow"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(max_length=128, unique=True)
    workflow: str = Field(default=UNATTRIBUTED, max_length=128)
    team: str = Field(default=UNATTRIBUTED, max_length=128)
    started_at: datetime
    ended_at: datetime
    day: date  # UTC day of started_at
    calls: int = tokens_field()
    input_tokens: int = tokens_field()
    output_tokens: int = tokens_field()
    cost: Decimal = money_field()
    currency: str = Field(max_length=3)
    unpriced_calls: int = tokens_field()
    outcome: str = Field(default=UNATTRIBUTED, max_length=64)  # last non-empty outcome of its calls


class Workflow(SQLModel, table=True):
    __tablename__ = "workflow"

    key: str = Field(primary_key=True, max_length=128)
    display_name: str = Field(default="", max_length=256)
    owner: str = Field(default="", max_length=128)  # Slack user id or e-mail
    team: str = Field(default="", max_length=128)
    outcome_unit: str = Field(default="", max_length=128)  # e.g. "resolved ticket"
    run_cost_cap: Decimal | None = money_field(nullable=True)
    call_token_budget: int | None = Field(default=None, sa_type=BigInteger)
    currency: str = Field(default="USD", max_length=3)
    updated_at: datetime


class Outcome(SQLModel, table=True):
    """Business outcomes per workflow and day (e.g. resolved tickets), for cost per outcome."""

    __tablename__ = "outcome"
    __table_args__ = (UniqueConstraint("workflow", "day", name="uq_outcome_workflow_day"),)

    id: int | None = Field(default=None, primary_key=True)
    workflow: str = Field(max_length=128)
    day: date
    count: int = tokens_field()


class SyncState(SQLModel, table=True):
    __tablename__ = "sync_state"

    source: str = Field(primary_key=True, max_length=64)
    cursor: str | None = Field(default=None, max_length=1024)
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = Field(default=None, max_length=4000)
    last_error_at: datetime | None = None
    freshest_data_at: datetime | None = None
    rows_last_sync: int = Field(default=0)
    requests_last_sync: int = Field(default=0)


class IngestBatch(SQLModel, table=True):
    """One batch a live path landed (a streaming import's commit, a receiver's request): when, from
    which source and token, how many rows it accepted and refused. Written in the batch's own
    transaction (core/ledger/ingest_log.py); `aispend status` and /metrics read it; retention trims it."""

    __tablename__ = "ingest_batch"
    __table_args__ = (Index("ix_ingest_batch_received_at", "received_at"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    token_name: str = Field(default="", max_length=128)
    received_at: datetime
    accepted: int = tokens_field()
    refused: int = tokens_field()


class LedgerMeta(SQLModel, table=True):
    """Small key/value facts about the ledger, e.g. the raw-call retention watermark."""

    __tablename__ = "ledger_meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=1024)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a SQLModel class, for bulk statements."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


# The provider_usage table: tokens and requests as the providers' admin APIs report them. It has no
# money column on purpose: spend comes only from bill lines (cost_line), so provider usage can never
# be counted as spend a second time. Reconciliation uses it to tell "calls missing from our logs"
# from "calls logged at the wrong price".


class ProviderUsage(SQLModel, table=True):
    """Daily token usage per (source, model, sub-account, API key, ...). Unique per (source, natural_key)."""

    __tablename__ = "provider_usage"
    __table_args__ = (
        UniqueConstraint("source", "natural_key", name="uq_provider_usage_source_key"),
        Index("ix_provider_usage_day", "day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    natural_key: str = Field(max_length=128)
    day: date
    provider: str = Field(max_length=64)  # genai-prices style id: "openai", "anthropic"
    model: str = Field(default=UNATTRIBUTED, max_length=128)
    sub_account: str = Field(default=UNATTRIBUTED, max_length=128)  # OpenAI project / Anthropic workspace
    api_key_id: str = Field(default=UNATTRIBUTED, max_length=128)
    service_tier: str = Field(default=UNATTRIBUTED, max_length=32)
    requests: int = tokens_field()
    input_tokens: int = tokens_field()  # all input tokens, cache reads and cache writes included (as call_record)
    output_tokens: int = tokens_field()
    cache_read_tokens: int = tokens_field()
    cache_write_tokens: int = tokens_field()
    workflow: str = Field(default=UNATTRIBUTED, max_length=128)
    feature: str = Field(default=UNATTRIBUTED, max_length=128)
    team: str = Field(default=UNATTRIBUTED, max_length=128)
    customer: str = Field(default=UNATTRIBUTED, max_length=128)
    ingested_at: datetime
