"""Shadow-AI quality on the held-out evaluation set (whole exports in four platforms' layouts).

python benchmarks/shadow_eval.py [DIRECTORY]   (default: tests/fixtures/shadow_eval)
"""

from __future__ import annotations

import sys
from pathlib import Path

from aispend.connectors.expenses.evaluation import evaluate_directory
from aispend.core.shadow.catalog import load_catalog
from aispend.core.shadow.matcher import Matcher

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "tests" / "fixtures" / "shadow_eval"


def main() -> None:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    print(evaluate_directory(directory, Matcher(load_catalog())).text())


if __name__ == "__main__":
    main()
