"""kill -9 `aispend serve-ingest` while batches are being sent: after a restart every span it
acknowledged is in the ledger exactly once, and re-sending everything adds nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from sqlalchemy import text

from aispend.connectors.otlp.tokens import create_token
from aispend.core.ledger.db import make_engine
from tests.connectors.otlp_helpers import NOW, calls

BATCHES, SPANS = 60, 50


def _batch(number: int) -> tuple[bytes, list[str]]:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    ids = []
    start = int(NOW.timestamp()) * 10**9
    for index in range(SPANS):
        span_id = (number * 1000 + index + 1).to_bytes(8, "big")
        span = scope.spans.add(trace_id=bytes(16 - 2) + number.to_bytes(2, "big"), span_id=span_id, name="chat")
        span.start_time_unix_nano, span.end_time_unix_nano = start, start + 10**9
        for key, value in (
            ("gen_ai.request.model", AnyValue(string_value="gpt-4o-mini")),
            ("gen_ai.provider.name", AnyValue(string_value="openai")),
            ("gen_ai.usage.input_tokens", AnyValue(int_value=100 + index)),
        ):
            span.attributes.append(KeyValue(key=key, value=value))
        ids.append(span_id.hex())
    return request.SerializeToString(), ids


def _start(env: dict[str, str], tmp_path: Path, name: str) -> tuple[subprocess.Popen[bytes], int]:
    err = tmp_path / f"{name}.err"
    handle = err.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "aispend.cli.main", "serve-ingest", "--port", "0"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=handle,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in err.read_text().splitlines():
            if line.startswith("{") and "ingest_port" in (record := json.loads(line)):
                return proc, int(record["ingest_port"])
        if proc.poll() is not None:
            raise AssertionError(err.read_text())
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the receiver did not start: " + err.read_text())


def test_kill_9_loses_no_acknowledged_span_and_doubles_none(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    token = create_token(engine, "killer", now=NOW)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AISPEND_", "SLACK_"))}
    env.update(AISPEND_DATABASE_URL=database_url, AISPEND_LOG_FORMAT="json", AISPEND_OPS_PORT="")
    batches = [_batch(n) for n in range(BATCHES)]
    proc, port = _start(env, tmp_path, "first")
    acknowledged: list[str] = []
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-protobuf"}

    def send(part: list[tuple[bytes, list[str]]]) -> None:
        with httpx.Client(timeout=10) as client:
            for body, ids in part:
                try:
                    response = client.post(f"http://127.0.0.1:{port}/v1/traces", content=body, headers=headers)
                except httpx.HTTPError:
                    return  # the receiver died mid-request: this batch was never acknowledged
                if response.status_code == 200:
                    with lock:
                        acknowledged.extend(ids)

    senders = [threading.Thread(target=send, args=(batches[i::3],)) for i in range(3)]
    for sender in senders:
        sender.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill once some batches are in, while the others are still coming
        with lock:
            if len(acknowledged) >= 10 * SPANS:
                break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    for sender in senders:
        sender.join(30)
    assert 10 * SPANS <= len(acknowledged) < BATCHES * SPANS  # killed mid-way

    stored = Counter(str(row["call_key"]).rsplit(":", 1)[1] for row in calls(engine))
    assert all(stored[span_id] == 1 for span_id in acknowledged)
    assert max(stored.values()) == 1

    proc, port = _start(env, tmp_path, "second")  # restart; the exporters retry everything
    try:
        send(batches)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    stored = Counter(str(row["call_key"]).rsplit(":", 1)[1] for row in calls(engine))
    assert len(stored) == BATCHES * SPANS and set(stored.values()) == {1}
    with engine.connect() as conn:
        rolled = conn.execute(text("SELECT SUM(calls) FROM call_rollup")).scalar_one()
    assert rolled == BATCHES * SPANS  # the rollups count every call once too
    engine.dispose()
