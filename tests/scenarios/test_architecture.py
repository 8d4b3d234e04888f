"""docs/architecture.md stays true: the files it names exist, the red alert's path is at most 12 files,
and the layers it describes are the import contract lint-imports enforces."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

DOC = (REPO_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
SRC = REPO_ROOT / "src" / "aispend"


def section(title: str) -> str:
    start = DOC.index(f"## {title}")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end != -1 else None]


def test_every_module_path_the_document_names_exists() -> None:
    named = set(re.findall(r"`((?:[a-z_]+/)+[a-z_]+\.py)", DOC)) | set(re.findall(r"`(app\.py)`", DOC))
    assert named, "the document names no module"
    assert sorted(p for p in named if not (SRC / p).is_file()) == []


def test_the_red_alert_passes_through_at_most_twelve_files_in_order() -> None:
    steps = re.findall(r"^\d+\. `([^`]+\.py)`", section("The path of one red alert"), re.M)
    assert 1 < len(steps) <= 12
    assert len(set(steps)) == len(steps)
    assert steps[0].startswith("jobs/") and steps[-1] == "bot/transport.py"


def test_the_layers_are_the_import_contract_and_it_is_kept() -> None:
    pyproject = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for layer in ("aispend.cli", "aispend.app | aispend.demo", "aispend.bot | aispend.jobs", "aispend.connectors"):
        assert f'"{layer}"' in pyproject
    tool = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if tool is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    done = subprocess.run([tool], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout
