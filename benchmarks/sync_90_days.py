"""Benchmark: 90 days of all five sources through the sync engine, against the local servers.

    python benchmarks/sync_90_days.py [--database-url URL]

Target (issue 3): a 90-day sync of the five sources against the local servers in under 60 s, and
the number of billed Cost Explorer requests a daily sync makes.

The upstreams are those of the engine-level tests (tests/five_sources.py): moto's ThreadedMotoServer
behind a Cost Explorer front for AWS, the fake ARM endpoint for Azure, the fake BigQuery / Cloud
Billing endpoint for GCP, and the OpenAI and Anthropic admin fakes, all on 127.0.0.1. Connectors are
built from settings by the registry, exactly as `aispend sync` builds them, and authenticate through
the standard credential chains (dummy AWS keys with the instance metadata lookup disabled, an Azure
managed identity and a Google service account served by the fakes).

Volume per day: AWS 3 services x 20 tag combinations (CE pages of 30 days); Azure 40 resources,
2 tag keys; GCP 30 SKUs x 4 label sets; OpenAI 5 projects x 4 line items (+ usage); Anthropic
4 workspaces x 4 cost rows (+ usage).

Runs: the first sync (90-day backfill), an incremental (daily) sync with the 3-day look-back, and a
full re-pull of the 90 days with upstream unchanged (nothing may change).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests package holds the fakes

from tests.five_sources import BENCHMARK, five_sources, without_foreign_credentials

from aispend.connectors.registry import build_connectors
from aispend.core.ledger.db import make_engine, upgrade
from aispend.core.ledger.models import SyncState
from aispend.core.settings import load_settings
from aispend.jobs.sync import SourceReport, SyncEngine, SyncPolicy

DAYS = 90
TODAY = datetime.now(UTC).date()


def _print(label: str, elapsed: float, reports: list[tuple[SourceReport, float]]) -> None:
    print(f"{label}: {elapsed:.2f} s")
    for r, seconds in reports:
        print(
            f"  {r.source:10} {r.status:6} {seconds:6.2f} s requests={r.requests:3} lines +{r.lines.inserted} "
            f"~{r.lines.updated} -{r.lines.removed} ={r.lines.unchanged}  usage +{r.usage.inserted} "
            f"={r.usage.unchanged}{'  ' + r.error if r.error else ''}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="default: a new SQLite file in a temporary directory")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    started_all = time.perf_counter()
    with five_sources(TODAY, DAYS, BENCHMARK) as sources, tempfile.TemporaryDirectory() as tmp:
        without_foreign_credentials(lambda name: os.environ.pop(name, None))
        sources.apply_env(os.environ.__setitem__)  # boto3 must never try the instance metadata address
        servers_ready = time.perf_counter() - started_all
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        engine = make_engine(url)
        upgrade(engine)
        settings = load_settings(sync_backfill_days=DAYS)
        connectors = build_connectors(settings)
        sync = SyncEngine(engine=engine, policy=SyncPolicy.from_settings(settings))
        print(f"local servers started and filled in {servers_ready:.2f} s")
        total = 0.0
        for label, since in (
            ("first sync, 90 days, five sources", None),
            ("incremental (daily) sync, 3-day look-back", None),
            ("full re-pull of 90 days, upstream unchanged", TODAY - timedelta(days=DAYS - 1)),
        ):
            timed: list[tuple[SourceReport, float]] = []
            started = time.perf_counter()
            for name, connector in connectors.items():
                one = time.perf_counter()
                timed.append((sync.sync_one(name, connector, since=since), time.perf_counter() - one))
            elapsed = time.perf_counter() - started
            total += elapsed
            _print(label, elapsed, timed)
            if label.startswith("incremental"):
                with engine.connect() as conn:
                    state = (
                        conn.execute(
                            SyncState.__table__.select().where(SyncState.__table__.c.source == "aws")  # type: ignore[attr-defined]
                        )
                        .mappings()
                        .one()
                    )
                print(
                    f"  billed Cost Explorer requests of this daily sync (sync_state.requests_last_sync): "
                    f"{state['requests_last_sync']} (${state['requests_last_sync'] / 100:.2f})"
                )
        engine.dispose()
    print(f"three syncs {total:.2f} s; whole run with server start-up {time.perf_counter() - started_all:.2f} s")


if __name__ == "__main__":
    main()
