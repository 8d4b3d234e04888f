"""The import's fast paths give exactly what the plain ones give.

* typed JSONL decoding (ingest.call_decoder) == generic dict decoding + normalize_call, row for row,
  rejections included;
* the SQLite call encoding == the columns' own bind processors;
* rollups and run totals precomputed per batch (batch_totals) == the SQL aggregation of the inserted
  rows (roll_up_inserted), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import astuple
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

from aispend.connectors.files.call_decoder import iter_call_rows
from aispend.connectors.files.call_schema import ALIASES, FIELDS
from aispend.connectors.files.calls import ImportSummary, stored_calls
from aispend.connectors.files.readers import iter_rows
from aispend.core.ledger.calls import (
    CallEncoder,
    StoredCall,
    batch_totals,
    insert_encoded,
)
from aispend.core.ledger.models import AgentRun, CallRollup, CallRollupDaily, table_of
from aispend.core.pricing import PriceBook

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
PRICES = PriceBook()

_TEXT_VALUES = st.one_of(
    st.sampled_from(["wf-1", " padded ", "", "x" * 200, "Support", "{brace}"]),
    st.integers(-5, 5),
    st.none(),
)
_TOKEN_VALUES = st.one_of(
    st.integers(0, 50_000),
    st.sampled_from([-1, "12", " 7 ", "1.5", "", "abc", True, 2.0, 3.5]),
    st.none(),
)
_VALUES: dict[str, Any] = {
    "timestamp": st.sampled_from(
        ["2026-11-20T10:00:00Z", "2026-11-20T10:00:00.123456+02:00", "2026-11-20 10:00:00", 1_763_632_800, "", "bad"]
    ),
    "model": st.sampled_from(["gpt-4o-mini", "claude-haiku-4-5", "in-house-model", "", " gpt-4o "]),
    "provider": st.sampled_from(["openai", "Anthropic", "", "internal"]),
    "cost": st.one_of(
        st.sampled_from(["0.0123", "0", "-1", "1,000.5", "NaN", "abc", "", 0.1, 0, 12, "1_000", " 2.5", "1e3", [1]]),
        st.decimals(min_value=0, max_value=10, places=14).map(str),
        st.none(),
    ),
    "currency": st.sampled_from(["USD", "usd", "EUR", "dollars", "", 5]),
    "call_id": st.one_of(st.sampled_from(["a", "b", "", "x" * 80]), st.integers(1, 3)),
}


@st.composite
def _line(draw: st.DrawFn) -> str:
    row: dict[str, Any] = {}
    for field, names in ALIASES.items():
        if draw(st.integers(0, 3)) == 0:
            continue  # absent
        for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True)):
            if field in _VALUES:
                row[name] = draw(_VALUES[field])
            elif field.endswith("tokens") or field == "latency_ms":
                row[name] = draw(_TOKEN_VALUES)
            else:
                row[name] = draw(_TEXT_VALUES)
    if draw(st.booleans()):
        row["extra"] = draw(st.sampled_from(["x", 1, None]))
    if draw(st.integers(0, 5)) == 0:
        row["gen_ai"] = {"usage": {"output_tokens": draw(_TOKEN_VALUES)}}
    text = json.dumps(row)
    return draw(st.sampled_from([text, text, text, "[1, 2]", "{broken", ""]))


def _outcome(rows: Any) -> tuple[list[tuple[Any, ...]], list[str]]:
    summary = ImportSummary()
    calls = [astuple(call) for call in stored_calls(rows, PRICES, "USD", None, summary)]
    return calls, [str(r) for r in summary.rejections]


@settings(max_examples=300, deadline=None)
@given(st.lists(_line(), min_size=1, max_size=12))
def test_typed_decoding_equals_generic_decoding(lines: list[str]) -> None:
    data = ("\n".join(lines) + "\n").encode()
    typed = _outcome(iter_call_rows("f.jsonl", io.BytesIO(data), "jsonl"))
    generic = _outcome(iter_rows("f.jsonl", io.BytesIO(data), "jsonl"))
    assert typed == generic


def test_typed_decoding_is_used_for_a_regular_file() -> None:
    lines = [
        json.dumps({"ts": "2026-11-20T10:00:00Z", "model": "m", "prompt_tokens": 5, "cost_usd": "0.1"}),
        json.dumps({"ts": "2026-11-20T10:00:01Z", "model": "m", "prompt_tokens": 6}),
        json.dumps({"ts": "2026-11-20T10:00:02Z", "model": "m", "prompt_tokens": "7"}),  # text: generic
    ]
    rows = list(iter_call_rows("f.jsonl", io.BytesIO("\n".join(lines).encode()), "jsonl"))
    assert [row.values is not None for row in rows] == [False, True, False]  # the first line teaches names
    assert [row.line for row in rows] == [1, 2, 3]


def test_a_cost_keeps_a_line_on_the_typed_path() -> None:
    lines = [json.dumps({"ts": "2026-11-20T10:00:00Z", "model": "m", "cost": "0.1"})] + [
        json.dumps({"ts": "2026-11-20T10:00:01Z", "model": "m", "cost": cost})
        for cost in ("0.25", 0.5, None, "1e-5", 3)
    ]
    rows = list(iter_call_rows("f.jsonl", io.BytesIO("\n".join(lines).encode()), "jsonl"))
    assert [row.values is not None for row in rows] == [False, True, True, True, True, True]
    costs = [row.values[FIELDS.index("cost")] for row in rows[1:] if row.values is not None]
    assert costs == [Decimal("0.25"), Decimal("0.5"), None, "1e-5", Decimal(3)]  # text: parse_decimal's to check


def _random_calls(count: int, seed: int) -> list[StoredCall]:
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    calls = []
    for i in range(count):
        cost_kind = rng.randrange(4)
        cost = (
            None
            if cost_kind == 0
            else Decimal(0)
            if cost_kind == 1
            else Decimal(rng.randrange(10**15)).scaleb(-rng.randrange(10, 16))
        )
        calls.append(
            StoredCall(
                call_key=f"k{seed}-{i}",
                ts=start + timedelta(seconds=rng.randrange(3 * 86400), microseconds=rng.choice([0, 123456])),
                provider=rng.choice(["openai", "anthropic"]),
                model=rng.choice(["m1", "m2", "m3"]),
                input_tokens=(inputs := rng.randrange(1000)),
                output_tokens=rng.randrange(100),
                cache_read_tokens=rng.randrange(inputs + 1) // 2,
                cache_write_tokens=0,
                cost=cost,
                currency=rng.choice(["USD", "USD", "EUR"]),
                cost_source="unpriced" if cost is None else "given",
                zero_cost_flag=cost_kind == 1,
                workflow=rng.choice(["", "wf-a", "wf-b"]),
                feature=rng.choice(["", "f"]),
                team=rng.choice(["", "t1", "t2"]),
                customer=rng.choice(["", "c1"]),
                user="",
                run_id=rng.choice(["", f"r{rng.randrange(40)}"]),
                step="s",
                outcome=rng.choice(["", "", "ok", "failed"]),
                latency_ms=rng.choice([None, rng.randrange(5000)]),
                prompt_prefix_hash=None,
            )
        )
    return calls


def test_sqlite_encoding_equals_the_bind_processors() -> None:
    encoder = CallEncoder(SQLiteDialect_pysqlite)
    calls = _random_calls(500, seed=1)
    assert encoder.encode(calls, NOW) == encoder.encode_with_processors(calls, NOW)


def _totals(engine: Engine) -> list[list[tuple[Any, ...]]]:
    snapshot = []
    with engine.connect() as conn:
        for model in (CallRollup, CallRollupDaily, AgentRun):
            table = table_of(model)
            columns = [c for c in table.c if c.name != "id"]
            snapshot.append(sorted(tuple(row) for row in conn.execute(select(*columns))))
    return snapshot


def test_precomputed_totals_equal_the_sql_aggregation(engine: Engine) -> None:
    from tests.conftest import _empty_all_tables

    encoder = CallEncoder(type(engine.dialect))
    batches = [encoder.encode(_random_calls(700, seed), NOW) for seed in range(4)]
    with engine.begin() as conn:
        for rows in batches:
            assert insert_encoded(conn, rows, now=NOW, totals=batch_totals(rows, encoder.sqlite)) == len(rows)
    precomputed = _totals(engine)
    _empty_all_tables(engine)
    with engine.begin() as conn:
        for rows in batches:
            assert insert_encoded(conn, rows, now=NOW) == len(rows)  # no totals: aggregated in SQL
    assert _totals(engine) == precomputed
    assert len(precomputed[2]) > 30  # runs spanning batches were merged


def test_a_batch_with_known_calls_adds_only_the_new_ones(engine: Engine) -> None:
    encoder = CallEncoder(type(engine.dialect))
    first, second = _random_calls(300, 7), _random_calls(300, 8)
    with engine.begin() as conn:
        rows = encoder.encode(first, NOW)
        insert_encoded(conn, rows, now=NOW, totals=batch_totals(rows, encoder.sqlite))
        mixed = encoder.encode(first[:100] + second, NOW)
        # The precomputed totals cover all 400 calls; only the 300 new ones may count.
        assert insert_encoded(conn, mixed, now=NOW, totals=batch_totals(mixed, encoder.sqlite)) == 300
    with engine.connect() as conn:
        calls = conn.execute(select(table_of(CallRollup).c.calls)).scalars().all()
    assert sum(calls) == 600
