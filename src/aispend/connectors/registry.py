"""Which sources exist: a plain name -> factory map. A factory builds a connector from Settings.

Registration is explicit on purpose (no entry points): one line per source below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aispend.connectors.anthropic_admin import AnthropicAdminConnector
from aispend.connectors.base import Connector
from aispend.connectors.openai_admin import OpenAIAdminConnector
from aispend.core.settings import Settings
from aispend.core.timeutil import Clock, system_clock
from aispend.rules.attribution import load_rules

ConnectorFactory = Callable[[Settings, Clock], Connector]


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return getter() if getter else None


def openai_from_settings(settings: Settings, clock: Clock = system_clock) -> Connector:
    return OpenAIAdminConnector(
        admin_key=_secret(settings.openai_admin_key),
        base_url=settings.openai_base_url,
        rules=load_rules(settings.attribution_file),
        timeout=settings.sync_http_timeout_seconds,
        clock=clock,
    )


def anthropic_from_settings(settings: Settings, clock: Clock = system_clock) -> Connector:
    return AnthropicAdminConnector(
        admin_key=_secret(settings.anthropic_admin_key),
        base_url=settings.anthropic_base_url,
        rules=load_rules(settings.attribution_file),
        timeout=settings.sync_http_timeout_seconds,
        clock=clock,
    )


# Order is the order `aispend sync` runs them and `aispend status` lists them.
CONNECTORS: dict[str, ConnectorFactory] = {
    # --- cloud bills: branch cloud-connectors (connectors/aws.py, azure.py, gcp.py) -------------------
    # The lead wires them here at merge, e.g.:
    #   "aws": aws.from_settings,
    #   "azure": azure.from_settings,
    #   "gcp": gcp.from_settings,
    # A factory is `(settings, clock) -> Connector`; wrap a `(settings) -> Connector` one in a lambda.
    # `aispend connectors check` calls a connector's optional `check() -> datetime | None` (raising
    # ConnectorError when the credentials fail) instead of a one-day fetch, e.g. to avoid a billed
    # Cost Explorer request. A connector may also set `max_window_days` (default 31) to be asked
    # for longer windows in one fetch.
    # --- provider admin APIs ------------------------------------------------------------------------
    "openai": openai_from_settings,
    "anthropic": anthropic_from_settings,
}


class UnknownSourceError(ValueError):
    pass


def build_connectors(
    settings: Settings,
    names: list[str] | None = None,
    *,
    clock: Clock = system_clock,
    factories: Mapping[str, ConnectorFactory] | None = None,
) -> dict[str, Connector]:
    """The connectors for `names` (all registered ones when None), in registry order."""
    table = CONNECTORS if factories is None else factories
    wanted = names if names else list(table)
    unknown = [name for name in wanted if name not in table]
    if unknown:
        raise UnknownSourceError(
            f"unknown source(s) {', '.join(unknown)}; known sources: {', '.join(table) or '(none)'}"
        )
    return {name: table[name](settings, clock) for name in wanted}
