"""Shadow-AI detection quality on the labelled set kept in the tests: figures and every miss.

python benchmarks/shadow_labelled.py [LABELLED.csv]
"""

from __future__ import annotations

import sys
from pathlib import Path

from aispend.core.shadow.catalog import load_catalog
from aispend.core.shadow.matcher import Matcher
from aispend.core.shadow.quality import read_labelled, report, score

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "tests" / "fixtures" / "shadow" / "labelled_descriptors.csv"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    print(report(score(read_labelled(path), Matcher(load_catalog()))))


if __name__ == "__main__":
    main()
