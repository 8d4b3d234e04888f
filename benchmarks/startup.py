"""Benchmark: start-up time of the `aispend` command against importing its three base libraries.

    python benchmarks/startup.py [--runs 10] [--limit 2.5]

Times, wall clock, each in a fresh process and interleaved round by round (so that a busy machine
slows every command alike): `python -c "import sqlalchemy, typer, rich"` (the baseline: what any
command of this CLI has to import), `aispend --help`, `aispend --version` and `aispend report top` on
an empty, already migrated SQLite database. Prints each command's median and fastest run, its median
against the baseline's and the limit (issue 13: within 2.5x), and how many modules `aispend --help`
imports. Exits 1 when a measured command is over the limit or fails. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = "import sqlalchemy, typer, rich"


def aispend_command() -> list[str]:
    """The console script beside this interpreter, else the module (same code, same imports)."""
    script = Path(sys.executable).with_name("aispend")
    return [str(script)] if script.exists() else [sys.executable, "-m", "aispend.cli.main"]


def run(argv: list[str], env: dict[str, str], failed: set[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if done.returncode:
        failed.add(" ".join(argv[-2:]))  # timed all the same (an older aispend has no --version)
    return time.perf_counter() - started


def modules_imported(argv: list[str], env: dict[str, str]) -> int:
    """Modules a run imports, from Python's own import-time log."""
    profiled = {**env, "PYTHONPROFILEIMPORTTIME": "1"}
    done = subprocess.run(argv, env=profiled, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return sum(1 for line in done.stderr.decode().splitlines() if line.startswith("import time:") and "|" in line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="rounds (each runs every command once)")
    parser.add_argument("--limit", type=float, default=2.5, help="allowed median, as a multiple of the baseline's")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="aispend-startup-"))
    env = {**os.environ, "AISPEND_DATABASE_URL": f"sqlite:///{workdir / 'aispend.db'}"}
    aispend = aispend_command()
    commands = {
        "baseline (import sqlalchemy, typer, rich)": [sys.executable, "-c", BASELINE],
        "aispend --help": [*aispend, "--help"],
        "aispend --version": [*aispend, "--version"],
        "aispend report top (empty database)": [*aispend, "report", "top"],
    }
    failed: set[str] = set()
    try:
        for argv in commands.values():  # warm the file cache; the first report top migrates the database
            run(argv, env, failed)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                times[name].append(run(argv, env, failed))
        modules = modules_imported(commands["aispend --help"], env)
        base_modules = modules_imported(commands["baseline (import sqlalchemy, typer, rich)"], env)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    baseline = statistics.median(times["baseline (import sqlalchemy, typer, rich)"])
    over = False
    print(f"{args.runs} rounds, {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}")
    print(f"{'command':<44} {'median':>8} {'fastest':>8} {'x baseline':>10}  limit {args.limit}x")
    for name, values in times.items():
        median = statistics.median(values)
        ratio = median / baseline
        verdict = "" if name.startswith("baseline") else ("ok" if ratio <= args.limit else "OVER")
        over = over or verdict == "OVER"
        print(f"{name:<44} {median:7.2f}s {min(values):7.2f}s {ratio:9.2f}x  {verdict}")
    print(f"modules imported: aispend --help {modules:,}, baseline {base_modules:,}")
    for argv in sorted(failed):
        print(f"failed (exit status not 0): {argv}")
    return 1 if over or failed else 0


if __name__ == "__main__":
    sys.exit(main())
