"""The benchmark scripts import what the code base has today (they are not run by the suite, so a
rename would otherwise only show when someone measures)."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import REPO_ROOT

SCRIPTS = sorted((REPO_ROOT / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_the_benchmark_imports(script: object) -> None:
    spec = importlib.util.spec_from_file_location(f"benchmark_{script.stem}", script)  # type: ignore[attr-defined]
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
