"""The provider_usage table: tokens and requests as the providers' admin APIs report them.

It has no money column on purpose: spend comes only from bill lines (cost_line), so provider
usage can never be counted as spend a second time. Reconciliation uses it to tell "calls missing
from our logs" from "calls logged at the wrong price".
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from aispend.ledger.models import UNATTRIBUTED


def _count() -> Any:
    return Field(default=0, sa_type=BigInteger, nullable=False)


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
    requests: int = _count()
    input_tokens: int = _count()  # all input tokens, cache reads and cache writes included (as call_record)
    output_tokens: int = _count()
    cache_read_tokens: int = _count()
    cache_write_tokens: int = _count()
    workflow: str = Field(default=UNATTRIBUTED, max_length=128)
    feature: str = Field(default=UNATTRIBUTED, max_length=128)
    team: str = Field(default=UNATTRIBUTED, max_length=128)
    customer: str = Field(default=UNATTRIBUTED, max_length=128)
    ingested_at: datetime
