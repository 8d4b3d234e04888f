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

    # --- shadow AI (expense and card exports) ------------------------------------------------------
    shadow_rates_file: Path | None = None
    shadow_vendors_file: Path | None = None
    shadow_employee_directory: Path | None = None
    shadow_new_vendor_lookback_days: int = Field(default=180, ge=1)
    shadow_consolidation_min_people: int = Field(default=3, ge=2)
    shadow_consolidation_saving_percent: Decimal = Field(default=Decimal(20), ge=0, le=100)
    shadow_overlap_min_tools: int = Field(default=2, ge=2)
    shadow_spike_ratio: Decimal = Field(default=Decimal(2), gt=1)
    shadow_spike_min_increase: Decimal = Field(default=Decimal(100), ge=0)
    shadow_spike_baseline_months: int = Field(default=3, ge=1)
    shadow_duplicate_window_days: int = Field(default=3, ge=0)
    shadow_refund_window_days: int = Field(default=120, ge=1)
    shadow_min_group_size: int = Field(default=5, ge=1)
    shadow_finance_admins: CommaList = Field(default_factory=list)
    shadow_finance_channel: str | None = None

    @field_validator("shadow_finance_admins", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("ai_service_names", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _split_commas(value)

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
