"""`aispend ingest calls FILE...`: per-call logs (JSONL or CSV by extension, .gz too, "-" for stdin)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from aispend.cli.runtime import err_console, runtime
from aispend.connectors.files.call_decoder import iter_call_rows
from aispend.connectors.files.call_schema import CallLimits
from aispend.connectors.files.calls import ImportSummary, Rejection, import_calls
from aispend.connectors.files.parallel import PARALLEL_MIN_BYTES, default_workers, import_jsonl_parallel
from aispend.connectors.files.readers import SourceRow, detect_format, open_binary
from aispend.core.money import format_money
from aispend.core.pricing import price_book


def register(app: typer.Typer) -> None:
    app.command("calls")(ingest_calls)


def ingest_calls(
    ctx: typer.Context,
    files: Annotated[
        list[str], typer.Argument(help="Files to import (.jsonl/.ndjson/.csv, optionally .gz); - for stdin.")
    ],
    stdin_format: Annotated[str, typer.Option("--stdin-format", help="Format of stdin: jsonl or csv.")] = "jsonl",
) -> None:
    """Import per-call cost logs. Rows without a cost are priced with genai-prices at their own time.

    Importing the same rows again adds nothing. Bad rows are listed (file:line: reason) and skipped;
    the exit status is 1 when any row was rejected.
    """
    rt = runtime(ctx)
    summary_rejections: list[Rejection] = []
    formats: list[tuple[str, str]] = []
    for name in files:
        if name == "-":
            formats.append((name, stdin_format))
            continue
        if not Path(name).is_file():
            err_console.print(f"[red]error[/red] {name}: no such file")
            raise typer.Exit(2)
        formats.append((name, detect_format(name)))  # a RowError, a PriceError: said by the root group

    prices = price_book(rt.settings)
    total_bytes = sum(Path(n).stat().st_size for n, _ in formats if n != "-")
    show_progress = sys.stderr.isatty() and total_bytes > 0
    progress = Progress(
        TextColumn("importing"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=not show_progress,
        transient=True,
    )
    task = progress.add_task("import", total=total_bytes or None)
    done_bytes = 0

    def rows() -> Iterator[SourceRow]:
        nonlocal done_bytes
        for name, fmt in formats:
            binary = open_binary(name)
            raw = getattr(binary, "fileobj", binary)
            try:
                for row in iter_call_rows(name, binary, fmt):
                    yield row
                    if show_progress and row.line % 2000 == 0:
                        progress.update(task, completed=done_bytes + raw.tell())
            finally:
                if name != "-":
                    done_bytes += Path(name).stat().st_size
                    binary.close()

    workers = rt.settings.ingest_workers if rt.settings.ingest_workers is not None else default_workers()
    parallel = (
        workers > 0
        and all(name != "-" and fmt == "jsonl" for name, fmt in formats)
        and total_bytes >= PARALLEL_MIN_BYTES
    )
    now = rt.clock()
    engine = rt.engine()
    limits = CallLimits.at(now, rt.settings.max_call_cost, engine.dialect.name)
    with progress:
        if parallel:
            handles = [(name, open_binary(name)) for name, _ in formats]

            def advance() -> None:
                position = sum(getattr(h, "fileobj", h).tell() for _, h in handles)
                progress.update(task, completed=position)

            try:
                summary = import_jsonl_parallel(
                    engine,
                    handles,
                    now=now,
                    prices=prices,
                    default_currency=rt.settings.currency,
                    workers=workers,
                    on_progress=advance,
                    limits=limits,
                    lock_wait=rt.settings.sqlite_lock_wait_seconds,
                )
            finally:
                for _, handle in handles:
                    handle.close()
        else:
            summary = import_calls(
                engine, rows(), now=now, prices=prices, default_currency=rt.settings.currency, limits=limits
            )
    summary_rejections = summary.rejections
    _print_summary(summary, len(files))
    if any(currency != rt.settings.currency for currency in summary.cost_inserted):
        rt.say_currency_conversions()
    if summary_rejections:
        err_console.print("[red]rejected rows[/red]:")
        for rejection in summary_rejections:
            err_console.print(f"  {rejection}", highlight=False, markup=False, soft_wrap=True)
        if summary.rejected_count > len(summary_rejections):
            err_console.print(f"  … and {summary.rejected_count - len(summary_rejections)} more")
    if summary.rejected_count:
        raise typer.Exit(1)


def _print_summary(summary: ImportSummary, file_count: int) -> None:
    out = typer.echo
    out(
        f"Read {summary.rows_read:,} rows from {file_count} file(s): {summary.inserted:,} new, "
        f"{summary.duplicates:,} already in the ledger, {summary.rejected_count:,} rejected."
    )
    for currency, amount in sorted(summary.cost_inserted.items()):
        out(f"Cost of new calls: {format_money(amount, currency)} ({currency})")
    sources = summary.cost_sources
    out(
        f"Cost given: {sources['given']:,} · priced from tokens: {sources['priced']:,} · "
        f"unpriced: {sources['unpriced']:,}"
    )
    if summary.unpriced_models:
        listed = ", ".join(
            f"{model} ({provider}): {count:,} calls — {why}"
            for (provider, model, why), count in summary.unpriced_models.most_common()
        )
        out(f"Unpriced models (kept, not counted as $0; add a cost or a price): {listed}")
    if summary.zero_cost_flagged:
        out(f"Flagged: {summary.zero_cost_flagged:,} calls with tokens but a cost of exactly 0")
