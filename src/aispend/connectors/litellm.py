"""LiteLLM proxy spend logs: one call per row of `LiteLLM_SpendLogs` in the proxy's own PostgreSQL.

The table is the one LiteLLM's `schema.prisma` declares (quoted, case-sensitive names:
"request_id" primary key, "startTime", "spend" in USD as a double, "prompt_tokens", ...). Read with
a read-only transaction and a statement timeout, one UTC day per fetch (the engine's window), rows
ordered by ("startTime", "request_id") as LiteLLM's own index has them. Only the columns this
connector maps are read: never "messages", "response" or "proxy_server_request" (prompts). Columns
that an older LiteLLM lacks are left out of the query (the table is inspected first).

Mapping: request_id -> the call id, spend -> the cost as given (USD), model (else model_group),
prompt/completion tokens, cache tokens from metadata.usage_object when LiteLLM kept them,
custom_llm_provider -> the provider, session_id -> the run id, user / end_user -> the user,
request_duration_ms (else endTime - startTime) -> the latency. Attribution: the rules file matches
`key_alias` (metadata.user_api_key_alias), `team_id`, `team_alias`, `end_user`, `user`, `api_key`
(LiteLLM's hash of the key), `model_group`, `call_type`, `organization_id`, and tags from
request_tags ("team:support" style or plain) and metadata.spend_logs_metadata; a team the rules do
not set is the key's team alias (else team id), a customer is the end user (LiteLLM's "customer").
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Self

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from aispend.connectors.base import Connector, FatalError, FetchResult, RetryableError, Sleep, Window
from aispend.connectors.callsource import CallBuilder, flat_tags, label, milliseconds, tag_list
from aispend.connectors.files.call_schema import CallLimits, RowError
from aispend.core.ledger.calls import StoredCall
from aispend.core.pricing import PriceBook, price_book
from aispend.core.rules.attribution import AttributionRules, load_rules
from aispend.core.settings import Settings
from aispend.core.timeutil import Clock, start_of_day, system_clock

SOURCE = "litellm"
TABLE = "LiteLLM_SpendLogs"
AUTH_FIX = (
    "set AISPEND_LITELLM_DATABASE_URL to the LiteLLM proxy's PostgreSQL URL "
    '(postgresql://USER:PASSWORD@HOST:5432/DB, a user with SELECT on "LiteLLM_SpendLogs")'
)
# Columns read, beyond the ones every LiteLLM version has; "metadata" holds the key alias and team alias.
REQUIRED = ("request_id", "startTime", "spend", "model", "prompt_tokens", "completion_tokens")
OPTIONAL = (
    "endTime",
    "request_duration_ms",
    "call_type",
    "api_key",
    "model_group",
    "custom_llm_provider",
    "user",
    "end_user",
    "team_id",
    "organization_id",
    "session_id",
    "status",
    "request_tags",
    "metadata",
)
# LiteLLM's provider names -> who bills the call, as the ledger names providers.
PROVIDERS = {
    "bedrock": "aws",
    "bedrock_converse": "aws",
    "sagemaker": "aws",
    "vertex_ai": "google",
    "vertex_ai_beta": "google",
    "gemini": "google",
    "azure_ai": "azure",
    "azure_text": "azure",
    "text-completion-openai": "openai",
}
# Errors whose SQLSTATE says retrying cannot help (auth, missing database/table/column, no privilege).
_FATAL_STATES = {"28P01", "28000", "3D000", "42P01", "42703", "42501", "3F000"}


@dataclass
class LiteLLMSpendLogsConnector(Connector):
    database_url: str | None = field(default=None, repr=False)  # holds a password: never shown
    rules: AttributionRules = field(default_factory=AttributionRules)
    prices: PriceBook = field(default_factory=PriceBook)
    limits: CallLimits = field(default_factory=CallLimits)
    timeout: float = 60.0
    clock: Clock = system_clock
    name: str = SOURCE
    # One UTC day per query: a busy proxy logs hundreds of thousands of calls a day.
    max_window_days: int | None = 1

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = system_clock, sleep: Sleep = time.sleep) -> Self:
        url = settings.litellm_database_url
        return cls(
            database_url=url.get_secret_value() if url is not None else None,
            rules=load_rules(settings.attribution_file),
            prices=price_book(settings),
            limits=CallLimits(settings.max_call_cost),
            timeout=settings.sync_http_timeout_seconds,
            clock=clock,
        )

    def is_configured(self) -> bool:
        return bool(self.database_url)

    def fetch(self, window: Window) -> FetchResult:
        if not self.database_url:
            raise FatalError(self.name, "not configured", AUTH_FIX)
        engine, schema = self._engine(self.database_url)
        table = f'"{schema}"."{TABLE}"' if schema else f'"{TABLE}"'
        start, end = start_of_day(window.start), start_of_day(window.end)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(self.timeout * 1000)}")
                columns = self._columns(conn, schema)
                select_list = ", ".join(f'"{c}"' for c in (*REQUIRED, *(c for c in OPTIONAL if c in columns)))
                rows = (
                    conn.execute(
                        text(
                            f'SELECT {select_list} FROM {table} WHERE "startTime" >= :start AND "startTime" < :end '
                            'ORDER BY "startTime", "request_id"'
                        ),
                        # "startTime" is a timestamp without time zone holding UTC (Prisma's DateTime).
                        {"start": start.replace(tzinfo=None), "end": end.replace(tzinfo=None)},
                    )
                    .mappings()
                    .all()
                )
        except SQLAlchemyError as exc:
            raise self._db_error(exc) from None
        finally:
            engine.dispose()
        builder = CallBuilder(self.name, self.rules, self.prices, self.limits)
        calls: list[StoredCall] = []
        rejected: list[str] = []
        for row in rows:
            try:
                calls.append(self._call(builder, row))
            except RowError as exc:
                rejected.append(f"{TABLE} request_id {row['request_id']!r}: {exc}")
        return FetchResult(lines=(), requests=1, calls=calls, rejected=rejected)

    # --- reading ------------------------------------------------------------------------------------

    def _engine(self, url_text: str) -> tuple[Engine, str | None]:
        """An engine on the proxy's database, and the schema named by a Prisma-style `?schema=`."""
        try:
            url = make_url(url_text)
        except ArgumentError:
            raise FatalError(self.name, "AISPEND_LITELLM_DATABASE_URL is not a database URL", AUTH_FIX) from None
        if not url.drivername.startswith("postgresql"):
            raise FatalError(
                self.name, f"AISPEND_LITELLM_DATABASE_URL must be a PostgreSQL URL, not {url.drivername}", AUTH_FIX
            )
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        schema = url.query.get("schema")
        if schema is not None:
            url = url.difference_update_query(["schema"])
        connect_args = {"connect_timeout": max(1, int(self.timeout))}
        engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
        return engine, schema if isinstance(schema, str) and schema else None

    def _columns(self, conn: Any, schema: str | None) -> set[str]:
        found = conn.execute(
            text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = :table "
                "AND table_schema = COALESCE(:schema, current_schema())"
            ),
            {"table": TABLE, "schema": schema},
        ).scalars()
        columns = set(found)
        if not columns:
            where = f"schema {schema!r}" if schema else "the URL's default schema"
            raise FatalError(
                self.name,
                f'table "{TABLE}" not found in {where} (or this user may not read it)',
                "point AISPEND_LITELLM_DATABASE_URL at the proxy's database (add ?schema=NAME when LiteLLM "
                'uses another schema) and GRANT SELECT ON "LiteLLM_SpendLogs" to its user',
            )
        missing = [c for c in REQUIRED if c not in columns]
        if missing:
            raise FatalError(
                self.name,
                f'"{TABLE}" lacks the column(s) {missing}: not a LiteLLM spend-logs table this connector knows',
                "upgrade the LiteLLM proxy, or report its version to the aispend maintainers",
            )
        return columns

    def _db_error(self, exc: SQLAlchemyError) -> FatalError | RetryableError:
        orig = exc.orig if isinstance(exc, DBAPIError) else None
        state = getattr(orig, "sqlstate", None)
        detail = str(orig if orig is not None else exc).strip().splitlines()[0][:300]
        if state in _FATAL_STATES:
            return FatalError(self.name, f"the LiteLLM database refused: {detail} (SQLSTATE {state})", AUTH_FIX)
        return RetryableError(self.name, f"cannot read the LiteLLM database: {detail}")

    # --- mapping ------------------------------------------------------------------------------------

    def _call(self, builder: CallBuilder, row: Any) -> StoredCall:
        metadata = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
        started = _utc(row["startTime"])
        ended = _utc(row.get("endTime"))
        provider = label(row.get("custom_llm_provider")).lower()
        model = label(row["model"]) or label(row.get("model_group"))
        prompt = row["prompt_tokens"]
        cache_read, cache_write = _cache_tokens(metadata.get("usage_object"), prompt)
        spend = row["spend"]
        latency = row.get("request_duration_ms")
        values: dict[str, Any] = {
            "timestamp": started.isoformat() if started else None,
            "provider": PROVIDERS.get(provider, provider),
            "model": model,
            "input_tokens": prompt,
            "output_tokens": row["completion_tokens"],
            "cache_read_tokens": cache_read,
            "cache_write_tokens": cache_write,
            # A double in the table: its shortest repr is the amount LiteLLM computed, without float noise.
            "cost": None if spend is None else Decimal(repr(float(spend))),
            "currency": "USD",
            "user": label(row.get("user")) or label(row.get("end_user")),
            "run_id": label(row.get("session_id")),
            "latency_ms": latency if isinstance(latency, int) else milliseconds(started, ended),
        }
        key_alias = label(metadata.get("user_api_key_alias"))
        team_alias = label(metadata.get("user_api_key_team_alias"))
        team_id = label(row.get("team_id")) or label(metadata.get("user_api_key_team_id"))
        end_user = label(row.get("end_user"))
        fields = {
            "provider": values["provider"],
            "model": model,
            "model_group": label(row.get("model_group")),
            "call_type": label(row.get("call_type")),
            "api_key": label(row.get("api_key")),
            "key_alias": key_alias,
            "team_id": team_id,
            "team_alias": team_alias,
            "end_user": end_user,
            "user": label(row.get("user")),
            "organization_id": label(row.get("organization_id")),
            "status": label(row.get("status")),
        }
        tags = {**flat_tags(metadata.get("spend_logs_metadata")), **tag_list(row.get("request_tags"))}
        defaults = {"team": team_alias or team_id, "customer": end_user}
        return builder.call(label(row["request_id"]), values, fields=fields, tags=tags, defaults=defaults)


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _cache_tokens(usage: Any, prompt: Any) -> tuple[int, int]:
    """Cache read and write tokens from LiteLLM's stored usage object, when it kept one; 0 otherwise,
    and 0 when they would not fit in the prompt tokens (the row's own counts win)."""
    if not isinstance(usage, dict) or not isinstance(prompt, int):
        return 0, 0
    details = usage.get("prompt_tokens_details")
    read = usage.get("cache_read_input_tokens")
    if not isinstance(read, int) and isinstance(details, dict):
        read = details.get("cached_tokens")
    write = usage.get("cache_creation_input_tokens")
    read = read if isinstance(read, int) and read > 0 else 0
    write = write if isinstance(write, int) and write > 0 else 0
    if read + write > prompt:
        return 0, 0
    return read, write
