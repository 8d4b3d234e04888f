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
- `ingest_focus_files` reads each file on a columnar path (pyarrow batches, see "the columnar path"
  below), falling back to the row path for a file only it reads exactly; both write through
  `upsert_cost_lines` in chunks, so memory
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
    row_path_files: int = 0  # files read row by row (what the columnar path could not read exactly)

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
        self.row_path_files += other.row_path_files
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
    columnar: bool = False,
) -> FocusSummary:
    """Write one file's good rows in the caller's transaction; report each bad row to `on_reject`.

    Raises FocusFileError (or OSError / UnicodeDecodeError) when the file as a whole cannot be read:
    the caller rolls its transaction back. With `columnar`, the file is read by the columnar path; it
    raises `RowPathNeeded` (before reporting anything) when only the row path can read it exactly, and
    the caller rolls back and calls again without `columnar`.
    """
    summary = FocusSummary(files=1)
    counter = OccurrenceCounter()
    chunk: list[CostLineIn] = []
    # The columnar path reports its rejections only once the whole file went through it.
    held: list[Rejection] = []
    report = held.append if columnar else on_reject

    def flush() -> None:
        occurrences = counter.next_occurrences([line.natural_key for line in chunk])
        lines = [with_occurrence(line, n) for line, n in zip(chunk, occurrences, strict=True)]
        summary.written += upsert_cost_lines(conn, lines, now=now)
        chunk.clear()

    rows: Iterator[tuple[str, CostLineIn | RowError]] = (
        _columnar_lines(path, normalizer, _Caches()) if columnar else _row_lines(path, normalizer)
    )
    try:
        for where, line in rows:
            summary.rows_read += 1
            if isinstance(line, RowError):
                summary.rejected += 1
                report(Rejection(str(path), where, str(line)))
                continue
            summary.count(line)
            chunk.append(line)
            if len(chunk) >= chunk_size:
                flush()
        if chunk:
            flush()
    except Exception as exc:
        # pyarrow could not read it as a plain table (or the bytes stopped): the row path says where.
        if columnar and (_is_parquet_error(exc) or isinstance(exc, (OSError, EOFError, zlib.error))):
            raise RowPathNeeded from exc
        raise
    finally:
        counter.close()
    for rejection in held:
        on_reject(rejection)
    if not columnar:
        summary.row_path_files = 1
    return summary


def _row_lines(path: Path, normalizer: FocusNormalizer) -> Iterator[tuple[str, CostLineIn | RowError]]:
    for row in read_focus_rows(path):
        try:
            if row.values is None:
                raise RowError(row.error or "unreadable row")
            yield row.where, normalizer.normalize(row.values)
        except RowError as exc:
            yield row.where, exc


def ingest_focus_files(
    engine: Engine,
    paths: Iterable[Path],
    normalizer: FocusNormalizer,
    *,
    now: datetime,
    on_reject: OnReject,
    chunk_size: int = _CHUNK,
    columnar: bool = True,
) -> FocusSummary:
    """Each file in its own transaction: a file that cannot be read leaves the others imported.

    Files are read by the columnar path; one it cannot read exactly is read again by the row path
    (`columnar=False` reads every file that way: the reference the columnar path is tested against)."""
    total = FocusSummary()
    for path in paths:
        try:
            summary = None
            if columnar:
                try:
                    with engine.begin() as conn:
                        summary = ingest_focus_file(
                            conn, path, normalizer, now=now, on_reject=on_reject, chunk_size=chunk_size, columnar=True
                        )
                except RowPathNeeded:
                    summary = None
            if summary is None:
                with engine.begin() as conn:
                    summary = ingest_focus_file(
                        conn, path, normalizer, now=now, on_reject=on_reject, chunk_size=chunk_size
                    )
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


# --- the columnar path ----------------------------------------------------------------------------
#
# Files are read with pyarrow record batch by record batch; each batch is validated and normalised a
# column at a time (pyarrow compute for trimming, NULLs, numbers, currencies, widths, NULs; one parse
# per distinct timestamp, tag text and service). Only rows that the column checks cannot vouch for go
# through `normalize` above, one at a time, so their messages are those of the row path word for word.
# Anything pyarrow cannot read as a plain table (a row with another field count, bytes that are not
# UTF-8, a truncated gzip, a cell larger than a block) sends the whole file back to the row path,
# which names the line.

_CSV_BLOCK = 8 << 20
_PARQUET_BATCH = 16_384
_NUMBER_TEXT = r"^[+-]?(\d+\.?\d*|\.\d+)$"  # what parse_decimal takes without regrouping or exponents
_MONEY = ("BilledCost", "EffectiveCost", "ListCost", "ConsumedQuantity")
_STAMPS = ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart")
_FITTED = {
    "Provider": "provider",
    "InvoiceIssuer": "provider",
    "ServiceName": "service_name",
    "ServiceCategory": "service_category",
    "ResourceId": "resource_id",
    "Region": "region",
    "SkuId": "sku_id",
    "ChargeCategory": "charge_category",
    "ConsumedUnit": "consumed_unit",
}
_CACHE_LIMIT = 50_000


class RowPathNeeded(Exception):
    """The columnar reader met something only the row path reports exactly: redo the file that way."""


@dataclass
class _Caches:
    """Per-distinct-value results, shared by the batches of one import (bounded)."""

    ai: dict[tuple[str, str], bool] = field(default_factory=dict)
    tags: dict[str, tuple[dict[str, Any], dict[str, str]] | None] = field(default_factory=dict)
    dims: dict[tuple[Any, ...], dict[str, str]] = field(default_factory=dict)

    def trim(self) -> None:
        for cache in (self.ai, self.tags, self.dims):
            if len(cache) > _CACHE_LIMIT:
                cache.clear()


def _columnar_batches(path: Path) -> tuple[Iterator[Any], list[str], bool]:
    """(record batches, header, is_csv) for one file; FocusFileError when it is not FOCUS at all."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    with path.open("rb") as probe:
        magic = probe.read(4)
    if magic == b"PAR1":
        parquet = pq.ParquetFile(path)
        header = list(parquet.schema_arrow.names)
        map_header(header)
        return parquet.iter_batches(batch_size=_PARQUET_BATCH), header, False
    gzipped = magic[:2] == b"\x1f\x8b"
    opener: Callable[[], IO[str]]
    if gzipped:
        opener = lambda: gzip.open(path, "rt", encoding="utf-8-sig", errors="surrogateescape", newline="")  # noqa: E731, SIM115
    else:
        opener = lambda: path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="")  # noqa: E731
    csv.field_size_limit(CSV_FIELD_LIMIT)
    with opener() as text:
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            raise FocusFileError("the file is empty (no header line)") from None
        except (csv.Error, *READ_ERRORS) as exc:
            raise RowPathNeeded from exc
        header_lines = reader.line_num
    map_header(header)
    if header_lines != 1 or len(set(header)) != len(header) or any("\udc80" <= c <= "\udcff" for c in "".join(header)):
        raise RowPathNeeded
    stream: Any = pa.CompressedInputStream(pa.OSFile(str(path)), "gzip") if gzipped else pa.OSFile(str(path))
    batches = pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=_CSV_BLOCK),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            null_values=[],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    return iter(batches), header, True


def _is_text(array: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(array.type) or pa.types.is_large_string(array.type))


class _Batch:
    """One record batch, normalised column by column. `suspect[i]` marks the rows the column checks do
    not vouch for; those go through FocusNormalizer.normalize."""

    def __init__(self, batch: Any, header: list[str], is_csv: bool, normalizer: FocusNormalizer) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        self.batch = batch
        self.header = header
        self.rows = batch.num_rows
        names = {canonical: header[index] for canonical, index in map_header(header).items()}
        self.raw: dict[str, Any] = {canonical: batch.column(column) for canonical, column in names.items()}
        suspect = pa.array([False] * self.rows, pa.bool_())
        blank = pa.array([True] * self.rows, pa.bool_()) if is_csv else pa.array([False] * self.rows, pa.bool_())
        newlines = None
        for index in range(batch.num_columns):
            column = batch.column(index)
            if not _is_text(column):
                continue
            # A NUL, or a first / last character that is not printable ASCII (whitespace that
            # Python's strip would treat differently, a byte that was not UTF-8): the row path says.
            odd = pc.or_(pc.match_substring(column, "\x00"), pc.match_substring_regex(column, r"^[^ -~]|[^ -~]$"))
            suspect = pc.or_(suspect, pc.fill_null(odd, False))
            if is_csv:
                blank = pc.and_(blank, pc.equal(pc.utf8_length(pc.ascii_trim_whitespace(column)), 0))
                # Line numbers: a quoted line break makes the next records start further down.
                breaks = pc.count_substring_regex(column, r"\r\n|\r|\n")
                newlines = breaks if newlines is None else pc.add(newlines, breaks)
        self.blank = blank.to_pylist()
        self.newlines = newlines.to_pylist() if newlines is not None else [0] * self.rows
        text: dict[str, list[Any]] = {}
        for canonical, column in self.raw.items():
            if _is_text(column):
                trimmed = pc.ascii_trim_whitespace(column)
                missing = pc.or_(pc.equal(trimmed, ""), pc.equal(pc.ascii_upper(trimmed), "NULL"))
                cleaned = pc.if_else(missing, pa.scalar(None, pa.string()), trimmed)
                if canonical in _MONEY:
                    number = pc.fill_null(pc.match_substring_regex(cleaned, _NUMBER_TEXT), True)
                    suspect = pc.or_(suspect, pc.invert(number))
                if canonical in _FITTED:
                    width = _WIDTHS[_FITTED[canonical]]
                    suspect = pc.or_(suspect, pc.fill_null(pc.greater(pc.utf8_length(cleaned), width), False))
                if canonical == "BillingCurrency":
                    cleaned = pc.ascii_upper(cleaned)
                    code = pc.fill_null(pc.match_substring_regex(cleaned, r"^[A-Z]{3}$"), False)
                    suspect = pc.or_(suspect, pc.invert(code))
                if canonical in ("BilledCost", "ChargePeriodStart", "ChargePeriodEnd"):
                    suspect = pc.or_(suspect, pc.is_null(cleaned))
                text[canonical] = cleaned if canonical in _STAMPS else cleaned.to_pylist()
            else:
                text[canonical] = column
        self.text = text
        self.suspect = suspect.to_pylist()
        self.normalizer = normalizer

    def column(self, name: str) -> list[Any]:
        values = self.text.get(name)
        if values is None:
            return [None] * self.rows
        if isinstance(values, list):
            return values
        return [_text(value) for value in values.to_pylist()]

    def stamps(self, name: str) -> tuple[list[datetime | None], list[str]]:
        """Parsed timestamps and their identity text, one parse per distinct value of the batch."""
        import pyarrow.compute as pc

        values = self.text.get(name)
        if values is None:
            return [None] * self.rows, [""] * self.rows
        encoded = pc.dictionary_encode(values)
        parsed: list[datetime | None] = []
        texts: list[str] = []
        for value in encoded.dictionary.to_pylist():
            try:
                stamp = _timestamp(value, name)
            except RowError:
                stamp = None
            parsed.append(stamp)
            texts.append(stamp.isoformat() if stamp else (_text(value) or ""))
        indices = encoded.indices.to_pylist()
        return (
            [None if i is None else parsed[i] for i in indices],
            ["" if i is None else texts[i] for i in indices],
        )

    def identity_keys(self, period_texts: Mapping[str, list[str]]) -> list[str]:
        import pyarrow as pa
        import pyarrow.compute as pc

        parts = []
        for name in IDENTITY:
            if name in period_texts:
                parts.append(pa.array(period_texts[name], pa.string()))
                continue
            values = self.text.get(name)
            if values is None:
                parts.append(pa.array([""] * self.rows, pa.string()))
            elif isinstance(values, list):
                parts.append(pc.fill_null(pa.array(values, pa.string()), ""))
            else:
                parts.append(pa.array([_text(v) or "" for v in values.to_pylist()], pa.string()))
        joined = pc.binary_join_element_wise(*parts, "\x1f").to_pylist()
        sha = hashlib.sha256
        return [sha(text.encode("utf-8")).hexdigest() for text in joined]

    def values_of(self, index: int) -> tuple[list[str], dict[str, Any]]:
        """The raw cells of one row, for the row path: all cells (cell checks) and by canonical name."""
        row = self.batch.slice(index, 1).to_pylist()[0]
        cells = [row[name] for name in self.header]
        names = map_header(self.header)
        return cells, {canonical: cells[position] for canonical, position in names.items()}


def _columnar_lines(
    path: Path, normalizer: FocusNormalizer, caches: _Caches
) -> Iterator[tuple[str, CostLineIn | RowError]]:
    """(where, line or the reason it cannot be one) for every non-blank row of the file, in order."""
    batches, header, is_csv = _columnar_batches(path)
    line = 2  # CSV: the line the next record starts on
    number = 0  # Parquet: 1-based row number
    limit = normalizer.amount_limit
    rules = normalizer.rules
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except Exception as exc:
            if _is_parquet_error(exc) or isinstance(exc, (OSError, EOFError, zlib.error)):
                raise RowPathNeeded from exc
            raise
        cols = _Batch(batch, header, is_csv, normalizer)
        starts, start_texts = cols.stamps("ChargePeriodStart")
        ends, end_texts = cols.stamps("ChargePeriodEnd")
        _billing, billing_texts = cols.stamps("BillingPeriodStart")
        keys = cols.identity_keys(
            {"ChargePeriodStart": start_texts, "ChargePeriodEnd": end_texts, "BillingPeriodStart": billing_texts}
        )
        typed_money = {name for name in _MONEY if name in cols.raw and not _is_text(cols.raw[name])}
        money = {name: cols.raw[name].to_pylist() if name in typed_money else cols.column(name) for name in _MONEY}
        currency = cols.column("BillingCurrency")
        tags_raw = cols.text.get("Tags")
        tags_col = cols.column("Tags") if tags_raw is None or isinstance(tags_raw, list) else tags_raw.to_pylist()
        provider_col = cols.column("Provider")
        issuer_col = cols.column("InvoiceIssuer")
        service_col = cols.column("ServiceName")
        category_col = cols.column("ServiceCategory")
        resource_col = cols.column("ResourceId")
        region_col = cols.column("Region")
        sub_col = cols.column("SubAccountId")
        account_col = cols.column("BillingAccountId")
        charge_col = cols.column("ChargeCategory")
        sku_col = cols.column("SkuId")
        unit_col = cols.column("ConsumedUnit")
        meter_col = cols.column("SkuMeter")
        desc_col = cols.column("ChargeDescription")
        suspect = cols.suspect
        for i in range(cols.rows):
            where = str(line) if is_csv else f"row {number + 1}"
            line += 1 + cols.newlines[i]
            number += 1
            if cols.blank[i]:
                continue
            start, end = starts[i], ends[i]
            if not suspect[i] and start is not None and end is not None and end >= start:
                try:
                    line_in = _fast_line(
                        i, keys[i], start, end, money, typed_money, currency[i], tags_col[i], limit, rules, caches,
                        normalizer, provider_col[i] or issuer_col[i], service_col[i], category_col[i],
                        resource_col[i], region_col[i], sub_col[i], account_col[i], charge_col[i], sku_col[i],
                        unit_col[i], meter_col[i], desc_col[i],
                    )  # fmt: skip
                except RowError:
                    line_in = None
                if line_in is not None:
                    yield where, line_in
                    continue
            yield where, _row_path(cols, i, normalizer)
        caches.trim()


def _row_path(cols: _Batch, index: int, normalizer: FocusNormalizer) -> CostLineIn | RowError:
    cells, values = cols.values_of(index)
    texts = [cell for cell in cells if isinstance(cell, str)]
    problem = cell_problem(
        texts, [name for name, cell in zip(cols.header, cells, strict=True) if isinstance(cell, str)]
    )
    if problem is not None:
        return RowError(problem)
    try:
        return normalizer.normalize(values)
    except RowError as exc:
        return exc


def _fast_line(
    i: int,
    key: str,
    start: datetime,
    end: datetime,
    money: Mapping[str, list[Any]],
    typed_money: set[str],
    currency: str,
    tags_value: Any,
    limit: Decimal,
    rules: AttributionRules,
    caches: _Caches,
    normalizer: FocusNormalizer,
    provider: str | None,
    service_name: str | None,
    service_category: str | None,
    resource_id: str | None,
    region: str | None,
    sub_account: str | None,
    billing_account: str | None,
    charge_category: str | None,
    sku_id: str | None,
    consumed_unit: str | None,
    meter: str | None,
    description: str | None,
) -> CostLineIn | None:
    """The line of a row the column checks vouched for; None sends it to the row path."""
    amounts: dict[str, Decimal | None] = {}
    for name, values in money.items():
        value = values[i]
        if value is None:
            amounts[name] = None
            continue
        amount = _amount(value, name) if name in typed_money else Decimal(value)
        if amount is not None and abs(amount) >= limit:
            return None
        amounts[name] = amount
    billed = amounts["BilledCost"]
    if billed is None:
        return None
    if isinstance(tags_value, str) or tags_value is None:
        text = tags_value or ""
        cached = caches.tags.get(text)
        if cached is None:
            if text in caches.tags:
                return None  # known bad
            try:
                tags = _tags(tags_value)
            except RowError:
                caches.tags[text] = None
                return None
            cached = (tags, {str(k).strip(): str(v) for k, v in tags.items() if v is not None})
            caches.tags[text] = cached
        tags, label_tags = cached
    else:
        tags = _tags(tags_value)
        label_tags = {str(k).strip(): str(v) for k, v in tags.items() if v is not None}
        text = json.dumps(label_tags, sort_keys=True)
    category, service = service_category or "", service_name or ""
    ai_key = (category, service)
    is_ai = caches.ai.get(ai_key)
    if is_ai is None:
        is_ai = caches.ai[ai_key] = normalizer.is_ai(category, service)
    dims_key = (
        provider, service, category, sub_account, billing_account, resource_id, region, text, is_ai,
        meter if is_ai else None, description if is_ai else None,
    )  # fmt: skip
    cut = caches.dims.get(dims_key)
    if cut is None:
        model = model_from(label_tags, *((meter, description) if is_ai else ()))
        fields = {
            "source": SOURCE,
            "provider": provider or "",
            "service_name": service,
            "service_category": category,
            "sub_account": sub_account or "",
            "billing_account": billing_account or "",
            "resource_id": resource_id or "",
            "region": region or "",
            "model": model,
        }
        dims = rules.attribute(fields, label_tags) | {"model": model}
        cut = caches.dims[dims_key] = {name: value[: _DIMENSION_WIDTHS[name]] for name, value in dims.items()}
    return CostLineIn(
        SOURCE,
        key,
        start,
        end,
        billed,
        currency,
        provider or "",
        service,
        category,
        charge_category or "",
        amounts["EffectiveCost"],
        amounts["ListCost"],
        resource_id,
        sku_id,
        region,
        amounts["ConsumedQuantity"],
        consumed_unit,
        tags,
        is_ai,
        cut["workflow"],
        cut["feature"],
        cut["team"],
        cut["customer"],
        cut["environment"],
        cut["model"],
    )
