"""docs/architecture.md stays true: the files it names exist, the red alert's path is at most 12 files,
and the layers it describes are the import contract lint-imports enforces."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
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


def _imports(tree: ast.Module, module: str, known: set[str]) -> tuple[set[str], list[tuple[str, int]]]:
    """(what `module` imports at module level, what it imports inside functions with the line)."""

    def resolve(name: str) -> str:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name

    top: set[str] = set()
    for node in tree.body:  # module level, including `if TYPE_CHECKING:` and try blocks
        for sub in ast.walk(node) if isinstance(node, ast.If | ast.Try) else [node]:
            top |= {t for t in _targets(sub, resolve) if t and t != module}
    late = [
        (t, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for sub in ast.walk(node)
        for t in _targets(sub, resolve)
        if t and t != module
    ]
    return top, late


def _targets(node: ast.AST, resolve: Callable[[str], str]) -> list[str]:
    if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("aispend"):
        return [resolve(f"{node.module}.{alias.name}") for alias in node.names]
    if isinstance(node, ast.Import):
        return [resolve(alias.name) for alias in node.names if alias.name.startswith("aispend")]
    return []


def test_no_function_level_import_dodges_a_cycle() -> None:
    """An import inside a function is only for start-up time (a heavy module a command may not need);
    never to get round a cycle: moved to module level, none would close one."""
    files = {
        ".".join(p.relative_to(SRC.parent).with_suffix("").parts).removesuffix(".__init__"): p
        for p in SRC.rglob("*.py")
        if "migrations" not in p.parts
    }
    known = set(files)
    graph: dict[str, set[str]] = {}
    late: list[tuple[str, str, int]] = []
    for module, path in files.items():
        top, inner = _imports(ast.parse(path.read_text(encoding="utf-8")), module, known)
        parents = {module.rsplit(".", i)[0] for i in range(1, module.count(".") + 1)} & known
        graph[module] = top | parents
        late += [(module, target, line) for target, line in inner]

    def reaches(start: str, goal: str) -> bool:
        seen, stack = set(), [start]
        while stack:
            current = stack.pop()
            if current == goal:
                return True
            if current not in seen:
                seen.add(current)
                stack.extend(graph.get(current, ()))
        return False

    assert late, "no function-level import found: the check would prove nothing"
    assert [(m, t, line) for m, t, line in late if reaches(t, m)] == []


# Where a transaction is committed by hand, and why; everywhere else a unit of work is
# `session_scope(engine)` (commits) and a bare `Session(engine)` only reads.
HAND_COMMITS = {
    "core/ledger/db.py": "session_scope itself",
    "connectors/files/calls.py": "one commit per import batch on a raw connection",
    "bot/alerts.py": "one claimed notification per transaction, rolled back alone when it fails",
}


def test_only_named_places_commit_by_hand() -> None:
    found = {
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if "migrations" not in path.parts and re.search(r"\b(session|conn)\.commit\(\)", path.read_text())
    }
    assert found == set(HAND_COMMITS)


def test_core_service_functions_take_keywords_after_their_session_and_subject() -> None:
    """`f(session, subject, *, ...)`: a call site names what it passes (docs/architecture.md)."""
    wide = []
    for path in (SRC / "core").rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                positional = [a.arg for a in node.args.posonlyargs + node.args.args]
                if positional[:1] in (["session"], ["engine"], ["conn"]) and len(positional) > 2:
                    wide.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}")
    assert wide == []
