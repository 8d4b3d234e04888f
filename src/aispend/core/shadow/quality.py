"""Detection quality on a labelled set of card lines: precision, recall, vendor accuracy, every miss.

A labelled CSV has columns group, descriptor, merchant, memo, amount, currency, is_ai (1/0), vendor.
Group "hard_negative" marks look-alikes that must never match. Companies can score their own set.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from aispend.core.shadow.matcher import Matcher, Verdict


@dataclass(frozen=True)
class LabelledLine:
    group: str
    descriptor: str
    merchant: str
    memo: str
    amount: Decimal
    currency: str
    is_ai: bool
    vendor: str


@dataclass
class Scores:
    lines: int = 0
    ai_lines: int = 0
    vendors: int = 0
    hard_negatives: int = 0
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    vendor_correct: int = 0
    hard_negatives_matched: int = 0
    needs_review: int = 0
    misses: list[tuple[str, LabelledLine, Verdict]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.ai_lines if self.ai_lines else 1.0

    @property
    def vendor_accuracy(self) -> float:
        return self.vendor_correct / self.true_positives if self.true_positives else 1.0

    def summary(self) -> str:
        return (
            f"{self.lines} lines ({self.ai_lines} AI, {self.vendors} vendors, "
            f"{self.hard_negatives} hard negatives): "
            f"precision {self.precision:.3f}, recall {self.recall:.3f}, "
            f"vendor correct {self.vendor_accuracy:.3f} ({self.vendor_correct}/{self.true_positives}), "
            f"hard negatives matched {self.hard_negatives_matched}, needs review {self.needs_review}"
        )


def read_labelled(path: Path) -> list[LabelledLine]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            LabelledLine(
                group=row["group"],
                descriptor=row["descriptor"],
                merchant=row["merchant"],
                memo=row["memo"],
                amount=Decimal(row["amount"]),
                currency=row["currency"],
                is_ai=row["is_ai"] == "1",
                vendor=row["vendor"],
            )
            for row in csv.DictReader(handle)
        ]


def score(lines: list[LabelledLine], matcher: Matcher) -> Scores:
    scores = Scores(lines=len(lines))
    scores.vendors = len({line.vendor for line in lines if line.is_ai})
    for line in lines:
        verdict = matcher.classify(line.descriptor, line.merchant, line.memo, line.amount, line.currency)
        scores.ai_lines += line.is_ai
        scores.hard_negatives += line.group == "hard_negative"
        scores.needs_review += verdict.needs_review
        if line.is_ai and verdict.is_ai:
            scores.true_positives += 1
            if verdict.vendor == line.vendor:
                scores.vendor_correct += 1
            else:
                scores.misses.append(("wrong vendor", line, verdict))
        elif line.is_ai:
            scores.false_negatives += 1
            scores.misses.append(("missed", line, verdict))
        elif verdict.is_ai:
            scores.false_positives += 1
            scores.hard_negatives_matched += line.group == "hard_negative"
            scores.misses.append(("false match", line, verdict))
    return scores


def report(scores: Scores) -> str:
    lines = [scores.summary()]
    for kind, line, verdict in scores.misses:
        lines.append(
            f"  {kind}: [{line.group}] {line.descriptor!r} memo={line.memo!r} {line.amount} {line.currency} "
            f"expected={line.vendor or 'not AI'} got={verdict.vendor or 'not AI'} ({verdict.reason})"
        )
    return "\n".join(lines)
