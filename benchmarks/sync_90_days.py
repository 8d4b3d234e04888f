"""Benchmark: a 90-day first sync, an incremental sync and a full unchanged re-pull, against the local fakes.

    python benchmarks/sync_90_days.py [--database-url URL]

Target (issue 3): a 90-day sync of every source against the local servers in under 60 s. The
cloud sources (AWS via moto, Azure, GCP fakes) are added to SOURCES at merge; each entry starts a
fake filled with 90 days of data and returns the connector pointed at it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests package holds the fakes

from tests.fakes.anthropic_admin import FakeAnthropicAdmin
from tests.fakes.openai_admin import FakeOpenAIAdmin

from aispend.connectors.anthropic_admin import AnthropicAdminConnector
from aispend.connectors.base import Connector
from aispend.connectors.openai_admin import OpenAIAdminConnector
from aispend.jobs.sync import SyncEngine, SyncPolicy
from aispend.ledger.db import make_engine, upgrade

DAYS = 90
TODAY = datetime.now(UTC).date()


def openai_source(stack: ExitStack) -> Connector:
    fake = FakeOpenAIAdmin()
    for n in range(DAYS):
        day = TODAY - timedelta(days=n)
        for p in range(5):
            for item in (
                "gpt-4o-2024-08-06, input",
                "gpt-4o-2024-08-06, output",
                "gpt-4o-mini, input",
                "gpt-4o-mini, output",
                "o3, input",
                "o3, output",
            ):
                fake.set_cost(day, f"proj_{p}", item, str(Decimal(n * 7 + p + 1) / 100))
            for key in range(3):
                for model in ("gpt-4o-2024-08-06", "gpt-4o-mini", "o3", "text-embedding-3-small"):
                    fake.set_usage(
                        day,
                        f"proj_{p}",
                        f"key_{p}_{key}",
                        model,
                        input_tokens=1000 + n,
                        cached_tokens=100,
                        output_tokens=50 + key,
                    )
    url = stack.enter_context(fake.running())
    return OpenAIAdminConnector(admin_key=fake.admin_key, base_url=url)


def anthropic_source(stack: ExitStack) -> Connector:
    fake = FakeAnthropicAdmin()
    for n in range(DAYS):
        day = TODAY - timedelta(days=n)
        for w in range(4):
            for model in ("claude-sonnet-5", "claude-haiku-5", "claude-opus-5"):
                for token_type in (
                    "uncached_input_tokens",
                    "output_tokens",
                    "cache_read_input_tokens",
                    "cache_creation.ephemeral_5m_input_tokens",
                ):
                    fake.set_cost(day, f"wrk_{w}", model, token_type, f"{n * 3 + w}.25")
                for key in range(3):
                    fake.set_usage(
                        day,
                        f"wrk_{w}",
                        f"apikey_{w}_{key}",
                        model,
                        uncached_input=900 + n,
                        output=80,
                        cache_read=2000,
                        cache_write_5m=100,
                    )
    url = stack.enter_context(fake.running())
    return AnthropicAdminConnector(admin_key=fake.admin_key, base_url=url)


# The lead adds the cloud sources here at merge (aws via moto, azure, gcp).
SOURCES: dict[str, Callable[[ExitStack], Connector]] = {
    "openai": openai_source,
    "anthropic": anthropic_source,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="default: a new SQLite file in a temporary directory")
    args = parser.parse_args()
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        engine = make_engine(url)
        upgrade(engine)
        connectors = {name: build(stack) for name, build in SOURCES.items()}
        sync = SyncEngine(engine=engine, policy=SyncPolicy(backfill_days=DAYS, lookback_days=3))
        for label, since in (
            ("first sync, 90 days", None),
            ("incremental sync (3-day look-back)", None),
            ("full re-pull, upstream unchanged", TODAY - timedelta(days=DAYS - 1)),
        ):
            started = time.perf_counter()
            reports = sync.sync(connectors, since=since)
            elapsed = time.perf_counter() - started
            print(f"{label}: {elapsed:.2f} s")
            for r in reports:
                print(
                    f"  {r.source:10} {r.status:6} requests={r.requests:3} lines +{r.lines.inserted} "
                    f"~{r.lines.updated} -{r.lines.removed} ={r.lines.unchanged}  usage +{r.usage.inserted} "
                    f"={r.usage.unchanged}"
                )
        engine.dispose()


if __name__ == "__main__":
    main()
