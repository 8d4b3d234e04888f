"""90-day pull of each cloud connector against the local fakes, with the ledger upsert.

    python benchmarks/cloud_connectors.py

Volumes (per source, 90 days): AWS 3 AI services x 20 tag combinations a day (2 tag keys: one query per
service, 3 pages each); Azure 40 AI resources a day, 2 tag keys, 31-day chunks; GCP 30 SKUs x 4 label sets
a day (10,800 rows, 2 result pages). Prints wall time, lines and requests per source.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from google.auth.credentials import AnonymousCredentials
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fakes live with the tests

from tests.cloud_fakes import (  # noqa: E402
    AzureCostRecord,
    CostExplorerFront,
    FakeGoogleCloud,
)
from tests.connectors.test_cloud_azure import StaticCredential  # noqa: E402

from aispend.connectors.aws import AwsCostExplorerConnector  # noqa: E402
from aispend.connectors.azure import AzureCostConnector, make_cost_client  # noqa: E402
from aispend.connectors.base import Connector, Window  # noqa: E402
from aispend.connectors.gcp import GcpBillingExportConnector, make_bigquery_client  # noqa: E402
from aispend.core.ledger.costlines import upsert_cost_lines  # noqa: E402
from aispend.core.ledger.db import make_engine, upgrade  # noqa: E402
from aispend.core.settings import load_settings  # noqa: E402

START = date(2026, 8, 1)
WINDOW = Window(START, START + timedelta(days=90))
DAYS = [START + timedelta(days=i) for i in range(90)]
SERVICES = [
    "Amazon Bedrock",
    "Claude Sonnet 4.5 (Amazon Bedrock Edition)",
    "Llama 4 (Amazon Bedrock Edition)",
]


def aws_pages(service_index: int) -> list[dict[str, Any]]:
    pages = []
    for page_index, chunk in enumerate([DAYS[0:30], DAYS[30:60], DAYS[60:90]]):
        results = []
        for day in chunk:
            groups = [
                {
                    "Keys": [f"workflow$wf-{combo % 5}", f"team$team-{combo // 5}"],
                    "Metrics": {
                        "UnblendedCost": {"Amount": f"{service_index + combo}.{day.day:02d}", "Unit": "USD"},
                        "AmortizedCost": {"Amount": f"{service_index + combo}.{day.day:02d}", "Unit": "USD"},
                    },
                }
                for combo in range(20)
            ]
            results.append(
                {
                    "TimePeriod": {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()},
                    "Total": {},
                    "Groups": groups,
                    "Estimated": False,
                }
            )
        page: dict[str, Any] = {"ResultsByTime": results}
        if page_index < 2:
            page["NextPageToken"] = f"svc{service_index}-p{page_index + 1}"
        pages.append(page)
    return pages


def aws_connector(stack: list[Any]) -> Connector:
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    stack.append(moto.stop)
    results = [page for index in range(len(SERVICES)) for page in aws_pages(index)]
    requests.post(
        f"{moto_url}/moto-api/static/ce/cost-and-usage-results", json={"results": results}, timeout=30
    ).raise_for_status()
    front = CostExplorerFront(moto_url).start()
    stack.append(front.stop)
    front.dimension_values = SERVICES
    settings = load_settings(aws_enabled=True, aws_endpoint_url=front.url, aws_services=[])
    return AwsCostExplorerConnector.from_settings(settings)


def azure_connector(stack: list[Any]) -> Connector:
    from tests.cloud_fakes import FakeCostManagement

    arm = FakeCostManagement(page_size=1000).start()
    stack.append(arm.stop)
    sub = "00000000-0000-0000-0000-000000000001"
    arm.records = [
        AzureCostRecord(
            day.isoformat(),
            "Azure OpenAI",
            f"/subscriptions/{sub}/resourceGroups/ai/providers/Microsoft.CognitiveServices/accounts/aoai-{r}",
            f"{r}.{day.day:02d}",
            {"workflow": f"wf-{r % 7}", "team": f"team-{r % 3}"},
        )
        for day in DAYS
        for r in range(40)
    ]
    settings = load_settings(azure_scope=f"subscriptions/{sub}", azure_base_url=arm.url)
    return AzureCostConnector.from_settings(
        settings, client_factory=lambda: make_cost_client(arm.url, credential=StaticCredential())
    )


def gcp_connector(stack: list[Any]) -> Connector:
    from tests.connectors.test_cloud_gcp import row

    google = FakeGoogleCloud().start()
    stack.append(google.stop)
    google.result_rows = [
        row(day.isoformat(), f"SKU-{sku}", f"{sku}.{day.day:02d}", "-0.01", {"team": f"t{labels}"})
        for day in DAYS
        for sku in range(30)
        for labels in range(4)
    ]
    settings = load_settings(gcp_billing_account="01ABCD-234567-89EFGH", gcp_billing_dataset="billing-proj.billing")
    return GcpBillingExportConnector.from_settings(
        settings,
        bigquery_factory=lambda project: make_bigquery_client(project, google.url, AnonymousCredentials()),
    )


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"  # never ask an instance metadata service
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "benchmark")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "benchmark")
    stack: list[Any] = []
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        upgrade(engine)
        total_started = time.perf_counter()
        try:
            for build in (aws_connector, azure_connector, gcp_connector):
                connector = build(stack)
                started = time.perf_counter()
                result = connector.fetch(WINDOW)
                fetched = time.perf_counter()
                with engine.begin() as conn:
                    upserted = upsert_cost_lines(
                        conn,
                        result.lines,
                        now=datetime.now(UTC),
                        replace_window=(connector.name, WINDOW.start, WINDOW.end),
                    )
                done = time.perf_counter()
                print(
                    f"{connector.name:6} lines={len(result.lines):6} requests={result.requests:3} "
                    f"fetch={fetched - started:6.2f}s upsert={done - fetched:6.2f}s "
                    f"inserted={upserted.inserted}"
                )
        finally:
            for stop in reversed(stack):
                stop()
            engine.dispose()
        print(f"total {time.perf_counter() - total_started:.2f}s for 90 days across aws, azure, gcp")


if __name__ == "__main__":
    main()
