"""One bad value in a call log never costs the good rows around it (issue 12, items 6 and 7).

Every case is a file of good rows with one bad line in the middle: the bad line is a rejection that
names its file:line, the field and the value; every good row is in the ledger; no traceback. Runs the
real CLI on both databases, with the import's clock pinned (the time window is relative to it).
"""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner, Result

from aispend.cli.errors import EXIT_INTERNAL
from aispend.cli.main import app
from aispend.cli.runtime import Runtime
from aispend.connectors.files.call_schema import CallLimits
from aispend.connectors.files.parallel import chunks, import_jsonl_parallel
from aispend.connectors.files.readers import FileReadError
from aispend.core.ledger.models import CallRecord, CallRollup, table_of
from aispend.core.pricing import PriceBook
from aispend.core.settings import Settings

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
CALLS = table_of(CallRecord)


def good(i: int, **changes: Any) -> dict[str, Any]:
    return {
        "call_id": f"g{i}",
        "timestamp": (NOW - timedelta(days=3, minutes=i)).isoformat(),
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": 10,
        "output_tokens": 2,
        "cost": "0.25",
        "workflow": "wf",
    } | changes


def cli(args: list[str], database_url: str, **settings: Any) -> Result:
    runtime = Runtime(settings=Settings(database_url=database_url, ingest_workers=0, **settings), clock=lambda: NOW)
    result = CliRunner().invoke(app, args, obj=runtime)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code != EXIT_INTERNAL, result.output  # a bug, said as one line with an error id
    return result


def ledger(engine: Engine) -> tuple[int, Decimal]:
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(CALLS)).scalar_one()
        total = conn.execute(select(func.sum(table_of(CallRollup).c.cost))).scalar_one()
    return count, total or Decimal(0)


def around(bad_line: str) -> bytes:
    """Two good rows, the bad line (line 3), two good rows."""
    lines = [json.dumps(good(0)), json.dumps(good(1)), bad_line, json.dumps(good(2)), json.dumps(good(3))]
    return ("\n".join(lines) + "\n").encode()


BIG = 2**63
JSONL_CASES = {
    "cost over the SQLite money limit": (json.dumps(good(9, cost="9300000")), "cost 9300000"),
    "cost over NUMERIC(38, 12)": (json.dumps(good(9, cost="1e30")), "cost 1E+30"),
    "input tokens of 2^63": (json.dumps(good(9, input_tokens=BIG)), f"input_tokens {BIG}"),
    "output tokens of 2^63": (json.dumps(good(9, output_tokens=BIG)), f"output_tokens {BIG}"),
    "latency of 2^63": (json.dumps(good(9, latency_ms=BIG)), f"latency_ms {BIG}"),
    "Unix time 1e20": (json.dumps(good(9, timestamp=10**20)), "timestamp 100000000000000000000"),
    "Unix time as text": (json.dumps(good(9, timestamp="100000000000000000000")), "out of range"),
    "the last year with an offset": (json.dumps(good(9, timestamp="9999-12-31T23:59:59-05:00")), "out of range"),
    "a NUL in a label": (json.dumps(good(9, workflow="a\u0000b")), "workflow contains a NUL character"),
    "a NUL in the call id": (json.dumps(good(9, call_id="a\u0000b")), "call_id contains a NUL character"),
    "a byte that is not UTF-8": (json.dumps(good(9, workflow="QQ")), "not UTF-8 text (byte 0xFF"),  # QQ: see below
    "an object nested 5,000 deep": ('{"a":' * 5000 + "1" + "}" * 5000, "nested too deeply"),
    "a list nested 5,000 deep": (json.dumps(good(9))[:-1] + ', "x": ' + "[" * 5000 + "]" * 5000 + "}", "nested"),
    "a decimal comma": (json.dumps(good(9, cost="1,50")), "cost '1,50' is ambiguous"),
    "a Python-style number": (json.dumps(good(9, cost="1_000")), "cost is not a number: '1_000'"),
    "a list as a workflow": (json.dumps(good(9, workflow=["a"])), "workflow must be text, got a list ['a']"),
    "true as a team": (json.dumps(good(9, team=True)), "team must be text, got true/false True"),
    "a cost over AISPEND_MAX_CALL_COST": (json.dumps(good(9, cost="5000")), "AISPEND_MAX_CALL_COST"),
    "a time years ahead": (json.dumps(good(9, timestamp="2100-01-01T00:00:00Z")), "more than a day after"),
    "a time decades back": (json.dumps(good(9, timestamp=0)), "more than ten years before"),
}


@pytest.mark.parametrize("case", JSONL_CASES)
def test_a_bad_jsonl_value_is_a_row_error_and_the_good_rows_are_kept(
    case: str, engine: Engine, database_url: str, tmp_path: Path
) -> None:
    bad_line, reason = JSONL_CASES[case]
    path = tmp_path / "calls.jsonl"
    path.write_bytes(around(bad_line).replace(b"QQ", b"\xff"))
    result = cli(["ingest", "calls", str(path)], database_url)
    assert result.exit_code == 1, result.output
    assert f"{path}:3: " in result.output and reason in result.output, result.output
    assert "4 new" in result.output and "1 rejected" in result.output
    assert ledger(engine) == (4, Decimal("1.00"))


CSV_HEADER = "call_id,timestamp,provider,model,input_tokens,output_tokens,cost,workflow\n"


def csv_row(i: int, **changes: Any) -> str:
    row = good(i, **changes)
    return ",".join(f'"{row[k]}"' for k in CSV_HEADER.strip().split(",")) + "\n"


CSV_CASES = {
    "a decimal comma": (csv_row(9, cost="0,25"), "cost '0,25' is ambiguous"),
    "a cell over csv's 131,072 characters": (csv_row(9, workflow="x" * 200_000), "workflow is longer than 128"),
    "a NUL in a label": (csv_row(9, workflow="a\x00b"), "column 'workflow' contains a NUL character"),
    "a byte that is not UTF-8": (csv_row(9, workflow="QQ"), "column 'workflow' is not UTF-8 text (byte 0xFF"),
    "tokens of 2^63": (csv_row(9, input_tokens=BIG), f"input_tokens '{BIG}'"),
    "a cost over the SQLite money limit": (csv_row(9, cost="9300000"), "cost 9300000"),
}


@pytest.mark.parametrize("case", CSV_CASES)
def test_a_bad_csv_value_is_a_row_error_and_the_good_rows_are_kept(
    case: str, engine: Engine, database_url: str, tmp_path: Path
) -> None:
    bad_row, reason = CSV_CASES[case]
    text = CSV_HEADER + csv_row(0) + csv_row(1) + bad_row + csv_row(2) + csv_row(3)
    path = tmp_path / "calls.csv"
    path.write_bytes(text.encode().replace(b"QQ", b"\xff"))
    result = cli(["ingest", "calls", str(path)], database_url)
    assert result.exit_code == 1, result.output
    assert f"{path}:4: " in result.output and reason in result.output, result.output
    assert ledger(engine) == (4, Decimal("1.00"))


def test_a_higher_max_call_cost_lets_a_large_call_in(engine: Engine, database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_bytes(around(json.dumps(good(9, cost="5000"))))
    result = cli(["ingest", "calls", str(path)], database_url, max_call_cost=Decimal(10_000))
    assert result.exit_code == 0, result.output
    assert ledger(engine) == (5, Decimal("5001.00"))


def test_a_bom_before_the_first_row_is_not_part_of_it(engine: Engine, database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + around(json.dumps(good(4))))
    result = cli(["ingest", "calls", str(path)], database_url)
    assert result.exit_code == 0, result.output
    assert ledger(engine) == (5, Decimal("1.25"))


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_truncated_gzip_keeps_the_rows_before_and_names_the_line(
    fmt: str, engine: Engine, database_url: str, tmp_path: Path
) -> None:
    if fmt == "jsonl":
        text = "".join(json.dumps(good(i)) + "\n" for i in range(300))
    else:
        text = CSV_HEADER + "".join(csv_row(i) for i in range(300))
    compressed = gzip.compress(text.encode())
    path = tmp_path / f"calls.{fmt}.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    readable = _decompressible_lines(compressed[: len(compressed) // 2])
    kept = readable - (1 if fmt == "csv" else 0)  # the header
    result = cli(["ingest", "calls", str(path)], database_url)
    assert result.exit_code == 1, result.output
    assert "Aborted" not in result.output
    assert f"{path}:{readable + 1}: the compressed file is truncated" in result.output, result.output
    assert ledger(engine) == (kept, Decimal("0.25") * kept)


def _decompressible_lines(data: bytes) -> int:
    """Whole lines in what zlib can decompress of a truncated gzip stream (independent of the import)."""
    text = __import__("zlib").decompressobj(31).decompress(data)
    return text.count(b"\n")


def _corrupt(data: bytes) -> bytes:
    return data[:200] + bytes(byte ^ 0x55 for byte in data[200:260]) + data[260:]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (_corrupt(gzip.compress(b"".join(b'{"n": %d}\n' % i for i in range(2000)))), "the compressed data is corrupt"),
        (b'{"a": 1}\n', "not valid gzip data (Not a gzipped file"),
    ],
)
def test_a_corrupt_gzip_is_a_file_error_with_its_line(
    content: bytes, reason: str, engine: Engine, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "calls.jsonl.gz"
    path.write_bytes(content)
    result = cli(["ingest", "calls", str(path)], database_url)
    assert result.exit_code == 1
    assert f"{path}:1: {reason}" in result.output, result.output


def test_a_second_version_of_a_call_is_reported_with_both_values(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    first = tmp_path / "first.jsonl"
    first.write_bytes(around(json.dumps(good(0))))  # line 3 repeats line 1 exactly: silently skipped
    result = cli(["ingest", "calls", str(first)], database_url)
    assert result.exit_code == 0, result.output
    assert "4 new, 1 already in the ledger, 0 rejected" in result.output
    second = tmp_path / "second.jsonl"
    second.write_bytes(around(json.dumps(good(1, cost="0.99", workflow="other"))))
    result = cli(["ingest", "calls", str(second)], database_url)
    assert result.exit_code == 1
    assert "0 new, 4 already in the ledger, 1 rejected" in result.output
    assert (
        f"{second}:3: this call id is already in the ledger with other values "
        "(cost: ledger 0.25, this row 0.99; workflow: ledger 'wf', this row 'other')"
    ) in result.output, result.output
    assert ledger(engine) == (4, Decimal("1.00"))


def test_the_parallel_import_applies_the_same_checks(engine: Engine, tmp_path: Path) -> None:
    lines = [json.dumps(good(i)) for i in range(50)]
    lines[10] = json.dumps(good(10, input_tokens=BIG))
    lines[20] = json.dumps(good(20, workflow=["a"]))
    lines[30] = json.dumps(good(30, cost="1e30"))
    lines[40] = json.dumps(good(0, cost="0.5"))  # a second version of g0
    path = tmp_path / "calls.jsonl.gz"
    path.write_bytes(gzip.compress(b"\xef\xbb\xbf" + ("\n".join(lines) + "\n").encode()))
    with path.open("rb") as raw, gzip.GzipFile(fileobj=raw) as handle:
        summary = import_jsonl_parallel(
            engine,
            [(str(path), handle)],  # type: ignore[list-item]
            now=NOW,
            prices=PriceBook(),
            default_currency="USD",
            workers=2,
            limits=CallLimits.at(NOW, Decimal(1000), engine.dialect.name),
        )
    assert sorted(r.line for r in summary.rejections) == [11, 21, 31, 41]
    assert ledger(engine) == (46, Decimal("0.25") * 46)


def test_chunks_keep_the_whole_lines_read_before_a_truncation() -> None:
    data = b"".join(b'{"n": %d}\n' % i for i in range(5000))
    compressed = gzip.compress(data)
    handle = gzip.GzipFile(fileobj=io.BytesIO(compressed[: len(compressed) // 2]))
    got = []
    with pytest.raises(FileReadError) as raised:
        for first, part in chunks(handle, lines_per_chunk=100, block_size=4096):
            got.append((first, part))
    lines = b"".join(part for _, part in got)
    assert lines == data[: len(lines)] and lines.endswith(b"\n")
    assert lines.count(b"\n") == _decompressible_lines(compressed[: len(compressed) // 2])
    assert raised.value.line == lines.count(b"\n") + 1
