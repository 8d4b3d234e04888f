"""FOCUS billing exports (FinOps Open Cost and Usage Specification 1.0–1.3): read, normalize, write.

One row of a FOCUS export becomes one ledger cost line (source "focus"). The pieces:

- `read_focus_rows(path)` streams rows from CSV, gzip'd CSV or Parquet (told apart by their first
  bytes, not by the file name), keyed by *canonical* column names: headers are matched across
  versions (`ServiceProviderName` in 1.3 / `ProviderName` before; `RegionId` / `Region`;
  `ChargeCategory` / `ChargeType`; `ConsumedQuantity` / `UsageQuantity`...), ignoring case and
  punctuation.
- `FocusNormalizer.normalize(values)` turns one row into a `CostLineIn` (or raises `RowError` with
  the reason): Decimal amounts (never float), `NULL` strings as missing, `Tags` as a JSON object,
  AI classification and attribution from tags.
- `ingest_focus_file` / `ingest_focus_files` write through `upsert_cost_lines` in chunks, so memory
  stays flat whatever the file size, and report each rejected row with its file and line.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
import sqlite3
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine

from aispend.connectors.files.readers import CSV_FIELD_LIMIT, READ_ERRORS, cell_problem
from aispend.core.ai_services import DEFAULT_AI_SERVICE_PATTERNS, AiServiceMatcher
from aispend.core.errors import AispendError
from aispend.core.ledger.costlines import CostLineIn, UpsertResult, upsert_cost_lines
from aispend.core.ledger.types import money_limit
from aispend.core.money import MoneyError, normalize_currency, parse_decimal
from aispend.core.rules.attribution import AttributionRules
from aispend.core.timeutil import as_utc

SOURCE = "focus"

# Canonical field -> header names that carry it, newest first (the first one present wins).
# 1.3 deprecates ProviderName for ServiceProviderName; 0.5 and the 1.0 previews used ChargeType,
# Region, AmortizedCost, UsageQuantity/UsageUnit and InvoiceIssuer.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "BilledCost": ("BilledCost",),
    "EffectiveCost": ("EffectiveCost", "AmortizedCost"),
    "ListCost": ("ListCost",),
    "BillingCurrency": ("BillingCurrency",),
    "ChargePeriodStart": ("ChargePeriodStart",),
    "ChargePeriodEnd": ("ChargePeriodEnd",),
    "BillingPeriodStart": ("BillingPeriodStart",),
    "ChargeCategory": ("ChargeCategory", "ChargeType"),
    "ChargeClass": ("ChargeClass",),
    "ChargeFrequency": ("ChargeFrequency",),
    "ChargeDescription": ("ChargeDescription",),
    "Provider": ("ServiceProviderName", "ProviderName", "Provider"),
    "InvoiceIssuer": ("InvoiceIssuerName", "InvoiceIssuer"),
    "BillingAccountId": ("BillingAccountId",),
    "SubAccountId": ("SubAccountId",),
    "ResourceId": ("ResourceId",),
    "ServiceName": ("ServiceName",),
    "ServiceCategory": ("ServiceCategory",),
    "SkuId": ("SkuId",),
    "SkuPriceId": ("SkuPriceId",),
    "SkuMeter": ("SkuMeter", "x_SkuMeterName", "x_SkuDescription"),
    "Region": ("RegionId", "Region", "RegionName"),
    "AvailabilityZone": ("AvailabilityZone",),
    "PricingCategory": ("PricingCategory",),
    "PricingUnit": ("PricingUnit",),
    "ConsumedQuantity": ("ConsumedQuantity", "UsageQuantity"),
    "ConsumedUnit": ("ConsumedUnit", "UsageUnit"),
    "CommitmentDiscountId": ("CommitmentDiscountId",),
    "CommitmentDiscountStatus": ("CommitmentDiscountStatus",),
    "Tags": ("Tags",),
}
REQUIRED = ("BilledCost", "BillingCurrency", "ChargePeriodStart", "ChargePeriodEnd")

# What makes a row *that* charge, whatever its amounts: the natural key is a hash of these, so a
# restated export (same charges, corrected amounts) updates the stored lines instead of adding new
# ones. Tags are left out on purpose: re-tagging a resource and re-exporting must not double it.
IDENTITY = (
    "Provider",
    "BillingAccountId",
    "SubAccountId",
    "BillingPeriodStart",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeFrequency",
    "ChargeDescription",
    "ServiceName",
    "ResourceId",
    "SkuId",
    "SkuPriceId",
    "Region",
    "AvailabilityZone",
    "PricingCategory",
    "PricingUnit",
    "ConsumedUnit",
    "CommitmentDiscountId",
    "CommitmentDiscountStatus",
    "BillingCurrency",
)

MODEL_TAG_KEYS = ("model", "ai-model", "aispend-model", "aispend:model", "gen_ai.request.model", "llm-model")
# Model families named in SKU / meter descriptions ("gpt-4o-0513 Input global Tokens",
# "Claude 3.5 Sonnet input tokens"): the family word and the version words right after it.
_MODEL_IN_TEXT = re.compile(
    r"(?<![a-z0-9])((?:gpt|o1|o3|o4|claude|gemini|llama|mistral|mixtral|titan|nova|command|jamba|"
    r"text-embedding|dall-e|whisper|phi)(?![a-z])"
    r"(?:[-. _]?(?:\d[\w.]*|mini|nano|turbo|pro|flash|lite|haiku|sonnet|opus|instant|large|small|medium|"
    r"embed|micro|premier|express|v\d[\w.]*|ada|realtime|audio|vision|image|r\+?|plus)(?![a-z]))*)",
    re.IGNORECASE,
)

# Widths of the ledger's text columns (cost_line): longer identifiers are rejected rather than cut,
# dimension values taken from tags are cut (they are labels, not identities).
_WIDTHS = {
    "resource_id": 1024,
    "sku_id": 256,
    "region": 128,
    "provider": 128,
    "service_name": 256,
    "service_category": 128,
    "charge_category": 32,
    "consumed_unit": 128,
}
_DIMENSION_WIDTHS = {"workflow": 128, "feature": 128, "team": 128, "customer": 128, "environment": 64, "model": 128}
_WIDEST_AMOUNT = money_limit("postgresql")
_CHUNK = 2000
_PERIODS = frozenset({"BillingPeriodStart", "ChargePeriodStart", "ChargePeriodEnd"})


class RowError(AispendError, ValueError):
    """A row that cannot become a ledger line; the message is the reason shown to the user."""

    code = "invalid_row"


class FocusFileError(AispendError, ValueError):
    """A file that cannot be read as a FOCUS export at all (no header, missing required columns, bytes
    that stop being readable at `where`...)."""

    code = "invalid_focus_file"

    def __init__(self, reason: str, where: str | None = None) -> None:
        super().__init__(reason)
        self.where = where


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def map_header(header: Sequence[str]) -> dict[str, int]:
    """Canonical field -> column index, matching names across FOCUS versions; checks required ones."""
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        positions.setdefault(_squash(name), index)
    mapping: dict[str, int] = {}
    for canonical, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            found = positions.get(_squash(alias))
            if found is not None:
                mapping[canonical] = found
                break
    missing = [name for name in REQUIRED if name not in mapping]
    if missing:
        raise FocusFileError(f"not a FOCUS export: missing column(s) {', '.join(missing)}")
    return mapping


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One data row: where it is (`where` is "12" for a CSV line, "row 12" for Parquet) and its values
    by canonical name, or the reason it cannot be read."""

    where: str
    values: dict[str, Any] | None
    error: str | None = None


def read_focus_rows(path: Path) -> Iterator[SourceRow]:
    """Stream the rows of one FOCUS file: CSV, gzip'd CSV or Parquet, told apart by content."""
    with path.open("rb") as probe:
        magic = probe.read(4)
    if magic == b"PAR1":
        yield from _read_parquet(path)
    # surrogateescape: a byte that is not UTF-8 spoils its row only (see readers.cell_problem).
    elif magic[:2] == b"\x1f\x8b":
        with gzip.open(path, "rt", encoding="utf-8-sig", errors="surrogateescape", newline="") as text:
            yield from _read_csv(text)
    else:
        with path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="") as text:
            yield from _read_csv(text)


def _read_csv(text: IO[str]) -> Iterator[SourceRow]:
    # Tags of a heavily tagged resource can exceed csv's default 128 KiB field limit.
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        raise FocusFileError("the file is empty (no header line)") from None
    mapping = map_header(header)
    end_of_previous = reader.line_num
    while True:
        # A quoted field may span lines: report the line the record starts on.
        where = str(end_of_previous + 1)
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a cell over the limit, a stray quote: this record only
            end_of_previous = reader.line_num
            yield SourceRow(where, None, f"not valid CSV: {exc}")
            continue
        except READ_ERRORS as exc:
            raise FocusFileError(_file_error(exc), where) from exc
        end_of_previous = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield SourceRow(where, None, f"has {len(row)} fields, the header has {len(header)}")
            continue
        problem = cell_problem(row, header)
        if problem is not None:
            yield SourceRow(where, None, problem)
            continue
        yield SourceRow(where, {name: row[index] for name, index in mapping.items()})


def _read_parquet(path: Path) -> Iterator[SourceRow]:
    import pyarrow.parquet as pq  # heavy import, only when a Parquet file comes along

    parquet = pq.ParquetFile(path)
    header = parquet.schema_arrow.names
    mapping = map_header(header)
    columns = {name: header[index] for name, index in mapping.items()}
    number = 0
    # Batches of one row group at most: memory is bounded by the batch, not the file.
    for batch in parquet.iter_batches(batch_size=4096, columns=sorted(set(columns.values()))):
        data = batch.to_pydict()
        for offset in range(batch.num_rows):
            number += 1
            values = {name: data[column][offset] for name, column in columns.items()}
            texts = [value for value in values.values() if isinstance(value, str)]
            problem = cell_problem(texts, [name for name, value in values.items() if isinstance(value, str)])
            if problem is not None:
                yield SourceRow(f"row {number}", None, problem)
                continue
            yield SourceRow(f"row {number}", values)


# --- normalizing --------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """A cell as text; None for missing values (empty, or the literal NULL FOCUS exports use)."""
    if value.__class__ is str:  # the common case first: ~40 calls per row
        text = value.strip()
        if not text or (len(text) == 4 and text.upper() == "NULL"):
            return None
        return text
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = str(value).strip()
    if not text or text.upper() == "NULL":
        return None
    return text


def _amount(value: Any, name: str) -> Decimal | None:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        # A Parquet float column: its shortest repr is the decimal the exporter wrote.
        value = str(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    text = _text(value)
    if text is None:
        return None
    try:
        return parse_decimal(text, what=name)
    except MoneyError as exc:
        raise RowError(str(exc)) from None


def _timestamp(value: Any, name: str) -> datetime | None:
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = _text(value)
    if text is None:
        return None
    stamp = _parse_stamp(text)
    if stamp is None:
        raise RowError(f"{name} is not a date and time: {text!r}")
    return stamp


@lru_cache(maxsize=4096)
def _parse_stamp(text: str) -> datetime | None:
    # Charge periods repeat (hours, days, one billing period): parse each distinct text once.
    try:
        return as_utc(datetime.fromisoformat(text))
    except (ValueError, OverflowError):  # OverflowError: 9999-12-31T23:00-05:00 is past the last instant
        return None


def _tags(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, list):  # a Parquet map column arrives as (key, value) pairs
        try:
            return {str(k): v for k, v in value}
        except (TypeError, ValueError):
            raise RowError("Tags is not a map of keys to values") from None
    text = _text(value)
    if text is None:
        return {}
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RowError(f"Tags is not valid JSON ({exc.msg} at character {exc.pos + 1})") from None
    except RecursionError:
        raise RowError("Tags is nested too deeply (tags are a flat object of keys to values)") from None
    if "\\u0000" in text:  # a NUL escaped in the JSON: tags become labels, text that cannot hold it
        raise RowError("Tags contain a NUL character")
    if not isinstance(parsed, dict):
        raise RowError(f"Tags must be a JSON object, got {type(parsed).__name__}")
    return parsed


def _fitted(column: str, value: str | None) -> str | None:
    """An identifier as the ledger stores it; too long for its column is an error, never a silent cut."""
    width = _WIDTHS[column]
    if value is not None and len(value) > width:
        raise RowError(f"{column} is longer than the ledger's {width} characters")
    return value


def identity_key(values: Mapping[str, Any]) -> str:
    """Hash of the row's identity columns, normalized (timestamps as UTC ISO, NULL as empty), so the
    same charge read from CSV, gzip or Parquet, in FOCUS 1.0 or 1.3 column names, gets the same key."""
    parts = []
    for name in IDENTITY:
        value = values.get(name)
        if name in _PERIODS:
            try:
                stamp = _timestamp(value, name)
            except RowError:
                stamp = None
            parts.append(stamp.isoformat() if stamp else (_text(value) or ""))
        else:
            parts.append(_text(value) or "")
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def model_from(tags: Mapping[str, str], *texts: str | None) -> str:
    """The AI model a line is for: a model tag first, else a model family named in a SKU description."""
    lowered = {key.strip().lower(): value for key, value in tags.items()}
    for key in MODEL_TAG_KEYS:
        if lowered.get(key):
            return lowered[key].strip()
    for text in texts:
        if text:
            match = _MODEL_IN_TEXT.search(text)
            if match:
                return match.group(1).strip()
    return ""


@dataclass(frozen=True)
class FocusNormalizer:
    """Turns one FOCUS row into a ledger line. Pure: no I/O, no clock."""

    rules: AttributionRules = field(default_factory=AttributionRules)
    ai: AiServiceMatcher = field(default_factory=lambda: AiServiceMatcher.create(()))
    amount_limit: Decimal = _WIDEST_AMOUNT

    @classmethod
    def create(
        cls,
        rules: AttributionRules,
        ai_service_names: Iterable[str],
        dialect: str = "default",
        ai_service_patterns: Iterable[str] = DEFAULT_AI_SERVICE_PATTERNS,
    ) -> FocusNormalizer:
        return cls(
            rules=rules,
            ai=AiServiceMatcher.create(ai_service_names, ai_service_patterns),
            amount_limit=money_limit(dialect),
        )

    def is_ai(self, service_category: str, service_name: str) -> bool:
        return self.ai.is_ai(service_category, service_name)

    def normalize(self, values: Mapping[str, Any]) -> CostLineIn:
        """The ledger line for one row (natural key: `identity_key`); RowError says why it cannot be."""
        billed = self._money(values, "BilledCost")
        if billed is None:
            raise RowError("BilledCost is missing")
        currency_text = _text(values.get("BillingCurrency"))
        if currency_text is None:
            raise RowError("BillingCurrency is missing")
        try:
            currency = normalize_currency(currency_text)
        except MoneyError as exc:
            raise RowError(f"BillingCurrency: {exc}") from None
        start = _timestamp(values.get("ChargePeriodStart"), "ChargePeriodStart")
        end = _timestamp(values.get("ChargePeriodEnd"), "ChargePeriodEnd")
        if start is None or end is None:
            raise RowError(f"{'ChargePeriodStart' if start is None else 'ChargePeriodEnd'} is missing")
        if end < start:
            raise RowError(f"ChargePeriodEnd {end.isoformat()} is before ChargePeriodStart {start.isoformat()}")
        tags = _tags(values.get("Tags"))
        # Attribution reads tags as text; keys are trimmed (" org" and "org" are the same tag to a human).
        label_tags = {str(k).strip(): str(v) for k, v in tags.items() if v is not None}
        provider = _fitted("provider", _text(values.get("Provider")) or _text(values.get("InvoiceIssuer")))
        service_name = _fitted("service_name", _text(values.get("ServiceName")))
        service_category = _fitted("service_category", _text(values.get("ServiceCategory")))
        resource_id = _fitted("resource_id", _text(values.get("ResourceId")))
        region = _fitted("region", _text(values.get("Region")))
        is_ai = self.is_ai(service_category or "", service_name or "")
        # A SKU description names a model only on AI lines ("gpt-4o ... Tokens"); elsewhere it misleads.
        descriptions = (values.get("SkuMeter"), values.get("ChargeDescription")) if is_ai else ()
        model = model_from(label_tags, *(_text(d) for d in descriptions))
        fields = {
            "source": SOURCE,
            "provider": provider or "",
            "service_name": service_name or "",
            "service_category": service_category or "",
            "sub_account": _text(values.get("SubAccountId")) or "",
            "billing_account": _text(values.get("BillingAccountId")) or "",
            "resource_id": resource_id or "",
            "region": region or "",
            "model": model,
        }
        dims = self.rules.attribute(fields, label_tags) | {"model": model}
        cut = {name: value[: _DIMENSION_WIDTHS[name]] for name, value in dims.items()}
        return CostLineIn(
            source=SOURCE,
            natural_key=identity_key(values),
            charge_period_start=start,
            charge_period_end=end,
            billed_cost=billed,
            billing_currency=currency,
            provider=provider or "",
            service_name=service_name or "",
            service_category=service_category or "",
            charge_category=_fitted("charge_category", _text(values.get("ChargeCategory"))) or "",
            effective_cost=self._money(values, "EffectiveCost"),
            list_cost=self._money(values, "ListCost"),
            resource_id=resource_id,
            sku_id=_fitted("sku_id", _text(values.get("SkuId"))),
            region=region,
            consumed_quantity=self._money(values, "ConsumedQuantity"),
            consumed_unit=_fitted("consumed_unit", _text(values.get("ConsumedUnit"))),
            tags=tags,
            is_ai=is_ai,
            workflow=cut["workflow"],
            feature=cut["feature"],
            team=cut["team"],
            customer=cut["customer"],
            environment=cut["environment"],
            model=cut["model"],
        )

    def _money(self, values: Mapping[str, Any], name: str) -> Decimal | None:
        amount = _amount(values.get(name), name)
        if amount is not None and abs(amount) >= self.amount_limit:
            raise RowError(f"{name} {amount} is beyond what this ledger database can store (±{self.amount_limit:,.0f})")
        return amount


# --- occurrences of one identity within a file --------------------------------------------------


class OccurrenceCounter:
    """Counts how often each identity has been seen in one file, in a private temporary SQLite
    database, so that the count does not grow memory with the file (only its small page cache)."""

    def __init__(self) -> None:
        self._db = sqlite3.connect("")  # "" = a temporary on-disk database, deleted on close
        self._db.execute("CREATE TABLE seen (k TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID")

    def next_occurrences(self, keys: Sequence[str]) -> list[int]:
        """For each key in order: 1 the first time it appears in the file, 2 the second time..."""
        distinct = list(dict.fromkeys(keys))
        counts: dict[str, int] = {}
        for start in range(0, len(distinct), 500):
            part = distinct[start : start + 500]
            marks = ",".join("?" * len(part))
            counts.update(self._db.execute(f"SELECT k, n FROM seen WHERE k IN ({marks})", part))
        result = []
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
            result.append(counts[key])
        self._db.executemany(
            "INSERT INTO seen (k, n) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET n = excluded.n",
            [(key, counts[key]) for key in distinct],
        )
        return result

    def close(self) -> None:
        self._db.close()


def with_occurrence(line: CostLineIn, occurrence: int) -> CostLineIn:
    """Exports may hold several rows with the same identity columns (e.g. two line items that
    differ only by tags or amounts). The n-th such row in file order gets `#n` appended to its key,
    the first keeps the bare hash: re-importing the same file, or a restatement listing the same
    charges in the same order, maps each row onto the line it wrote before. If a restatement
    reorders duplicates, they swap lines, which leaves every total unchanged."""
    if occurrence == 1:
        return line
    return replace(line, natural_key=f"{line.natural_key}#{occurrence}")


# --- writing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rejection:
    file: str
    where: str | None  # None: the whole file
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.where}: {self.reason}" if self.where else f"{self.file}: {self.reason}"


@dataclass
class FocusSummary:
    files: int = 0
    failed_files: int = 0
    rows_read: int = 0
    rejected: int = 0
    written: UpsertResult = field(default_factory=UpsertResult)
    billed: dict[str, Decimal] = field(default_factory=dict)  # currency -> total billed cost read
    ai_billed: dict[str, Decimal] = field(default_factory=dict)  # the AI-classified part of it
    ai_rows: int = 0

    @property
    def ok(self) -> bool:
        return self.rejected == 0 and self.failed_files == 0

    def add(self, other: FocusSummary) -> None:
        self.files += other.files
        self.failed_files += other.failed_files
        self.rows_read += other.rows_read
        self.rejected += other.rejected
        self.written += other.written
        self.ai_rows += other.ai_rows
        for mine, theirs in ((self.billed, other.billed), (self.ai_billed, other.ai_billed)):
            for currency, amount in theirs.items():
                mine[currency] = mine.get(currency, Decimal(0)) + amount

    def count(self, line: CostLineIn) -> None:
        currency = line.billing_currency
        self.billed[currency] = self.billed.get(currency, Decimal(0)) + line.billed_cost
        if line.is_ai:
            self.ai_rows += 1
            self.ai_billed[currency] = self.ai_billed.get(currency, Decimal(0)) + line.billed_cost


OnReject = Callable[[Rejection], None]


def ingest_focus_file(
    conn: Connection,
    path: Path,
    normalizer: FocusNormalizer,
    *,
    now: datetime,
    on_reject: OnReject,
    chunk_size: int = _CHUNK,
) -> FocusSummary:
    """Write one file's good rows in the caller's transaction; report each bad row to `on_reject`.

    Raises FocusFileError (or OSError / UnicodeDecodeError) when the file as a whole cannot be read:
    the caller rolls its transaction back.
    """
    summary = FocusSummary(files=1)
    counter = OccurrenceCounter()
    chunk: list[CostLineIn] = []

    def flush() -> None:
        occurrences = counter.next_occurrences([line.natural_key for line in chunk])
        lines = [with_occurrence(line, n) for line, n in zip(chunk, occurrences, strict=True)]
        summary.written += upsert_cost_lines(conn, lines, now=now)
        chunk.clear()

    try:
        for row in read_focus_rows(path):
            summary.rows_read += 1
            try:
                if row.values is None:
                    raise RowError(row.error or "unreadable row")
                line = normalizer.normalize(row.values)
            except RowError as exc:
                summary.rejected += 1
                on_reject(Rejection(str(path), row.where, str(exc)))
                continue
            summary.count(line)
            chunk.append(line)
            if len(chunk) >= chunk_size:
                flush()
        if chunk:
            flush()
    finally:
        counter.close()
    return summary


def ingest_focus_files(
    engine: Engine,
    paths: Iterable[Path],
    normalizer: FocusNormalizer,
    *,
    now: datetime,
    on_reject: OnReject,
    chunk_size: int = _CHUNK,
) -> FocusSummary:
    """Each file in its own transaction: a file that cannot be read leaves the others imported."""
    total = FocusSummary()
    for path in paths:
        try:
            with engine.begin() as conn:
                summary = ingest_focus_file(conn, path, normalizer, now=now, on_reject=on_reject, chunk_size=chunk_size)
        except FocusFileError as exc:
            total.files += 1
            total.failed_files += 1
            on_reject(Rejection(str(path), exc.where, str(exc) if exc.where else _file_error(exc)))
            continue
        except (OSError, EOFError, zlib.error, UnicodeDecodeError, csv.Error) as exc:
            total.files += 1
            total.failed_files += 1
            on_reject(Rejection(str(path), None, _file_error(exc)))
            continue
        except Exception as exc:
            if not _is_parquet_error(exc):
                raise
            total.files += 1
            total.failed_files += 1
            on_reject(Rejection(str(path), None, f"not a readable Parquet file: {exc}"))
            continue
        total.add(summary)
    return total


def _file_error(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start}): nothing from this file was imported"
    if isinstance(exc, csv.Error):
        return f"not valid CSV ({exc}): nothing from this file was imported"
    if isinstance(exc, EOFError):
        return "the compressed file is truncated: nothing from this file was imported"
    if isinstance(exc, zlib.error):
        return f"the compressed data is corrupt ({exc}): nothing from this file was imported"
    if isinstance(exc, OSError):
        return f"cannot read the file ({exc.strerror or exc}): nothing from this file was imported"
    return f"{exc}: nothing from this file was imported"


def _is_parquet_error(exc: Exception) -> bool:
    return type(exc).__module__.startswith("pyarrow")
