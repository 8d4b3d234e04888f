"""Shared pieces of the OTLP receiver tests: a running receiver, ingest tokens, the ledger's calls."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from aispend.connectors.otlp.receiver import Ingest, IngestReceiver, LandedBatch, ReceiverConfig
from aispend.core.ledger.models import CallRecord, table_of
from aispend.core.pricing import PriceBook
from aispend.core.timeutil import system_clock

CALLS = table_of(CallRecord)


@contextmanager
def running_receiver(
    engine: Engine, landed: list[LandedBatch] | None = None, **config: object
) -> Iterator[IngestReceiver]:
    settings = ReceiverConfig(host="127.0.0.1", port=0, **config)  # type: ignore[arg-type]
    # The spans carry the real time of the test run: the receiver's clock is the real one too.
    ingest = Ingest(
        engine,
        settings,
        prices=PriceBook(),
        clock=system_clock,
        on_landed=landed.append if landed is not None else None,
    )
    receiver = IngestReceiver(ingest).start()
    try:
        yield receiver
    finally:
        receiver.stop()


def calls(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(CALLS).order_by(CALLS.c.id)).mappings()]


NOW = datetime.now(UTC)
