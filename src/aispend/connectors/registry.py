"""Which sources exist: a plain name -> factory map. A factory builds a connector from Settings.

Registration is explicit on purpose (no entry points): one line per source below. Each factory
imports its connector when it runs: the provider SDKs (boto3, the Azure and Google clients, openai)
take seconds to import, and a command that syncs nothing must not pay for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from aispend.connectors.base import Connector
from aispend.core.rules.attribution import load_rules
from aispend.core.settings import Settings
from aispend.core.timeutil import Clock, system_clock

Sleep = Callable[[float], None]
# (settings, clock, sleep) -> connector. A connector that waits on its own (the cloud connectors retry
# a throttled request in place, so that earlier billed pages are not re-sent) must wait through
# `sleep`: the engine's, so that tests never really wait and every wait is visible to them.
ConnectorFactory = Callable[[Settings, Clock, Sleep], Connector]


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return getter() if getter else None


def openai_from_settings(settings: Settings, clock: Clock = system_clock, sleep: Sleep = time.sleep) -> Connector:
    from aispend.connectors.openai_admin import OpenAIAdminConnector

    return OpenAIAdminConnector(
        admin_key=_secret(settings.openai_admin_key),
        base_url=settings.openai_base_url,
        rules=load_rules(settings.attribution_file),
        timeout=settings.sync_http_timeout_seconds,
        clock=clock,
    )


def anthropic_from_settings(settings: Settings, clock: Clock = system_clock, sleep: Sleep = time.sleep) -> Connector:
    from aispend.connectors.anthropic_admin import AnthropicAdminConnector

    return AnthropicAdminConnector(
        admin_key=_secret(settings.anthropic_admin_key),
        base_url=settings.anthropic_base_url,
        rules=load_rules(settings.attribution_file),
        timeout=settings.sync_http_timeout_seconds,
        clock=clock,
    )


def aws_from_settings(settings: Settings, clock: Clock = system_clock, sleep: Sleep = time.sleep) -> Connector:
    from aispend.connectors.aws import AwsCostExplorerConnector

    return AwsCostExplorerConnector.from_settings(settings, sleep=sleep)


def azure_from_settings(settings: Settings, clock: Clock = system_clock, sleep: Sleep = time.sleep) -> Connector:
    from aispend.connectors.azure import AzureCostConnector

    return AzureCostConnector.from_settings(settings, sleep=sleep)


def gcp_from_settings(settings: Settings, clock: Clock = system_clock, sleep: Sleep = time.sleep) -> Connector:
    from aispend.connectors.gcp import GcpBillingExportConnector

    return GcpBillingExportConnector.from_settings(settings, sleep=sleep)


# Order is the order `aispend sync` runs them and `aispend status` lists them.
CONNECTORS: dict[str, ConnectorFactory] = {
    # --- cloud bills ----------------------------------------------------------------------------------
    # `aispend connectors check` calls a connector's optional `check()` (raising ConnectorError when
    # the credentials fail) instead of a one-day fetch, e.g. to avoid a billed Cost Explorer request.
    # A connector may also set `max_window_days` (default 31) to be asked for longer windows.
    "aws": aws_from_settings,
    "azure": azure_from_settings,
    "gcp": gcp_from_settings,
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
    sleep: Sleep = time.sleep,
    factories: Mapping[str, ConnectorFactory] | None = None,
) -> dict[str, Connector]:
    """The connectors for `names` (all registered ones when None), in registry order.

    Pass the sync engine's `sleep` so that connector and engine wait through the same function.
    """
    table = CONNECTORS if factories is None else factories
    wanted = names if names else list(table)
    unknown = [name for name in wanted if name not in table]
    if unknown:
        raise UnknownSourceError(
            f"unknown source(s) {', '.join(unknown)}; known sources: {', '.join(table) or '(none)'}"
        )
    return {name: table[name](settings, clock, sleep) for name in wanted}
