"""Shadow-AI quality on a labelled set of whole export files (the held-out evaluation set): parse the
files in their platforms' layouts, classify, link duplicates, compare with labels.csv
(file,row,is_ai,vendor,borderline,duplicate_of) and list every miss."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from aispend.connectors.expenses.parse import parse_files
from aispend.core.shadow.classify import classify
from aispend.core.shadow.matcher import Matcher


@dataclass
class Evaluation:
    rows: int = 0
    platforms: dict[str, str] = field(default_factory=dict)
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0
    vendor_right: int = 0
    hard_negatives: int = 0
    hard_negatives_matched: int = 0
    borderline: int = 0
    borderline_right: int = 0
    needs_review: int = 0
    duplicates: int = 0
    duplicates_found: int = 0
    false_duplicates: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        found = self.true_positive + self.false_positive
        return self.true_positive / found if found else 1.0

    @property
    def recall(self) -> float:
        real = self.true_positive + self.false_negative
        return self.true_positive / real if real else 1.0

    @property
    def vendor_accuracy(self) -> float:
        return self.vendor_right / self.true_positive if self.true_positive else 1.0

    @property
    def borderline_accuracy(self) -> float:
        return self.borderline_right / self.borderline if self.borderline else 1.0

    @property
    def duplicate_recall(self) -> float:
        return self.duplicates_found / self.duplicates if self.duplicates else 1.0

    def text(self) -> str:
        lines = [
            f"rows {self.rows} in {', '.join(f'{f} ({p})' for f, p in sorted(self.platforms.items()))}",
            f"precision {self.precision:.3f}  recall {self.recall:.3f}  vendor accuracy {self.vendor_accuracy:.3f}",
            f"hard negatives matched {self.hard_negatives_matched} of {self.hard_negatives}; "
            f"borderline accuracy {self.borderline_accuracy:.3f} ({self.borderline_right}/{self.borderline}); "
            f"needs review {self.needs_review}",
            f"duplicate recall {self.duplicate_recall:.3f} ({self.duplicates_found}/{self.duplicates}); "
            f"false duplicates {self.false_duplicates}",
            f"misses ({len(self.misses)}):",
            *(f"  {m}" for m in self.misses),
        ]
        return "\n".join(lines)


def evaluate_directory(directory: Path, matcher: Matcher) -> Evaluation:
    with (directory / "labels.csv").open(newline="") as handle:
        labels = {(r["file"], int(r["row"])): r for r in csv.DictReader(handle)}
    files = sorted({directory / name for name, _ in labels})
    parsed = parse_files(files, None)
    result = Evaluation(platforms=dict(parsed.platforms))
    result.misses += [f"parse: {e}" for e in parsed.errors]
    for c in classify(parsed.rows, matcher):
        where = f"{c.row.file}:{c.row.row}"
        label = labels.get((c.row.file, c.row.row))
        if label is None:
            result.misses.append(f"{where}: no label")
            continue
        result.rows += 1
        real, vendor, borderline = label["is_ai"] == "1", label["vendor"], label["borderline"] == "1"
        said = c.verdict.is_ai
        what = f"{where} {c.row.descriptor!r}"
        result.needs_review += c.verdict.needs_review
        if borderline:
            result.borderline += 1
            result.borderline_right += said == real
        elif not real and not vendor:
            result.hard_negatives += 1
            result.hard_negatives_matched += said
        if real and said:
            result.true_positive += 1
            if c.verdict.vendor == vendor:
                result.vendor_right += 1
            else:
                result.misses.append(f"{what}: vendor {c.verdict.vendor} (expected {vendor})")
        elif real:
            result.false_negative += 1
            result.misses.append(f"{what}: missed {vendor} ({c.verdict.reason})")
        elif said:
            result.false_positive += 1
            result.misses.append(f"{what}: matched {c.verdict.vendor}, not AI ({c.verdict.reason})")
        expected = label["duplicate_of"]
        got = f"{c.duplicate_of.file}:{c.duplicate_of.row}" if c.duplicate_of is not None else ""
        if expected:
            result.duplicates += 1
            if got == expected:
                result.duplicates_found += 1
            else:
                result.misses.append(f"{what}: duplicate of {expected} not found (got {got or 'none'})")
        elif got:
            result.false_duplicates += 1
            result.misses.append(f"{what}: marked duplicate of {got}, which it is not")
    return result
