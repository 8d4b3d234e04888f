"""Fuzzed files into the real imports (issue 12's acceptance): per-call logs (JSONL, CSV, .gz, one
truncated, some with a BOM; through the CLI and the parallel import), FOCUS exports and expense exports.

A fixed-seed corpus: good rows mixed with rows spoilt in the ways seen in the adversarial review. For
every file set: no traceback, every bad line named, every good row kept, and the ledger total equals a
Decimal sum of the good rows computed here from what was generated (not through our code). On both
databases.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text
from typer.testing import CliRunner, Result

from aispend.cli.errors import EXIT_INTERNAL
from aispend.cli.main import app
from aispend.cli.runtime import Runtime
from aispend.connectors.files.call_schema import CallLimits
from aispend.connectors.files.parallel import import_jsonl_parallel
from aispend.core.ledger.models import CallRecord, CallRollup, CostLine, table_of
from aispend.core.pricing import PriceBook
from aispend.core.settings import Settings
from tests.conftest import FIXTURES

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
MARK = "@@not-utf-8@@"
FOCUS_SAMPLE = FIXTURES / "focus" / "focus-1.0-sample.csv"


@dataclass
class Corpus:
    """Lines to write (text, or bytes for lines that are not UTF-8) and what the ledger must hold."""

    lines: list[str | bytes] = field(default_factory=list)
    good: list[bool] = field(default_factory=list)  # per line: a row that must be kept
    amounts: list[Decimal] = field(default_factory=list)  # per line: its amount when good

    def add(self, line: str | bytes, amount: Decimal | None, undecodable: bytes = b"\xff") -> None:
        """A line; MARK in it stands for bytes that are not UTF-8 (`undecodable`)."""
        if isinstance(line, str) and MARK in line:
            line = line.encode().replace(MARK.encode(), undecodable)
        self.lines.append(line)
        self.good.append(amount is not None)
        self.amounts.append(amount or Decimal(0))

    def data(self) -> bytes:
        return b"".join(line if isinstance(line, bytes) else line.encode() for line in self.lines)

    def kept(self, first_lines: int | None = None) -> tuple[int, Decimal]:
        """How many good rows and their total, among the first `first_lines` lines (all by default)."""
        pairs = list(zip(self.good, self.amounts, strict=True))[:first_lines]
        return sum(good for good, _ in pairs), sum((a for good, a in pairs if good), Decimal(0))

    def bad_lines(self, first_lines: int | None = None) -> list[int]:
        return [number for number, good in enumerate(self.good[:first_lines], start=1) if not good]


def money(rng: random.Random, places: int = 6, high: int = 50) -> Decimal:
    return Decimal(rng.randrange(high * 10**places)).scaleb(-places)


def cli(args: list[str], database_url: str) -> Result:
    runtime = Runtime(settings=Settings(database_url=database_url, ingest_workers=0), clock=lambda: NOW)
    result = CliRunner().invoke(app, args, obj=runtime)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code != EXIT_INTERNAL, result.output  # a bug, said as one line with an error id
    return result


def truncated_lines(compressed: bytes) -> int:
    """Whole lines in what zlib can decompress of a truncated gzip stream."""
    return zlib.decompressobj(31).decompress(compressed).count(b"\n")


# --- per-call logs ----------------------------------------------------------------------------------


CALL_FIELDS = ["call_id", "timestamp", "provider", "model", "input_tokens", "output_tokens", "cost", "workflow"]


def call_row(rng: random.Random, call_id: str) -> tuple[dict[str, Any], Decimal]:
    cost = money(rng)
    row = {
        "call_id": call_id,
        "timestamp": (NOW - timedelta(days=rng.randrange(1, 20), seconds=rng.randrange(86400))).isoformat(),
        "provider": "openai",
        "model": rng.choice(["gpt-4o", "gpt-4o-mini", "in-house"]),
        "input_tokens": rng.randrange(10**6),
        "output_tokens": rng.randrange(10**4),
        "cost": str(cost),
        "workflow": rng.choice(["wf-a", "wf-b", ""]),
    }
    return row, cost


# Each spoils a good row so that it must be refused; the JSON ones and the CSV ones.
CALL_SPOILERS: list[Callable[[dict[str, Any]], dict[str, Any]]] = [
    lambda r: r | {"cost": "9300000"},
    lambda r: r | {"cost": "1e30"},
    lambda r: r | {"cost": "1,50"},
    lambda r: r | {"cost": "0,25"},
    lambda r: r | {"cost": "1_000"},
    lambda r: r | {"cost": "NaN"},
    lambda r: r | {"cost": "5000"},  # over AISPEND_MAX_CALL_COST
    lambda r: r | {"input_tokens": 2**63},
    lambda r: r | {"output_tokens": 2**64 + 1},
    lambda r: r | {"timestamp": "100000000000000000000"},
    lambda r: r | {"timestamp": "9999-12-31T23:59:59-05:00"},
    lambda r: r | {"timestamp": "2100-01-01T00:00:00Z"},
    lambda r: r | {"workflow": "a\x00b"},
    lambda r: r | {"model": ""},
]
JSON_ONLY_SPOILERS: list[Callable[[dict[str, Any]], dict[str, Any]]] = [
    lambda r: r | {"workflow": ["a"]},
    lambda r: r | {"team": {"nested": True}} | {"workflow": True},
    lambda r: r | {"latency_ms": 2**63},
]


def call_corpus(rng: random.Random, fmt: str, prefix: str, rows: int) -> Corpus:
    corpus = Corpus()
    if fmt == "csv":
        corpus.add(",".join(CALL_FIELDS) + "\n", None)
        corpus.good[-1] = False  # the header: neither good nor a rejection (see bad_lines)
    earlier: list[dict[str, Any]] = []
    for index in range(rows):
        row, cost = call_row(rng, f"{prefix}-{index}")
        kind = rng.random()
        if kind < 0.7:
            corpus.add(encode_call(row, fmt), cost)
            earlier.append(row)
        elif kind < 0.75 and earlier:  # a second version of an earlier call: reported, not imported
            corpus.add(encode_call(rng.choice(earlier) | {"cost": str(cost + 1)}, fmt), None)
        elif kind < 0.8:
            corpus.add(encode_call(row, fmt).replace("wf-", f"{MARK}-"), None)
            if "wf-" not in row["workflow"]:
                corpus.lines[-1] = encode_call(row | {"model": "m\x00"}, fmt)
        elif kind < 0.83 and fmt == "jsonl":
            corpus.add('{"a": ' * 3000 + "1" + "}" * 3000 + "\n", None)
        elif kind < 0.86 and fmt == "csv":
            corpus.add(encode_call(row | {"workflow": "x" * 140_000}, fmt), None)
        else:
            spoilers = CALL_SPOILERS + (JSON_ONLY_SPOILERS if fmt == "jsonl" else [])
            corpus.add(encode_call(rng.choice(spoilers)(row), fmt), None)
    return corpus


def encode_call(row: dict[str, Any], fmt: str) -> str:
    if fmt == "jsonl":
        return json.dumps(row, ensure_ascii=False) + "\n"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([row.get(name, "") for name in CALL_FIELDS])
    return out.getvalue()


def call_ledger(engine: Engine) -> tuple[int, Decimal, Decimal]:
    with engine.connect() as conn:
        count, cost = conn.execute(select(func.count(), func.sum(table_of(CallRecord).c.cost))).one()
        rolled = conn.execute(select(func.sum(table_of(CallRollup).c.cost))).scalar_one()
    return count, cost or Decimal(0), rolled or Decimal(0)


def test_fuzzed_call_logs_keep_every_good_row(engine: Engine, database_url: str, tmp_path: Path) -> None:
    rng = random.Random(12)
    expected_rows, expected_cost = 0, Decimal(0)
    for number in range(8):
        fmt = "csv" if number % 2 else "jsonl"
        corpus = call_corpus(rng, fmt, f"f{number}", rows=rng.randrange(30, 80))
        data = corpus.data()
        name = f"calls-{number}.{fmt}"
        first_lines = None
        if number % 4 == 0:
            data = b"\xef\xbb\xbf" + data
        if number >= 4:
            name += ".gz"
            data = gzip.compress(data)
            if number in (5, 6):  # truncated: the rows before the cut are kept, the rest is one error
                data = data[: len(data) * 2 // 3]
                first_lines = truncated_lines(data)
        path = tmp_path / name
        path.write_bytes(data)
        result = cli(["ingest", "calls", str(path)], database_url)
        bad = [line for line in corpus.bad_lines(first_lines) if not (fmt == "csv" and line == 1)]
        assert result.exit_code == (1 if bad or first_lines is not None else 0), result.output
        for line in bad:
            assert f"{path}:{line}: " in result.output, (line, result.output)
        if first_lines is not None:
            assert f"{path}:{first_lines + 1}: the compressed file is truncated" in result.output
        rows, cost = corpus.kept(first_lines)
        expected_rows, expected_cost = expected_rows + rows, expected_cost + cost
        assert call_ledger(engine) == (expected_rows, expected_cost, expected_cost), (name, result.output)


def test_fuzzed_call_logs_through_the_parallel_import(engine: Engine, tmp_path: Path) -> None:
    rng = random.Random(7)
    corpora = [call_corpus(rng, "jsonl", f"p{n}", rows=400) for n in range(2)]
    paths = []
    for number, corpus in enumerate(corpora):
        path = tmp_path / f"p{number}.jsonl"
        path.write_bytes(corpus.data())
        paths.append(path)
    handles = [(str(p), p.open("rb")) for p in paths]
    try:
        summary = import_jsonl_parallel(
            engine,
            handles,  # type: ignore[arg-type]
            now=NOW,
            prices=PriceBook(),
            default_currency="USD",
            workers=2,
            limits=CallLimits.at(NOW, Decimal(1000), engine.dialect.name),
        )
    finally:
        for _, handle in handles:
            handle.close()
    rejected = sorted((r.file, r.line) for r in summary.rejections)
    assert rejected == sorted((str(p), line) for p, c in zip(paths, corpora, strict=True) for line in c.bad_lines())
    rows = sum(c.kept()[0] for c in corpora)
    cost = sum((c.kept()[1] for c in corpora), Decimal(0))
    assert call_ledger(engine) == (rows, cost, cost)


# --- FOCUS exports ----------------------------------------------------------------------------------


def focus_template() -> tuple[list[str], dict[str, str]]:
    with FOCUS_SAMPLE.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), next(reader)


FOCUS_SPOILERS: list[dict[str, str]] = [
    {"BilledCost": "1e30"},
    {"BilledCost": "1,50"},
    {"BilledCost": "abc"},
    {"BillingCurrency": "dollars"},
    {"ServiceName": "a\x00b"},
    {"Tags": '{"a":' * 3000 + "1" + "}" * 3000},
    {"Tags": "{not json"},
    {"ChargePeriodEnd": "9999-12-31T23:59:59-05:00"},
    {"ChargePeriodStart": "2024-09-18 23:00:00", "ChargePeriodEnd": "2024-09-18 22:00:00"},
    {"ConsumedQuantity": "1e27"},
]


def focus_corpus(rng: random.Random, sqlite: bool, file_number: int) -> Corpus:
    header, template = focus_template()
    corpus = Corpus()
    out = io.StringIO()
    csv.DictWriter(out, fieldnames=header, lineterminator="\n").writeheader()
    corpus.add(out.getvalue(), None)
    for index in range(rng.randrange(30, 80)):
        amount = money(rng, places=11, high=100)
        row = dict(template) | {"ChargeDescription": f"charge {file_number}-{index}", "BilledCost": str(amount)}
        kind = rng.random()
        good: Decimal | None = amount
        if kind < 0.05:
            row["BilledCost"] = "9300000"  # storable on PostgreSQL only
            good = None if sqlite else Decimal(9300000)
        elif kind < 0.1:
            row["ChargeDescription"] = MARK
            good = None
        elif kind < 0.3:
            row |= rng.choice(FOCUS_SPOILERS)
            good = None
        out = io.StringIO()
        csv.DictWriter(out, fieldnames=header, lineterminator="\n").writerow(row)
        corpus.add(out.getvalue(), good)
    return corpus


def test_fuzzed_focus_exports_keep_every_good_row(engine: Engine, database_url: str, tmp_path: Path) -> None:
    rng, sqlite = random.Random(3), engine.dialect.name == "sqlite"
    expected_rows, expected_total = 0, Decimal(0)
    for number in range(5):
        corpus = focus_corpus(rng, sqlite, number)
        data = corpus.data()
        if number == 1:
            data = b"\xef\xbb\xbf" + data
        if number >= 3:
            data = gzip.compress(data)
        if number == 4:  # a truncated export is refused whole (see ingest.focus): none of its rows
            data = data[: len(data) // 2]
        path = tmp_path / f"focus-{number}.csv{'.gz' if number >= 3 else ''}"
        path.write_bytes(data)
        result = cli(["ingest", "focus", str(path)], database_url)
        assert result.exit_code == 1 or not corpus.bad_lines()[1:], result.output
        if number == 4:
            assert f"{path}:" in result.output and "the compressed file is truncated" in result.output
        else:
            for line in corpus.bad_lines()[1:]:  # the header is line 1
                assert f"rejected {path}:{line}: " in result.output, (line, result.output)
            rows, total = corpus.kept()
            expected_rows, expected_total = expected_rows + rows, expected_total + total
        with engine.connect() as conn:
            count, total_billed = conn.execute(select(func.count(), func.sum(table_of(CostLine).c.billed_cost))).one()
        assert (count, total_billed or Decimal(0)) == (expected_rows, expected_total), result.output


# --- expense exports --------------------------------------------------------------------------------


EXPENSE_SPOILERS = ["1e30", "12,50", "12abc", "1,500", "", "1" + "0" * 27]


def expense_corpus(rng: random.Random, sqlite: bool, file_number: int) -> Corpus:
    corpus = Corpus()
    corpus.add("Date,Merchant,Amount,Currency,Memo\n", None)
    for index in range(rng.randrange(30, 80)):
        cents = rng.randrange(1, 10**7)
        amount = Decimal(cents).scaleb(-2)
        shown, good = rng.choice(
            [
                (f"{amount}", amount),
                (f"${amount:,}", amount),
                (f"USD {amount}", amount),
                (f"({amount})", -amount),
                (f"{amount:,}".replace(",", "_").replace(".", ",").replace("_", "."), amount),  # 1.234,56
            ]
        )
        if "," in shown and "." not in shown:  # "12,50" without grouping: ambiguous, refused
            good = None
        memo = "m"
        kind = rng.random()
        if kind < 0.05:
            shown, good = "9300000.00", None if sqlite else Decimal("9300000.00")
        elif kind < 0.1:
            memo, good = "a\x00b", None
        elif kind < 0.15:
            memo, good = MARK, None
        elif kind < 0.3:
            shown, good = rng.choice(EXPENSE_SPOILERS), None
        line = f'2026-10-{index % 28 + 1:02d},VENDOR {file_number}-{index},"{shown}",USD,{memo}\n'
        corpus.add(line, good, undecodable=b"\x81\xff")  # not UTF-8, and not cp1252 either
    return corpus


def test_fuzzed_expense_exports_keep_every_good_row(engine: Engine, database_url: str, tmp_path: Path) -> None:
    rng = random.Random(5)
    sqlite = engine.dialect.name == "sqlite"
    expected_rows, expected_total = 0, Decimal(0)
    for number in range(4):
        corpus = expense_corpus(rng, sqlite, number)
        path = tmp_path / f"expenses-{number}.csv"
        path.write_bytes(corpus.data())
        result = cli(["ingest", "expenses", str(path), "--format", "generic"], database_url)
        bad = corpus.bad_lines()[1:]
        assert result.exit_code == (1 if bad else 0), result.output
        for line in bad:  # expense errors count data rows: the header is not one
            assert f"{path.name}: row {line - 1}: " in result.output, (line, result.output)
        rows, total = corpus.kept()
        expected_rows, expected_total = expected_rows + rows, expected_total + total
        with engine.connect() as conn:
            count, amounts = conn.execute(text("SELECT COUNT(*), SUM(amount) FROM shadow_expense")).one()
        stored = Decimal(int(amounts)).scaleb(-12) if sqlite and amounts is not None else Decimal(amounts or 0)
        assert (count, stored) == (expected_rows, expected_total), result.output
