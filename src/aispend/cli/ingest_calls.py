"""`aispend ingest calls FILE...`: per-call logs (JSONL or CSV by extension, .gz too, "-" for stdin)."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from aispend.cli.runtime import Runtime, err_console, runtime
from aispend.connectors.files.call_decoder import iter_call_rows
from aispend.connectors.files.call_schema import CallLimits
from aispend.connectors.files.calls import ImportSummary, import_calls, stream_calls
from aispend.connectors.files.parallel import PARALLEL_MIN_BYTES, default_workers, import_jsonl_parallel
from aispend.connectors.files.readers import SourceRow, detect_format, open_binary
from aispend.connectors.files.streaming import fd_lines, follow_segments
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
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-F",
            help="Keep reading one JSONL file as it grows (rotation and truncation too), like tail -F.",
        ),
    ] = False,
) -> None:
    """Import per-call cost logs. Rows without a cost are priced with genai-prices at their own time.

    Importing the same rows again adds nothing. Bad rows are listed (file:line: reason) and skipped;
    the exit status is 1 when any row was rejected. Stdin ("-") and --follow commit as they read:
    every AISPEND_INGEST_COMMIT_ROWS rows or AISPEND_INGEST_COMMIT_SECONDS seconds, whichever comes
    first; Ctrl-C or SIGTERM commits what was read and prints the summary.
    """
    rt = runtime(ctx)
    if follow:
        _follow_problem(files)
    if follow or "-" in files:
        _stream(rt, files, stdin_format, follow)
        return
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
    _finish(rt, summary, len(files))


def _finish(rt: Runtime, summary: ImportSummary, file_count: int) -> None:
    summary_rejections = summary.rejections
    _print_summary(summary, file_count)
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


def _follow_problem(files: list[str]) -> None:
    problem = None
    if len(files) != 1 or files[0] == "-":
        problem = "--follow takes exactly one file (stdin is read as it comes without it)"
    elif not files[0].lower().endswith((".jsonl", ".ndjson", ".json")):
        problem = f"{files[0]}: --follow reads JSON Lines files (.jsonl, .ndjson; not CSV, not .gz)"
    if problem is not None:
        err_console.print(f"[red]error[/red] {problem}", highlight=False)
        raise typer.Exit(2)


def _stream(rt: Runtime, files: list[str], stdin_format: str, follow: bool) -> None:
    """Stdin and --follow: committed batch by batch (connectors/files/calls.stream_calls) until the
    input ends or a signal asks to stop."""
    settings = rt.settings
    formats: list[tuple[str, str]] = []
    for name in files:
        if name != "-" and not Path(name).is_file() and not follow:
            err_console.print(f"[red]error[/red] {name}: no such file")
            raise typer.Exit(2)
        formats.append((name, stdin_format if name == "-" else detect_format(name)))
    stop = threading.Event()

    def rows() -> Iterator[SourceRow]:
        if follow:
            [(name, _fmt)] = formats
            for segment in follow_segments(name, poll_seconds=settings.ingest_follow_poll_seconds, stop=stop):
                yield from iter_call_rows(name, segment, "jsonl")  # type: ignore[arg-type]
            return
        for name, fmt in formats:
            if name == "-" and fmt == "jsonl" and _stdin_fd() is not None:
                yield from iter_call_rows(name, fd_lines(sys.stdin.fileno()), fmt)  # type: ignore[arg-type]
                continue
            binary = open_binary(name)
            try:
                yield from iter_call_rows(name, binary, fmt)
            finally:
                if name != "-":
                    binary.close()

    prices = price_book(settings)
    engine = rt.engine()
    source = f"follow:{Path(files[0]).name}" if follow else "stdin"
    max_cost, dialect = settings.max_call_cost, engine.dialect.name
    previous = {sig: signal.signal(sig, lambda _signum, _frame: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        summary = stream_calls(
            engine,
            rows(),
            clock=rt.clock,
            source=source,
            limits_at=lambda now: CallLimits.at(now, max_cost, dialect),
            prices=prices,
            default_currency=settings.currency,
            commit_rows=settings.ingest_commit_rows,
            commit_seconds=settings.ingest_commit_seconds,
            stop=stop,
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stop.is_set():
        err_console.print("stopped: every row read is committed", highlight=False)
    _finish(rt, summary, len(files))


def _stdin_fd() -> int | None:
    """Stdin's file descriptor (None when stdin is not a real file, e.g. under a test runner)."""
    try:
        return sys.stdin.fileno()
    except (OSError, ValueError, AttributeError):
        return None


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
