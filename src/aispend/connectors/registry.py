"""Which sources exist: a plain name -> connector class map, every one built the same way.

Registration is explicit on purpose (no entry points): one line per source below. Every source is a
`Connector` class built the same way, `Cls.from_settings(settings, clock=..., sleep=...)`. A class
is imported only when its source is built: the provider SDKs (boto3, the Azure and Google clients,
openai) take seconds to import, and a command that syncs nothing must not pay for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from aispend.connectors.base import Connector, Sleep
from aispend.core.errors import AispendError
from aispend.core.settings import Settings
from aispend.core.timeutil import Clock, system_clock

# (settings, clock, sleep) -> connector: what the registry calls for each source (tests may pass others).
ConnectorFactory = Callable[[Settings, Clock, Sleep], Connector]


def _aws() -> type[Connector]:
    from aispend.connectors.aws import AwsCostExplorerConnector

    return AwsCostExplorerConnector


def _azure() -> type[Connector]:
    from aispend.connectors.azure import AzureCostConnector

    return AzureCostConnector


def _gcp() -> type[Connector]:
    from aispend.connectors.gcp import GcpBillingExportConnector

    return GcpBillingExportConnector


def _openai() -> type[Connector]:
    from aispend.connectors.openai_admin import OpenAIAdminConnector

    return OpenAIAdminConnector


def _anthropic() -> type[Connector]:
    from aispend.connectors.anthropic_admin import AnthropicAdminConnector

    return AnthropicAdminConnector


def _litellm() -> type[Connector]:
    from aispend.connectors.litellm import LiteLLMSpendLogsConnector

    return LiteLLMSpendLogsConnector


def _langfuse() -> type[Connector]:
    from aispend.connectors.langfuse import LangfuseConnector

    return LangfuseConnector


def from_settings(load: Callable[[], type[Connector]]) -> ConnectorFactory:
    """The factory of a connector class (imported when first built): its `from_settings`."""

    def build(settings: Settings, clock: Clock, sleep: Sleep) -> Connector:
        return load().from_settings(settings, clock=clock, sleep=sleep)

    return build


# Order is the order `aispend sync` runs them and `aispend status` lists them. What a connector may
# declare beyond fetching (`check(today)`, `max_window_days`) is in connectors/base.py.
CONNECTORS: dict[str, ConnectorFactory] = {
    # --- cloud bills ----------------------------------------------------------------------------------
    "aws": from_settings(_aws),
    "azure": from_settings(_azure),
    "gcp": from_settings(_gcp),
    # --- provider admin APIs ------------------------------------------------------------------------
    "openai": from_settings(_openai),
    "anthropic": from_settings(_anthropic),
    # --- per-call records from the tools companies already run ---------------------------------------
    "litellm": from_settings(_litellm),
    "langfuse": from_settings(_langfuse),
}


class UnknownSourceError(AispendError, ValueError):
    code = "unknown_source"


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
