"""Settings from the environment and `.env` (prefix AISPEND_). Built once at the entry point.

Every setting is listed, with a one-line comment, in `.env.example`; a test keeps the two in step.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[list[str], NoDecode]

DEFAULT_AI_SERVICE_NAMES = [
    "Amazon Bedrock",
    "Amazon SageMaker",
    "Amazon Q",
    "Amazon Comprehend",
    "Amazon Textract",
    "Amazon Rekognition",
    "Amazon Transcribe",
    "Amazon Polly",
    "Amazon Translate",
    "Azure OpenAI",
    "Azure OpenAI Service",
    "Azure AI Services",
    "Azure AI Foundry",
    "Cognitive Services",
    "Azure Machine Learning",
    "Vertex AI",
    "Gemini API",
    "Generative Language API",
    "Cloud Natural Language API",
    "Cloud Vision API",
    "Speech-to-Text",
    "OCI Generative AI",
]


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AISPEND_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- core -----------------------------------------------------------------------------
    database_url: str = "sqlite:///./aispend.db"
    currency: str = "USD"
    timezone: str = "UTC"
    call_retention_days: int = Field(default=35, ge=1)
    ai_service_names: CommaList = Field(default_factory=lambda: list(DEFAULT_AI_SERVICE_NAMES))
    attribution_file: Path | None = None

    # --- Slack (Bolt's conventional names, no prefix) ---------------------------------------
    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "AISPEND_SLACK_BOT_TOKEN")
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "AISPEND_SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "AISPEND_SLACK_APP_TOKEN")
    )

    # --- governance -----------------------------------------------------------------------
    governance_period: str = "month"  # default budget period for thresholds and share of spend: month | week
    governance_spend_source: str = "calls"  # calls (per-call rollups) | bills (AI bill lines)
    share_red_pct: Decimal = Field(default=Decimal(20), gt=0, le=100)
    share_yellow_pct: Decimal = Field(default=Decimal(15), gt=0, le=100)
    share_min_spend: Decimal = Field(default=Decimal(100), ge=0)
    share_window_days: int = Field(default=0, ge=0)  # 0: period so far; N: trailing N days
    change_flag_pct: Decimal = Field(default=Decimal(20), gt=0)
    change_min_spend: Decimal = Field(default=Decimal(50), ge=0)
    escalate_after_hours: float = Field(default=4, ge=0)  # 0 turns escalation off
    resend_interval_hours: float = Field(default=0, ge=0)  # 0 = off: one notification per level
    stale_source_hours: int = Field(default=48, ge=1)
    unattributed_max_pct: Decimal = Field(default=Decimal(10), ge=0, le=100)
    reconciliation_drift_pct: Decimal = Field(default=Decimal(5), ge=0)
    escalation_gates: CommaList = Field(default_factory=list)  # workflow/step=cheap-model, ...
    review_small_model: str = "openai:gpt-4o-mini"  # provider:model the model review re-prices on
    review_frontier_model: str = "anthropic:claude-sonnet-4-5"  # the frontier model `estimate` compares with
    batch_workflows: CommaList = Field(default_factory=list)  # latency-insensitive workflows
    batch_discount_pct: Decimal = Field(default=Decimal(50), ge=0, le=100)
    self_host_tokens_per_day: int = Field(default=10_000_000, ge=1)

    @field_validator("ai_service_names", "escalation_gates", "batch_workflows", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("governance_period")
    @classmethod
    def _governance_period(cls, value: str) -> str:
        if value.strip().lower() not in ("month", "week"):
            raise ValueError(f"AISPEND_GOVERNANCE_PERIOD must be month or week, got {value!r}")
        return value.strip().lower()

    @field_validator("governance_spend_source")
    @classmethod
    def _governance_spend_source(cls, value: str) -> str:
        if value.strip().lower() not in ("calls", "bills"):
            raise ValueError(f"AISPEND_GOVERNANCE_SPEND_SOURCE must be calls or bills, got {value!r}")
        return value.strip().lower()

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        code = value.strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise ValueError(f"AISPEND_CURRENCY must be an ISO 4217 code such as USD, got {value!r}")
        return code

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"AISPEND_TIMEZONE is not an IANA time zone name: {value!r}") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_settings(**overrides: object) -> Settings:
    """The entry point's single read of the environment."""
    return Settings(**overrides)  # type: ignore[arg-type]
