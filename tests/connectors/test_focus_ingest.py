"""FOCUS ingestion against a real ledger (SQLite, and PostgreSQL when a URL is given)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, func, select

from aispend.connectors.files.focus import (
    FocusNormalizer,
    FocusSummary,
    OccurrenceCounter,
    Rejection,
    identity_key,
    ingest_focus_files,
    model_from,
)
from aispend.core.ledger.models import CostLine
from aispend.core.rules.attribution import AttributionRules, parse_rules
from tests.conftest import FIXTURES

SAMPLE = FIXTURES / "focus" / "focus-1.0-sample.csv"
SAMPLE_TOTAL = Decimal("20.52022672899")
SAMPLE_AI_TOTAL = Decimal("-0.15189756178")  # 9 Azure Machine Learning rows, credits included
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
AMOUNT_COLUMNS = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "ConsumedQuantity",
    "PricingQuantity",
    "ContractedUnitPrice",
    "ListUnitPrice",
)


def _normalizer(
    engine: Engine, rules: AttributionRules | None = None, ai_names: Sequence[str] = ("Amazon Bedrock", "Azure OpenAI")
) -> FocusNormalizer:
    return FocusNormalizer.create(rules or AttributionRules(), ai_names, engine.dialect.name)


def _ingest(
    engine: Engine, *paths: Path, normalizer: FocusNormalizer | None = None, now: datetime = NOW, chunk_size: int = 2000
) -> tuple[FocusSummary, list[Rejection]]:
    rejections: list[Rejection] = []
    summary = ingest_focus_files(
        engine,
        paths,
        normalizer or _normalizer(engine),
        now=now,
        on_reject=rejections.append,
        chunk_size=chunk_size,
    )
    return summary, rejections


def _ledger_totals(engine: Engine) -> tuple[int, Decimal, Decimal]:
    with engine.connect() as conn:
        count, total = conn.execute(select(func.count(), func.sum(CostLine.billed_cost))).one()
        ai = conn.execute(select(func.sum(CostLine.billed_cost)).where(CostLine.is_ai)).scalar_one()
    return count, Decimal(total or 0), Decimal(ai or 0)


def _sample_rows() -> tuple[list[str], list[dict[str, str]]]:
    with SAMPLE.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(header))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _sample_as_parquet(path: Path, amount_type: pa.DataType) -> Path:
    """The sample as Parquet with typed columns: amounts as `amount_type`, timestamps as timestamps."""
    table = pacsv.read_csv(
        SAMPLE,
        convert_options=pacsv.ConvertOptions(
            null_values=["NULL"],
            strings_can_be_null=True,
            column_types={name: amount_type for name in AMOUNT_COLUMNS}
            | {
                "BillingAccountId": pa.string(),
                "SubAccountId": pa.string(),
                "SkuId": pa.string(),
                "AvailabilityZone": pa.string(),
            },
        ),
    )
    assert pa.types.is_timestamp(table.schema.field("ChargePeriodStart").type)
    pq.write_table(table, path, row_group_size=300)
    return path


# --- the sample: the acceptance numbers ---------------------------------------------------------


def test_sample_gives_1000_rows_and_the_exact_total_with_ai_apart(engine: Engine) -> None:
    summary, rejections = _ingest(engine, SAMPLE)

    assert rejections == []
    assert (summary.rows_read, summary.written.inserted, summary.rejected) == (1000, 1000, 0)
    assert summary.billed == {"USD": SAMPLE_TOTAL}
    assert summary.ai_billed == {"USD": SAMPLE_AI_TOTAL}
    assert summary.ai_rows == 9
    assert _ledger_totals(engine) == (1000, SAMPLE_TOTAL, SAMPLE_AI_TOTAL)


def test_reingesting_the_sample_changes_nothing(engine: Engine) -> None:
    _ingest(engine, SAMPLE)
    summary, _ = _ingest(engine, SAMPLE, now=datetime(2026, 11, 27, tzinfo=UTC))

    assert (summary.written.inserted, summary.written.updated, summary.written.unchanged) == (0, 0, 1000)
    assert _ledger_totals(engine) == (1000, SAMPLE_TOTAL, SAMPLE_AI_TOTAL)


def test_gzip_and_parquet_variants_give_the_same_lines(engine: Engine, tmp_path: Path) -> None:
    gz = tmp_path / "sample.csv.gz"
    gz.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    as_decimal = _sample_as_parquet(tmp_path / "decimal.parquet", pa.decimal128(38, 15))
    as_float = _sample_as_parquet(tmp_path / "float.parquet", pa.float64())

    for path in (gz, as_decimal, as_float):
        summary, rejections = _ingest(engine, path)
        assert rejections == []
        assert summary.rows_read == 1000
        assert summary.billed == {"USD": SAMPLE_TOTAL}, path.name
        assert summary.ai_billed == {"USD": SAMPLE_AI_TOTAL}, path.name
    # Same identities whatever the format: only the first import inserted, the others changed nothing.
    assert _ledger_totals(engine) == (1000, SAMPLE_TOTAL, SAMPLE_AI_TOTAL)


def test_parquet_after_csv_leaves_every_line_unchanged(engine: Engine, tmp_path: Path) -> None:
    _ingest(engine, SAMPLE)
    summary, _ = _ingest(engine, _sample_as_parquet(tmp_path / "s.parquet", pa.decimal128(38, 15)))
    assert (summary.written.inserted, summary.written.updated, summary.written.unchanged) == (0, 0, 1000)


def test_a_restated_export_updates_lines_instead_of_adding_them(engine: Engine, tmp_path: Path) -> None:
    _ingest(engine, SAMPLE)
    header, rows = _sample_rows()
    for row in rows[:10]:
        row["BilledCost"] = str(Decimal(row["BilledCost"]) + Decimal("1.00000000001"))
    restated = _write_csv(tmp_path / "restated.csv", header, rows)

    summary, _ = _ingest(engine, restated)

    assert (summary.written.inserted, summary.written.updated, summary.written.unchanged) == (0, 10, 990)
    count, total, _ai = _ledger_totals(engine)
    assert (count, total) == (1000, SAMPLE_TOTAL + Decimal("10.0000000001"))


# --- rows that differ only by amounts ------------------------------------------------------------


def test_rows_with_the_same_identity_get_distinct_stable_keys(engine: Engine, tmp_path: Path) -> None:
    header, rows = _sample_rows()
    twin = dict(rows[0], BilledCost="0.5", Tags='{"team": "search"}')
    path = _write_csv(tmp_path / "twins.csv", header, [rows[0], twin, rows[1]])

    first, _ = _ingest(engine, path)
    again, _ = _ingest(engine, path)

    assert first.written.inserted == 3
    assert (again.written.inserted, again.written.unchanged) == (0, 3)
    with engine.connect() as conn:
        keys = conn.execute(select(CostLine.natural_key).order_by(CostLine.natural_key)).scalars().all()
    base = identity_key(rows[0] | {"Provider": rows[0]["ProviderName"], "Region": rows[0]["RegionId"]})
    assert base in keys and f"{base}#2" in keys


def test_occurrences_are_counted_across_chunks(engine: Engine, tmp_path: Path) -> None:
    header, rows = _sample_rows()
    # Five rows of one identity, interleaved with others, written in chunks of two lines.
    same = [dict(rows[0], BilledCost=str(n)) for n in range(1, 6)]
    mixed = [same[0], rows[1], same[1], same[2], rows[2], rows[3], same[3], rows[4], same[4]]
    path = _write_csv(tmp_path / "five.csv", header, mixed)

    first, _ = _ingest(engine, path, chunk_size=2)
    again, _ = _ingest(engine, path, chunk_size=3)

    assert (first.written.inserted, again.written.unchanged, again.written.inserted) == (9, 9, 0)
    with engine.connect() as conn:
        keys = conn.execute(select(CostLine.natural_key).where(CostLine.natural_key.like("%#%"))).scalars()
        assert sorted(key.split("#")[1] for key in keys) == ["2", "3", "4", "5"]


def test_occurrence_counter_numbers_each_identity_in_file_order() -> None:
    counter = OccurrenceCounter()
    try:
        assert counter.next_occurrences(["a", "b", "a"]) == [1, 1, 2]
        assert counter.next_occurrences(["a", "c", "b", "a"]) == [3, 1, 2, 4]
    finally:
        counter.close()


# --- bad rows ------------------------------------------------------------------------------------


def test_bad_rows_are_reported_with_file_and_line_and_good_rows_kept(engine: Engine, tmp_path: Path) -> None:
    header, rows = _sample_rows()
    good = rows[:5]
    bad = [
        dict(rows[5], BilledCost="12,5x"),
        dict(rows[6], BilledCost="NULL"),
        dict(rows[7], ChargePeriodStart="yesterday"),
        dict(rows[8], Tags='{"team": '),
        dict(rows[9], BillingCurrency="dollars"),
        dict(rows[10], Tags='["a", "b"]'),
    ]
    path = _write_csv(tmp_path / "mixed.csv", header, [*good[:2], *bad, *good[2:]])
    with path.open("a", encoding="utf-8") as handle:
        handle.write("only,three,fields\n")

    summary, rejections = _ingest(engine, path)

    assert (summary.rows_read, summary.rejected, summary.written.inserted) == (12, 7, 5)
    assert not summary.ok
    reported = [str(r) for r in rejections]
    assert reported == [
        f"{path}:4: BilledCost is not a number: '12,5x'",
        f"{path}:5: BilledCost is missing",
        f"{path}:6: ChargePeriodStart is not a date and time: 'yesterday'",
        f"{path}:7: Tags is not valid JSON (Expecting value at character 9)",
        f"{path}:8: BillingCurrency: not an ISO 4217 currency code: 'dollars'",
        f"{path}:9: Tags must be a JSON object, got list",
        f"{path}:13: has 3 fields, the header has {len(header)}",
    ]
    assert _ledger_totals(engine)[0] == 5


def test_line_numbers_count_quoted_newlines(engine: Engine, tmp_path: Path) -> None:
    header, rows = _sample_rows()
    multi_line = dict(rows[0], ChargeDescription="first line\nsecond line")
    path = _write_csv(tmp_path / "multi.csv", header, [multi_line, dict(rows[1], BilledCost="?")])

    _summary, rejections = _ingest(engine, path)

    assert [r.where for r in rejections] == ["4"]


def test_an_unreadable_file_is_reported_and_the_others_imported(engine: Engine, tmp_path: Path) -> None:
    not_focus = tmp_path / "not-focus.csv"
    not_focus.write_text("a,b\n1,2\n", encoding="utf-8")
    truncated = tmp_path / "cut.csv.gz"
    truncated.write_bytes(gzip.compress(SAMPLE.read_bytes())[:5000])

    summary, rejections = _ingest(engine, not_focus, truncated, SAMPLE)

    assert (summary.files, summary.failed_files) == (3, 2)
    assert str(rejections[0]) == (
        f"{not_focus}: not a FOCUS export: missing column(s) BilledCost, BillingCurrency, "
        "ChargePeriodStart, ChargePeriodEnd: nothing from this file was imported"
    )
    # The line where reading stopped (the records before it were read, then rolled back with the file).
    assert re.fullmatch(
        rf"{re.escape(str(truncated))}:\d+: the compressed file is truncated: nothing from this file was imported",
        str(rejections[-1]),
    )
    # The truncated file's rows were rolled back with it; the sample is whole.
    assert _ledger_totals(engine) == (1000, SAMPLE_TOTAL, SAMPLE_AI_TOTAL)


def test_parquet_rows_are_reported_by_row_number(engine: Engine, tmp_path: Path) -> None:
    table = pa.table(
        {
            "BilledCost": pa.array([Decimal("1.5"), None], pa.decimal128(10, 2)),
            "BillingCurrency": ["USD", "USD"],
            "ChargePeriodStart": pa.array([datetime(2026, 1, 1), datetime(2026, 1, 1)], pa.timestamp("s")),
            "ChargePeriodEnd": pa.array([datetime(2026, 1, 2), datetime(2026, 1, 2)], pa.timestamp("s")),
            "ServiceName": ["Amazon Bedrock", "Amazon S3"],
        }
    )
    path = tmp_path / "two.parquet"
    pq.write_table(table, path)

    summary, rejections = _ingest(engine, path)

    assert [str(r) for r in rejections] == [f"{path}:row 2: BilledCost is missing"]
    assert summary.billed == {"USD": Decimal("1.5")} and summary.ai_billed == {"USD": Decimal("1.5")}


# --- FOCUS versions and values ---------------------------------------------------------------------

FOCUS_13_HEADER = [
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "BillingCurrency",
    "BillingAccountId",
    "SubAccountId",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ServiceProviderName",
    "HostProviderName",
    "InvoiceIssuerName",
    "RegionId",
    "RegionName",
    "ServiceCategory",
    "ServiceSubcategory",
    "ServiceName",
    "SkuId",
    "SkuMeter",
    "ResourceId",
    "ConsumedQuantity",
    "ConsumedUnit",
    "Tags",
]


def _focus13_row(**overrides: str) -> dict[str, str]:
    row = {
        "BilledCost": "12.345678901234",
        "EffectiveCost": "12.3",
        "ListCost": "15",
        "BillingCurrency": "eur",
        "BillingAccountId": "ba-1",
        "SubAccountId": "sub-9",
        "ChargePeriodStart": "2026-02-03T00:00:00Z",
        "ChargePeriodEnd": "2026-02-04T00:00:00Z",
        "ChargeCategory": "Usage",
        "ChargeClass": "NULL",
        "ServiceProviderName": "Microsoft",
        "HostProviderName": "Microsoft",
        "InvoiceIssuerName": "Microsoft",
        "RegionId": "westeurope",
        "RegionName": "West Europe",
        "ServiceCategory": "AI and Machine Learning",
        "ServiceSubcategory": "Generative AI",
        "ServiceName": "Azure OpenAI",
        "SkuId": "DZH318Z0BQ4L",
        "SkuMeter": "gpt-4o-0513 Input global Tokens",
        "ResourceId": "/subscriptions/s/openai/acct",
        "ConsumedQuantity": "1234000",
        "ConsumedUnit": "1K Tokens",
        "Tags": json.dumps({"App": "support-triage", "team": "support", "Customer": None}),
    }
    row.update(overrides)
    return row


def test_focus_13_column_names(engine: Engine, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "focus13.csv", FOCUS_13_HEADER, [_focus13_row()])

    summary, rejections = _ingest(engine, path)

    assert rejections == []
    assert summary.billed == {"EUR": Decimal("12.345678901234")}
    with engine.connect() as conn:
        line = conn.execute(select(CostLine)).one()
    assert (line.provider, line.region, line.service_name, line.charge_category) == (
        "Microsoft",
        "westeurope",
        "Azure OpenAI",
        "Usage",
    )
    assert (line.effective_cost, line.list_cost, line.consumed_quantity) == (
        Decimal("12.3"),
        Decimal("15"),
        Decimal("1234000"),
    )
    assert line.charge_period_start == datetime(2026, 2, 3, tzinfo=UTC)
    assert line.is_ai and line.model == "gpt-4o-0513"
    assert (line.workflow, line.team, line.customer) == ("support-triage", "support", "")


def test_older_names_map_to_the_same_fields(engine: Engine, tmp_path: Path) -> None:
    # FOCUS 0.5 / 1.0-preview names: ChargeType, Region, AmortizedCost, UsageQuantity, ProviderName.
    header = [
        "BilledCost",
        "AmortizedCost",
        "BillingCurrency",
        "ChargePeriodStart",
        "ChargePeriodEnd",
        "ChargeType",
        "ProviderName",
        "Region",
        "ServiceName",
        "UsageQuantity",
        "UsageUnit",
    ]
    row = {
        "BilledCost": "3",
        "AmortizedCost": "2.5",
        "BillingCurrency": "USD",
        "ChargePeriodStart": "2024-01-05 00:00:00",
        "ChargePeriodEnd": "2024-01-06 00:00:00",
        "ChargeType": "Usage",
        "ProviderName": "AWS",
        "Region": "us-east-1",
        "ServiceName": "Amazon bedrock",
        "UsageQuantity": "42",
        "UsageUnit": "Tokens",
    }
    path = _write_csv(tmp_path / "focus05.csv", header, [row])

    _ingest(engine, path)

    with engine.connect() as conn:
        line = conn.execute(select(CostLine)).one()
    assert (line.charge_category, line.provider, line.region, line.effective_cost) == (
        "Usage",
        "AWS",
        "us-east-1",
        Decimal("2.5"),
    )
    assert (line.consumed_quantity, line.consumed_unit) == (Decimal(42), "Tokens")
    assert line.is_ai  # "Amazon bedrock": AI service names compare case-insensitively


def test_null_strings_are_missing_values(engine: Engine, tmp_path: Path) -> None:
    row = _focus13_row(
        EffectiveCost="NULL",
        ListCost="",
        ResourceId="NULL",
        RegionId="NULL",
        RegionName="NULL",
        Tags="NULL",
        SkuMeter="NULL",
        ConsumedQuantity="null",
    )
    path = _write_csv(tmp_path / "nulls.csv", FOCUS_13_HEADER, [row])

    _ingest(engine, path)

    with engine.connect() as conn:
        line = conn.execute(select(CostLine)).one()
    assert (line.effective_cost, line.list_cost, line.consumed_quantity) == (None, None, None)
    assert (line.resource_id, line.region, line.tags, line.model) == (None, None, {}, "")


def test_json_tags_are_kept_and_attributed_by_rules(engine: Engine, tmp_path: Path) -> None:
    rules = parse_rules(
        {
            "tags": {"team": ["cost-center"], "customer": ["tenant"]},
            "rules": [{"match": {"tag:project": "atlas"}, "set": {"workflow": "contract-review"}}],
        }
    )
    tags = {"project": "atlas", "cost-center": "legal", " tenant": "acme", "model": "claude-sonnet-4"}
    row = _focus13_row(Tags=json.dumps(tags), ServiceName="Vertex AI", ServiceCategory="Other")
    path = _write_csv(tmp_path / "tags.csv", FOCUS_13_HEADER, [row])

    _ingest(engine, path, normalizer=_normalizer(engine, rules, ai_names=["vertex ai"]))

    with engine.connect() as conn:
        line = conn.execute(select(CostLine)).one()
    assert line.tags == tags
    assert (line.workflow, line.team, line.customer, line.model) == (
        "contract-review",
        "legal",
        "acme",
        "claude-sonnet-4",
    )
    assert line.is_ai


def test_negative_amounts_are_credits_that_reduce_the_total(engine: Engine, tmp_path: Path) -> None:
    rows = [
        _focus13_row(BilledCost="10.00000000001"),
        _focus13_row(BilledCost="-2.50000000001", ChargeCategory="Credit", EffectiveCost="-2.5"),
        _focus13_row(
            BilledCost="-0.00000000001", ChargeCategory="Adjustment", ServiceName="Storage", ServiceCategory="Storage"
        ),
    ]
    path = _write_csv(tmp_path / "credits.csv", FOCUS_13_HEADER, rows)

    summary, _ = _ingest(engine, path)

    assert summary.billed == {"EUR": Decimal("7.49999999999")}
    assert summary.ai_billed == {"EUR": Decimal("7.5")}
    with engine.connect() as conn:
        stored = conn.execute(select(CostLine.billed_cost).order_by(CostLine.billed_cost)).scalars().all()
    assert stored == [Decimal("-2.50000000001"), Decimal("-0.00000000001"), Decimal("10.00000000001")]


def test_amounts_beyond_the_ledger_are_rejected_not_crashed(engine: Engine, tmp_path: Path) -> None:
    huge = "1" + "0" * 30
    path = _write_csv(tmp_path / "huge.csv", FOCUS_13_HEADER, [_focus13_row(BilledCost=huge), _focus13_row()])

    summary, rejections = _ingest(engine, path)

    assert summary.written.inserted == 1
    assert [r.where for r in rejections] == ["2"]
    assert "beyond what this ledger database can store" in rejections[0].reason


def test_ai_classification_by_category_or_configured_name() -> None:
    normalizer = FocusNormalizer.create(AttributionRules(), ["Amazon Bedrock", " Vertex AI "])
    assert normalizer.is_ai("AI and Machine Learning", "Anything")
    assert normalizer.is_ai("Other", "AMAZON BEDROCK")
    assert normalizer.is_ai("Compute", "vertex ai")
    assert not normalizer.is_ai("Compute", "Amazon EC2")


@pytest.mark.parametrize(
    ("text", "model"),
    [
        ("gpt-4o-0513 Input global Tokens", "gpt-4o-0513"),
        ("USE1-Claude3Sonnet-input-tokens", "Claude3Sonnet"),
        ("Gemini 1.5 Flash Input Text", "Gemini 1.5 Flash"),
        ("Premium SSD Managed Disks - P6 LRS", ""),
        ("philosophy lectures", ""),
    ],
)
def test_model_from_a_sku_description(text: str, model: str) -> None:
    assert model_from({}, text) == model


def test_model_tag_wins_over_the_description() -> None:
    assert model_from({"Model": "my-finetune"}, "gpt-4o input") == "my-finetune"


def test_identity_ignores_amounts_and_tags_but_not_the_charge() -> None:
    row = _focus13_row()
    base = identity_key(_canonical(row))
    assert identity_key(_canonical(dict(row, BilledCost="99", Tags="{}"))) == base
    assert identity_key(_canonical(dict(row, ChargePeriodStart="2026-02-03 00:00:00"))) == base
    assert identity_key(_canonical(dict(row, ResourceId="other"))) != base


def _canonical(row: dict[str, str]) -> dict[str, str]:
    # The reader maps headers to canonical names; these two differ in FOCUS 1.3.
    return row | {"Provider": row["ServiceProviderName"], "Region": row["RegionId"]}


def test_a_bom_and_crlf_line_endings_are_read(engine: Engine, tmp_path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FOCUS_13_HEADER, lineterminator="\r\n")
    writer.writeheader()
    writer.writerow(_focus13_row())
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8"))

    summary, rejections = _ingest(engine, path)

    assert rejections == [] and summary.written.inserted == 1


def test_parquet_map_tags_float_amounts_and_aware_timestamps(engine: Engine, tmp_path: Path) -> None:
    start = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
    table = pa.table(
        {
            "BilledCost": pa.array([0.1, -0.00000000001], pa.float64()),
            "BillingCurrency": ["USD", "USD"],
            "ChargePeriodStart": pa.array([start, start], pa.timestamp("us", tz="UTC")),
            "ChargePeriodEnd": pa.array([start, start], pa.timestamp("us", tz="UTC")),
            "ServiceName": ["Amazon Bedrock", "Amazon Bedrock"],
            "ResourceId": ["r1", "r2"],
            "Tags": pa.array([[("team", "search")], []], pa.map_(pa.string(), pa.string())),
        }
    )
    path = tmp_path / "typed.parquet"
    pq.write_table(table, path)

    summary, rejections = _ingest(engine, path)

    assert rejections == []
    assert summary.billed == {"USD": Decimal("0.09999999999")}
    with engine.connect() as conn:
        lines = conn.execute(select(CostLine).order_by(CostLine.resource_id)).all()
    assert [(line.tags, line.team) for line in lines] == [({"team": "search"}, "search"), ({}, "")]
    assert lines[0].charge_period_start == start


def test_an_empty_file_is_reported(engine: Engine, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")

    summary, rejections = _ingest(engine, empty)

    assert summary.failed_files == 1
    assert [str(r) for r in rejections] == [
        f"{empty}: the file is empty (no header line): nothing from this file was imported"
    ]


@pytest.mark.parametrize(
    ("service", "category", "ai"),
    [
        ("Claude Sonnet 4.5 (Amazon Bedrock Edition)", "Other", True),  # marketplace listing
        ("AmazonBedrock", "", True),  # product code
        ("AmazonSageMaker", "Compute", True),
        ("Azure OpenAI Service", "", True),
        ("Amazon Bedrock", "", True),  # an exact name still works
        ("Amazon Elastic Compute Cloud", "Compute", False),
        ("Amazon Simple Storage Service", "Storage", False),
        ("Virtual Machines", "Compute", False),
    ],
)
def test_ai_rows_are_found_by_pattern_not_only_by_exact_name(
    engine: Engine, tmp_path: Path, service: str, category: str, ai: bool
) -> None:
    header, rows = _sample_rows()
    row = dict(rows[0], ServiceName=service, ServiceCategory=category)
    summary, rejections = _ingest(engine, _write_csv(tmp_path / "one.csv", header, [row]))
    assert not rejections and summary.written.inserted == 1
    with engine.connect() as conn:
        assert conn.execute(select(CostLine.is_ai)).scalar_one() is ai


def test_a_bad_ai_service_pattern_is_a_settings_error() -> None:
    from pydantic import ValidationError

    from aispend.core.settings import load_settings

    with pytest.raises(ValidationError, match="AI service pattern '\\(unclosed' is not a regular expression"):
        load_settings(ai_service_patterns=["(unclosed"])


_BAD_FOCUS_CELLS = {
    "a NUL in a stored column": ({"ServiceName": "a\x00b"}, "column 'ServiceName' contains a NUL character"),
    "a byte that is not UTF-8": ({"ChargeDescription": "@@BAD@@"}, "column 'ChargeDescription' is not UTF-8 text"),
    "Tags nested 5,000 deep": ({"Tags": '{"a":' * 5000 + "1" + "}" * 5000}, "Tags is nested too deeply"),
    "a NUL escaped in Tags": ({"Tags": '{"team": "a\\u0000b"}'}, "Tags contain a NUL character"),
    "the last instant with an offset": (
        {"ChargePeriodEnd": "9999-12-31T23:59:59-05:00"},
        "ChargePeriodEnd is not a date and time",
    ),
    "a cell over 16 MiB": ({"ChargeDescription": "x" * (17 * 1024 * 1024)}, "not valid CSV: field larger"),
}


@pytest.mark.parametrize("case", _BAD_FOCUS_CELLS)
def test_a_bad_cell_is_a_row_error_and_the_rest_of_the_file_is_imported(
    case: str, engine: Engine, tmp_path: Path
) -> None:
    header, rows = _sample_rows()
    bad, reason = _BAD_FOCUS_CELLS[case]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows[:10])
    writer.writerow(rows[10] | bad)
    writer.writerows(rows[11:])
    path = tmp_path / "export.csv"
    path.write_bytes(out.getvalue().encode().replace(b"@@BAD@@", b"\xff"))

    _, rejections = _ingest(engine, path)

    assert len(rejections) == 1 and str(rejections[0]).startswith(f"{path}:12: {reason}"), rejections
    good = [r for index, r in enumerate(rows) if index != 10]
    assert _ledger_totals(engine)[:2] == (len(good), sum((Decimal(r["BilledCost"]) for r in good), Decimal(0)))


# --- the columnar path against the row path and a plain Decimal sum ------------------------------------


def _per_day_service(engine: Engine) -> dict[tuple[str, str], Decimal]:
    with engine.connect() as conn:
        rows = conn.execute(select(CostLine.charge_day, CostLine.service_name, CostLine.billed_cost)).all()
    totals: dict[tuple[str, str], Decimal] = {}
    for day, service, amount in rows:
        totals[(str(day), service)] = totals.get((str(day), service), Decimal(0)) + Decimal(amount)
    return totals


def test_the_columnar_path_reads_the_sample_and_matches_a_plain_decimal_sum(engine: Engine) -> None:
    summary, rejections = _ingest(engine, SAMPLE)

    assert rejections == [] and summary.row_path_files == 0  # read by the columnar path, not the fallback
    _header, rows = _sample_rows()
    expected: dict[tuple[str, str], Decimal] = {}
    for row in rows:
        key = (row["ChargePeriodStart"][:10], row["ServiceName"])
        expected[key] = expected.get(key, Decimal(0)) + Decimal(row["BilledCost"])
    assert _per_day_service(engine) == expected


def test_the_columnar_and_the_row_path_write_the_same_lines(engine: Engine, tmp_path: Path) -> None:
    parquet = _sample_as_parquet(tmp_path / "s.parquet", pa.decimal128(38, 15))
    row_summary = ingest_focus_files(
        engine, [SAMPLE, parquet], _normalizer(engine), now=NOW, on_reject=print, columnar=False
    )
    with engine.connect() as conn:
        by_row = conn.execute(select(CostLine).order_by(CostLine.natural_key)).all()
    # Again through the columnar path: every line the row path wrote is unchanged.
    summary, rejections = _ingest(engine, SAMPLE, parquet)
    assert rejections == [] and summary.row_path_files == 0 and row_summary.row_path_files == 2
    assert (summary.written.inserted, summary.written.updated, summary.written.unchanged) == (0, 0, 2000)
    assert (summary.billed, summary.ai_billed, summary.ai_rows) == (
        row_summary.billed,
        row_summary.ai_billed,
        row_summary.ai_rows,
    )
    with engine.connect() as conn:
        assert conn.execute(select(CostLine).order_by(CostLine.natural_key)).all() == by_row
