"""Run by tests as a real process: a parallel import of a JSONL stream (a FIFO the test feeds)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from aispend.connectors.files.parallel import import_jsonl_parallel
from aispend.core.ledger.db import make_engine
from aispend.core.pricing import PriceBook

if __name__ == "__main__":
    url, path = sys.argv[1], sys.argv[2]
    engine = make_engine(url)
    with open(path, "rb") as stream:
        import_jsonl_parallel(
            engine,
            [("calls.jsonl", stream)],
            now=datetime(2026, 11, 21, tzinfo=UTC),
            prices=PriceBook([]),
            default_currency="USD",
            workers=2,
        )
