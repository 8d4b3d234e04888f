"""Streaming input: batches closed by size or by age, and a file followed as it grows (like tail -F).

`timed_batches` reads its input on a thread of its own and hands the rows over through a bounded queue,
so a batch is closed `seconds` after its first row even while the input is silent (a `tail -F` pipe
between two log lines): the decision is `Batcher`'s, on the injected monotonic clock. `follow_segments`
yields the lines of a file as they are appended, and starts a new segment (line numbers from 1) when
the file is rotated (a new file at the path) or truncated.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, Generic, TypeVar

T = TypeVar("T")

# How often a waiting reader looks at the stop flag (a signal handler may only set a flag).
STOP_CHECK_SECONDS = 0.2


class Batcher(Generic[T]):
    """Pure batching decisions: a batch closes at `rows` items, or once `seconds` passed since its
    first item (on the injected clock)."""

    def __init__(self, rows: int, seconds: float, monotonic: Callable[[], float]) -> None:
        if rows < 1 or seconds <= 0:
            raise ValueError(f"a batch needs rows >= 1 and seconds > 0 (got {rows}, {seconds})")
        self.rows = rows
        self.seconds = seconds
        self.monotonic = monotonic
        self.items: list[T] = []
        self.deadline = 0.0

    def add(self, item: T) -> list[T] | None:
        """Add one item; the batch when it is complete (by size or age), else None."""
        if not self.items:
            self.deadline = self.monotonic() + self.seconds
        self.items.append(item)
        return self.take() if len(self.items) >= self.rows or self.due() else None

    def due(self) -> bool:
        return bool(self.items) and self.monotonic() >= self.deadline

    def wait_seconds(self) -> float | None:
        """How long the next item may be waited for before the batch is due (None: no batch open)."""
        return max(0.0, self.deadline - self.monotonic()) if self.items else None

    def take(self) -> list[T]:
        items, self.items = self.items, []
        return items


_END = object()


def timed_batches(
    items: Iterable[T],
    *,
    rows: int,
    seconds: float,
    monotonic: Callable[[], float] = time.monotonic,
    stop: threading.Event | None = None,
) -> Iterator[list[T]]:
    """Batches of `items` closed by size or age (Batcher). The items are read on a daemon thread (the
    input may block for ever); an error raised by the input is raised here, after the batch read
    before it. `stop` set: what was read is yielded as a last batch and the iteration ends."""
    handoff: queue.Queue[object] = queue.Queue(maxsize=max(rows, 1) * 2)
    failure: list[BaseException] = []
    done = threading.Event()

    def feed() -> None:
        try:
            for item in items:
                while not done.is_set():
                    try:
                        handoff.put(item, timeout=STOP_CHECK_SECONDS)
                        break
                    except queue.Full:
                        continue
                if done.is_set():
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            failure.append(exc)
        while not done.is_set():
            try:
                handoff.put(_END, timeout=STOP_CHECK_SECONDS)
                return
            except queue.Full:
                continue

    reader = threading.Thread(target=feed, name="ingest-reader", daemon=True)
    reader.start()
    batcher: Batcher[T] = Batcher(rows, seconds, monotonic)
    try:
        while True:
            if stop is not None and stop.is_set():
                break
            wait = batcher.wait_seconds()
            timeout = STOP_CHECK_SECONDS if wait is None else min(wait, STOP_CHECK_SECONDS)
            try:
                item = handoff.get(timeout=timeout)
            except queue.Empty:
                if batcher.due():
                    yield batcher.take()
                continue
            if item is _END:
                break
            batch = batcher.add(item)  # type: ignore[arg-type]
            if batch is not None:
                yield batch
        # Stopped or ended: what was read goes in the last batch.
        while True:
            try:
                item = handoff.get_nowait()
            except queue.Empty:
                break
            if item is not _END:
                batcher.items.append(item)  # type: ignore[arg-type]
        if batcher.items:
            yield batcher.take()
        if failure:
            raise failure[0]
    finally:
        done.set()


def fd_lines(fd: int, chunk: int = 65536) -> Iterator[bytes]:
    """The lines of a pipe or terminal as they arrive, read with os.read: a reader thread blocked here
    holds no lock of a Python file object, so the process can end while it waits (stdin that never
    closes, under `tail -F`)."""
    pending = b""
    while True:
        data = os.read(fd, chunk)
        if not data:
            if pending:
                yield pending
            return
        pending += data
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            yield raw + b"\n"


def follow_segments(
    path: str,
    *,
    poll_seconds: float,
    stop: threading.Event,
    wait: Callable[[float], object] | None = None,
) -> Iterator[Iterator[bytes]]:
    """The file at `path` as it grows, like `tail -F`: each segment is the lines of one file (from its
    start), complete lines only (a last line without its newline waits for it). A new segment starts
    when the path names another file (rotated: the old one is read to its end first) or the file
    shrank (truncated: read again from its start). A missing file is waited for. Ends when `stop` is set.
    `wait`: how the follower waits between looks (default: on `stop`, so a stop ends the wait)."""
    pause = wait or stop.wait
    while not stop.is_set():
        try:
            handle: BinaryIO = open(path, "rb")  # noqa: SIM115 (closed by the segment)
        except FileNotFoundError:
            pause(poll_seconds)
            continue
        yield _segment(path, handle, poll_seconds=poll_seconds, stop=stop, pause=pause)


def _segment(
    path: str, handle: BinaryIO, *, poll_seconds: float, stop: threading.Event, pause: Callable[[float], object]
) -> Iterator[bytes]:
    partial = b""
    try:
        inode = os.fstat(handle.fileno()).st_ino
        while True:
            chunk = handle.readline()
            if chunk:
                if chunk.endswith(b"\n"):
                    yield partial + chunk
                    partial = b""
                else:
                    partial += chunk
                continue
            if stop.is_set():
                return
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
            if current is not None and current.st_ino != inode:
                if partial:
                    yield partial  # the rotated file is complete: its last line has no newline
                return  # rotated: the next segment opens the new file
            if current is not None and current.st_size < handle.tell():
                return  # truncated: read again from the start
            pause(poll_seconds)
    finally:
        handle.close()
