"""The README's weekly review is what a new user sees: a fresh `aispend demo` (the default, fixed as-of day)
prints it, and every `aispend report top … --json` command the README gives returns the same figures.

The demo runs once per module on its own SQLite file, as a new user's first run would.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aispend.cli.main import app
from aispend.cli.runtime import Runtime
from aispend.core.money import format_money
from aispend.core.settings import load_settings
from aispend.demo.company import RUNAWAY_WORKFLOW
from tests.clihelp import run_cli
from tests.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"

HEADER = re.compile(
    r"^Top (?P<limit>\d+) by workflow — week of (?P<week>\d{4}-\d\d-\d\d): "
    r"total (?P<total>\$[\d,.]+) \((?P<change>[+-][\d.]+)% vs previous\)$"
)
OTHER = re.compile(r"^Other (?P<count>\d+) workflow\(s\): (?P<cost>\$[\d,.]+)$")
UNPRICED = re.compile(r"^Unpriced: (?P<calls>[\d,]+) calls not in the totals")
SHARE = re.compile(
    r"● (?P<label>.+?) takes (?P<share>[\d.]+)% of all AI spend \((?P<change>[+-][\d.]+)% week over week\)"
)


@dataclass(frozen=True)
class Row:
    rank: int
    label: str
    cost: str
    change: str
    share: str
    calls: int
    runs: int
    per_run: str
    per_outcome: str
    owner: str


@dataclass(frozen=True)
class Review:
    """The README's weekly-review block, read back into figures."""

    lines: list[str]  # the block as printed, up to the share sentence
    sentence: str  # the share sentence, unwrapped
    header: dict[str, str]
    rows: list[Row]
    other: dict[str, str]
    unpriced_calls: int
    share: dict[str, str]


def readme_review(text: str) -> Review:
    block = re.search(r"```\n(Weekly review —.*?)```", text, re.S)
    assert block, "the README has no weekly-review block"
    lines = block.group(1).rstrip("\n").split("\n")
    split = next(i for i, line in enumerate(lines) if line.startswith("●"))
    sentence = " ".join(line.strip() for line in lines[split:])
    table = lines[:split]
    header = _match(HEADER, table[1])
    rows = [_row(line) for line in table if line.startswith("│")]
    other = _match(OTHER, next(line for line in table if line.startswith("Other ")))
    unpriced = _match(UNPRICED, next(line for line in table if line.startswith("Unpriced:")))
    share = SHARE.match(sentence)
    assert share, sentence
    while table and not table[-1]:
        table.pop()
    return Review(table, sentence, header, rows, other, int(unpriced["calls"].replace(",", "")), share.groupdict())


def _match(pattern: re.Pattern[str], line: str) -> dict[str, str]:
    found = pattern.match(line)
    assert found, f"README line does not read as {pattern.pattern!r}: {line!r}"
    return found.groupdict()


def _row(line: str) -> Row:
    cells = [c.strip() for c in line.strip("│").split("│")]
    rank, label, cost, change, share, calls, runs, per_run, per_outcome, owner = cells
    return Row(
        int(rank), label, cost, change, share, int(calls.replace(",", "")), int(runs.replace(",", "")),
        per_run, per_outcome, owner,
    )  # fmt: skip


def readme_json_commands(text: str) -> list[list[str]]:
    """Every `aispend report top … --json` command the README shows, as CLI arguments (not the usage
    synopsis, whose options are in brackets)."""
    found = re.findall(r"`aispend (report top [^`\[]*--json[^`\[]*)`", text)
    return [shlex.split(command) for command in found]


def money(value: dict[str, Any]) -> str:
    return format_money(Decimal(value["amount"]), value["currency"])


def pct(value: str | None) -> str:
    assert value is not None
    return f"+{value}" if not value.startswith("-") else value


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(database URL, output) of a first `aispend demo` with no option, on an empty SQLite file."""
    url = f"sqlite:///{tmp_path_factory.mktemp('readme') / 'aispend.db'}"
    result = run_cli(["demo"], url)
    assert result.exit_code == 0, result.output
    return url, result.output


def test_readme_weekly_review_is_what_a_fresh_default_demo_prints(demo_db: tuple[str, str]) -> None:
    _, output = demo_db
    review = readme_review(README.read_text(encoding="utf-8"))
    printed = [line.rstrip() for line in output.split("\n")]
    start = printed.index(review.lines[0])
    assert printed[start : start + len(review.lines)] == review.lines
    assert review.sentence in " ".join(output.split())


def test_readme_figures_are_what_its_report_top_commands_return(demo_db: tuple[str, str]) -> None:
    url, _ = demo_db
    text = README.read_text(encoding="utf-8")
    review = readme_review(text)
    commands = readme_json_commands(text)
    assert commands, "the README shows no `aispend report top … --json` command"
    for args in commands:
        result = run_cli(args, url)
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)
        assert report["period"]["start"] == review.header["week"]
        assert [money(t) for t in report["totals"]] == [review.header["total"]]
        assert pct(report["total_change_pct"]) == review.header["change"]
        shown = [
            Row(
                r["rank"], r["label"], money(r["cost"]), f"{pct(r['change_pct'])}%", f"{r['share_pct']}%", r["calls"],
                r["runs"], money(r["cost_per_run"]), f"{money(r['cost_per_outcome'])} / {r['outcome_unit']}",
                r["owner"],
            )
            for r in report["rows"][: int(review.header["limit"])]
        ]  # fmt: skip
        assert shown == review.rows
        assert report["other"]["count"] == int(review.other["count"])
        assert [money(c) for c in report["other"]["costs"]] == [review.other["cost"]]
        assert report["unpriced"]["calls"] == review.unpriced_calls
        runaway = next(r for r in report["rows"] if r["key"] == RUNAWAY_WORKFLOW)
        assert review.share == {
            "label": runaway["label"],
            "share": runaway["share_pct"],
            "change": pct(runaway["change_pct"]),
        }


def test_the_demo_never_reads_the_wall_clock(demo_db: tuple[str, str], tmp_path: Path) -> None:
    """The same demo run by a process whose clock says another year prints the same review and Slack preview."""
    _, default_output = demo_db
    url = f"sqlite:///{tmp_path / 'aispend.db'}"
    elsewhere = Runtime(settings=load_settings(database_url=url), clock=lambda: datetime(2031, 5, 17, 15, tzinfo=UTC))
    result = CliRunner().invoke(app, ["demo"], obj=elsewhere)
    assert result.exit_code == 0, result.output

    def steady(output: str) -> str:
        # From the review on: the lines before it name the database, and the time the run took may differ.
        return re.sub(r"Done in [\d.]+ s", "", output[output.index("Weekly review") :])

    assert steady(result.output) == steady(default_output)


def contained(example: Any, real: Any) -> bool:
    """`example` is `real` with fields or list items left out (the docs show the first row only)."""
    if isinstance(example, dict):
        return isinstance(real, dict) and all(k in real and contained(v, real[k]) for k, v in example.items())
    if isinstance(example, list):
        return isinstance(real, list) and len(example) <= len(real) and all(map(contained, example, real))
    return bool(example == real)


def test_report_json_examples_in_the_docs_are_the_demos_real_output(demo_db: tuple[str, str]) -> None:
    """docs/reports.md shows each example beside the command that prints it on the demo."""
    url, _ = demo_db
    docs = (REPO_ROOT / "docs" / "reports.md").read_text(encoding="utf-8")
    examples = re.findall(r"\(`aispend (report [^`]*--json)`\),?\s+first row only:\n\n```json\n(.*?)```", docs, re.S)
    assert len(examples) == 2
    for command, example in examples:
        result = run_cli(shlex.split(command), url)
        assert result.exit_code == 0, result.output
        assert contained(json.loads(example), json.loads(result.output)), command
