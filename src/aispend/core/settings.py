"""Settings from the environment and `.env` (prefix AISPEND_). Built once at the entry point.

Every setting is listed, with a one-line comment, in `.env.example`; a test keeps the two in step.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from aispend.core.ai_services import DEFAULT_AI_SERVICE_PATTERNS, compile_patterns
from aispend.core.redact import remember, secrets_of

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


log = logging.getLogger(__name__)

STALE_HOURS = 48.0  # default of AISPEND_SYNC_STALE_HOURS
DRIFT_PCT = Decimal(5)  # default of AISPEND_RECONCILIATION_DRIFT_PCT

RENAMED: dict[str, str] = {}  # old environment name -> the name that replaced it (one setting per concept)


def _renamed(field: str, new: str, old: str) -> AliasChoices:
    """The setting `field` is read as `new`, and still as `old` (with a deprecation line, see _RenamedSource)."""
    RENAMED[old] = new
    return AliasChoices(new, old, field)


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


class _RenamedSource(PydanticBaseSettingsSource):
    """Old names of merged settings, from the environment and `.env`: one warning per old name used.

    The new name wins when both are set; an old name is read only when the new one is unset or blank (as
    `.env.example` ships it), and a blank old name is ignored silently."""

    def __init__(self, settings_cls: type[BaseSettings], *sources: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self.sources = [s for s in sources if isinstance(s, EnvSettingsSource)]  # `.env` first: env overrides it

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the names itself

    def __call__(self) -> dict[str, Any]:
        raw: dict[str, str | None] = {}
        for source in self.sources:
            raw.update({key.lower(): value for key, value in source.env_vars.items()})
        found = {}
        for old, new in RENAMED.items():
            old_value, new_value = raw.get(old.lower()), raw.get(new.lower())
            if _blank(old_value):
                continue
            if _blank(new_value):
                log.warning("setting %s is deprecated: it is read as %s; rename it", old, new)
                found[new] = old_value
            else:
                log.warning("setting %s is deprecated and ignored: %s is set too and wins; remove %s", old, new, old)
        return found


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AISPEND_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        renamed = _RenamedSource(settings_cls, dotenv_settings, env_settings)
        return init_settings, renamed, env_settings, dotenv_settings, file_secret_settings

    # --- core -----------------------------------------------------------------------------
    database_url: str = "sqlite:///./aispend.db"
    currency: str = "USD"
    # Dated exchange rates (CSV currency,effective_from,rate) every package converts amounts with;
    # AISPEND_SHADOW_RATES_FILE is the older name, still read.
    rates_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("AISPEND_RATES_FILE", "AISPEND_SHADOW_RATES_FILE", "rates_file")
    )
    # Which bill figure is spend: billed (BilledCost, what is invoiced that day) or amortized
    # (EffectiveCost: commitment purchases spread over the usage they cover).
    cost_basis: Literal["billed", "amortized"] = "billed"
    timezone: str = "UTC"
    call_retention_days: int = Field(default=35, ge=1)
    ai_service_names: CommaList = Field(default_factory=lambda: list(DEFAULT_AI_SERVICE_NAMES))
    ai_service_patterns: CommaList = Field(default_factory=lambda: list(DEFAULT_AI_SERVICE_PATTERNS))
    attribution_file: Path | None = None
    prices_file: Path | None = None
    ingest_workers: int | None = Field(default=None, ge=0)
    # Streaming input (`ingest calls -`, `--follow`): a commit every N rows or T seconds, whichever first.
    ingest_commit_rows: int = Field(default=1000, ge=1)
    ingest_commit_seconds: float = Field(default=2.0, gt=0)
    ingest_follow_poll_seconds: float = Field(default=0.5, gt=0)  # how often --follow looks for more lines
    ingest_log_retention_days: int = Field(default=30, ge=1)  # the per-batch live ingest log (status, metrics)
    # A single call costing more than this (in the call's currency) is refused at import as implausible.
    max_call_cost: Decimal = Field(default=Decimal(1000), gt=0)
    sqlite_lock_wait_seconds: float = Field(default=30.0, ge=0)  # how long a write waits for another process's lock

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

    @field_validator("slack_bot_token", "slack_signing_secret", "slack_app_token", mode="before")
    @classmethod
    def _empty_token_is_unset(cls, value: object) -> object:
        # `SLACK_SIGNING_SECRET=` as .env.example ships it means "not set": never an empty secret that
        # would verify nothing.
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        return None if isinstance(value, str) and not value.strip() else value

    # --- sync engine and provider admin APIs ---------------------------------------------------
    sync_lookback_days: int = Field(default=3, ge=0)
    sync_backfill_days: int = Field(default=90, ge=1)
    sync_month_close_days: int = Field(default=5, ge=0, le=28)
    sync_time_limit_seconds: float = Field(default=900.0, gt=0)
    sync_max_attempts: int = Field(default=5, ge=1)
    sync_retry_base_seconds: float = Field(default=2.0, ge=0)
    sync_retry_max_seconds: float = Field(default=120.0, ge=0)
    sync_http_timeout_seconds: float = Field(default=60.0, gt=0)
    # A source whose last successful sync (`aispend status`, the digest) or freshest data (the governance
    # finding dq_stale_source) is older than this is stale. AISPEND_STALE_SOURCE_HOURS is the older name.
    sync_stale_hours: float = Field(
        default=STALE_HOURS,
        gt=0,
        validation_alias=_renamed("sync_stale_hours", "AISPEND_SYNC_STALE_HOURS", "AISPEND_STALE_SOURCE_HOURS"),
    )
    openai_admin_key: SecretStr | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    anthropic_admin_key: SecretStr | None = None
    anthropic_base_url: str = "https://api.anthropic.com"

    # --- cloud billing connectors (AWS Cost Explorer, Azure Cost Management, GCP billing export) ---
    # AWS: opt-in, because every Cost Explorer request is billed ($0.01). Credentials: boto3's chain.
    aws_enabled: bool = False
    aws_cost_metric: Literal["UnblendedCost", "AmortizedCost", "NetUnblendedCost", "NetAmortizedCost"] = "UnblendedCost"
    aws_tag_keys: CommaList = Field(default_factory=lambda: ["workflow", "team"])
    aws_service_search: CommaList = Field(default_factory=lambda: ["Bedrock"])
    aws_services: CommaList = Field(default_factory=lambda: ["Amazon SageMaker", "Amazon Q"])
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    # Azure: scope such as subscriptions/<id>; credentials: azure-identity's DefaultAzureCredential.
    azure_scope: str | None = None
    azure_cost_type: Literal["ActualCost", "AmortizedCost"] = "ActualCost"
    azure_cost_column: str = "PreTaxCost"
    azure_tag_keys: CommaList = Field(default_factory=lambda: ["workflow", "team"])
    azure_service_names: CommaList = Field(
        default_factory=lambda: [
            "Azure OpenAI",
            "Azure OpenAI Service",
            "Cognitive Services",
            "Azure AI Services",
            "Foundry Models",
            "Foundry Tools",
            "Azure Machine Learning",
            "Machine Learning",
        ]
    )
    azure_resource_types: CommaList = Field(
        default_factory=lambda: [
            "microsoft.cognitiveservices/accounts",
            "microsoft.machinelearningservices/workspaces",
        ]
    )
    azure_base_url: str | None = None
    # GCP: the Cloud Billing export to BigQuery; credentials: Application Default Credentials.
    gcp_billing_account: str | None = None
    gcp_billing_dataset: str | None = None
    gcp_export_table: Literal["standard", "detailed"] = "standard"
    gcp_billing_table: str | None = None
    gcp_project: str | None = None
    gcp_services: CommaList = Field(default_factory=lambda: ["Vertex AI", "Gemini API"])
    gcp_max_bytes_billed: int = Field(default=10 * 2**30, ge=1)
    gcp_bigquery_url: str | None = None
    gcp_billing_url: str | None = None

    # --- Slack bot -----------------------------------------------------------------------------
    http_host: str = "127.0.0.1"  # `aispend run` HTTP mode listens here, at /slack/events
    http_port: int = Field(default=3000, ge=0, le=65535)
    http_max_body_bytes: int = Field(default=1 << 20, ge=1)  # larger request bodies are refused (413)
    slack_api_url: str = "https://slack.com/api/"  # for tests and proxies
    slack_governance_channel: str = ""  # channel id of the weekly digest
    # Channel id of alerts and of the monthly review (with shadow AI's per-person lines);
    # AISPEND_SHADOW_FINANCE_CHANNEL is the older name.
    slack_finance_channel: str = Field(
        default="",
        validation_alias=_renamed(
            "slack_finance_channel", "AISPEND_SLACK_FINANCE_CHANNEL", "AISPEND_SHADOW_FINANCE_CHANNEL"
        ),
    )
    slack_leadership_channel: str = ""  # channel id of escalations
    # User ids (U...) or user group ids (S...) who may change thresholds and caps and see shadow AI's
    # finance-only findings; AISPEND_SHADOW_FINANCE_ADMINS is the older name.
    slack_finance_admins: CommaList = Field(
        default_factory=list,
        validation_alias=_renamed(
            "slack_finance_admins", "AISPEND_SLACK_FINANCE_ADMINS", "AISPEND_SHADOW_FINANCE_ADMINS"
        ),
    )
    slack_admins: CommaList = Field(default_factory=list)  # user ids (U...) or user group ids (S...)
    slack_max_retries: int = Field(default=5, ge=0, le=20)  # 429 / connection retries per Slack call

    @field_validator("slack_finance_admins", "slack_admins", mode="before")
    @classmethod
    def _split_slack_ids(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator(
        "aws_tag_keys",
        "aws_service_search",
        "aws_services",
        "azure_tag_keys",
        "azure_service_names",
        "azure_resource_types",
        "gcp_services",
        mode="before",
    )
    @classmethod
    def _split_cloud_lists(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("aws_tag_keys")
    @classmethod
    def _at_most_two_aws_tags(cls, value: list[str]) -> list[str]:
        if len(value) > 2:
            raise ValueError(
                f"AISPEND_AWS_TAG_KEYS takes at most 2 tag keys (Cost Explorer groups by at most 2), got {value}"
            )
        return value

    @field_validator("attribution_file", "prices_file", "rates_file", "ingest_workers", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `AISPEND_PRICES_FILE=` as written in .env.example means "not set", not the current folder.
        return None if isinstance(value, str) and not value.strip() else value

    # --- shadow AI (expense and card exports) ------------------------------------------------------
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

    # --- governance -----------------------------------------------------------------------
    governance_period: str = "month"  # default budget period for thresholds and share of spend: month | week
    share_red_pct: Decimal = Field(default=Decimal(20), gt=0, le=100)
    share_yellow_pct: Decimal = Field(default=Decimal(15), gt=0, le=100)
    share_min_spend: Decimal = Field(default=Decimal(100), ge=0)
    share_window_days: int = Field(default=0, ge=0)  # 0: period so far; N: trailing N days
    change_flag_pct: Decimal = Field(default=Decimal(20), gt=0)
    change_min_spend: Decimal = Field(default=Decimal(50), ge=0)
    change_min_days: int = Field(default=3, ge=1)  # complete days compared before a change can alert
    change_fold_pct: Decimal = Field(
        default=Decimal(75), ge=0, le=100
    )  # one workflow's share that folds a broader alert
    escalate_after_hours: float = Field(default=4, ge=0)  # 0 turns escalation off
    resend_interval_hours: float = Field(default=0, ge=0)  # 0 = off: one notification per level
    unattributed_max_pct: Decimal = Field(default=Decimal(10), ge=0, le=100)
    # Bill vs per-call logs drift (%) beyond which the governance finding dq_reconciliation and the
    # digest's drift note report it.
    reconciliation_drift_pct: Decimal = Field(default=DRIFT_PCT, ge=0)
    escalation_gates: CommaList = Field(default_factory=list)  # workflow/step=cheap-model, ...
    review_small_model: str = "openai:gpt-4o-mini"  # provider:model the model review re-prices on
    review_frontier_model: str = "anthropic:claude-sonnet-4-5"  # the frontier model `estimate` compares with
    batch_workflows: CommaList = Field(default_factory=list)  # latency-insensitive workflows
    batch_discount_pct: Decimal = Field(default=Decimal(50), ge=0, le=100)
    self_host_tokens_per_day: int = Field(default=10_000_000, ge=1)

    # --- operations -------------------------------------------------------------------------
    # Schedules: cron strings (5 fields, or 6 with seconds first) or @first-business-day[-of-quarter] HH:MM,
    # in the company time zone. "{minute}" in the sync cron is replaced by each source's staggered minute.
    jobs_sync_cron: str = "{minute} * * * *"
    jobs_sync_stagger_minutes: int = Field(default=7, ge=0, le=59)
    jobs_sync_crons: str = ""  # per-source overrides: "openai=15 */2 * * *;aws=0 6 * * *"
    jobs_evaluate_cron: str = "*/15 * * * *"
    jobs_digest_cron: str = "0 9 * * mon"
    jobs_monthly_review_cron: str = "@first-business-day 09:00"
    jobs_quarterly_review_cron: str = "@first-business-day-of-quarter 10:00"
    jobs_retention_cron: str = "30 3 * * *"
    jobs_rollups_cron: str = "45 3 * * *"
    jobs_disabled: CommaList = Field(default_factory=list)
    jobs_tick_seconds: float = Field(default=10.0, gt=0)
    jobs_lock_poll_seconds: float = Field(default=5.0, gt=0)
    # Evaluation when data lands: the first landing opens a window of this many seconds, landings in it
    # coalesce (each pushes the run back by the window, never past the max delay after the first).
    jobs_landed_debounce_seconds: float = Field(default=5.0, ge=0)
    jobs_landed_max_delay_seconds: float = Field(default=30.0, ge=0)
    # How often the leader looks for calls another process landed (the ledger's newest call id).
    jobs_landed_poll_seconds: float = Field(default=5.0, gt=0)
    jobs_claim_timeout_minutes: int = Field(default=120, ge=1)
    jobs_failure_alert_after: int = Field(default=3, ge=1)
    jobs_shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    jobs_admin_channel: str = ""  # Slack channel id for job failure alerts (default: the leadership channel)
    ops_host: str = "127.0.0.1"
    ops_port: int | None = Field(default=9464, ge=0, le=65535)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("jobs_disabled", mode="before")
    @classmethod
    def _split_jobs(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("ops_port", mode="before")
    @classmethod
    def _jobs_blank_port(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "jobs_evaluate_cron",
        "jobs_digest_cron",
        "jobs_monthly_review_cron",
        "jobs_quarterly_review_cron",
        "jobs_retention_cron",
        "jobs_rollups_cron",
    )
    @classmethod
    def _jobs_schedule(cls, value: str) -> str:
        # Local: the schedule module loads APScheduler, which only a set schedule needs (startup time).
        from aispend.core.schedule import parse_schedule

        parse_schedule(value, ZoneInfo("UTC"))
        return value

    @field_validator("jobs_sync_cron")
    @classmethod
    def _jobs_sync_schedule(cls, value: str) -> str:
        from aispend.core.schedule import parse_schedule

        parse_schedule(value.replace("{minute}", "0"), ZoneInfo("UTC"))
        return value

    @field_validator("jobs_sync_crons")
    @classmethod
    def _jobs_sync_overrides(cls, value: str) -> str:
        from aispend.core.schedule import parse_schedule, parse_sync_overrides

        for cron in parse_sync_overrides(value).values():
            parse_schedule(cron, ZoneInfo("UTC"))
        return value

    @field_validator("ai_service_names", "ai_service_patterns", "escalation_gates", "batch_workflows", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("ai_service_patterns")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        compile_patterns(value)
        return value

    @field_validator("governance_period")
    @classmethod
    def _governance_period(cls, value: str) -> str:
        if value.strip().lower() not in ("month", "week"):
            raise ValueError(f"AISPEND_GOVERNANCE_PERIOD must be month or week, got {value!r}")
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

    def model_post_init(self, context: object, /) -> None:
        # Whatever reads these settings, its error texts and logs must not repeat their secrets.
        remember(secrets_of(self))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_settings(**overrides: object) -> Settings:
    """The entry point's single read of the environment."""
    return Settings(**overrides)  # type: ignore[arg-type]
