"""The session rule (docs/ledger.md): a function that takes a Session or a Connection never commits; one
that takes an Engine opens and commits its own transaction."""

from __future__ import annotations

import ast
from pathlib import Path

import aispend

SOURCE = Path(aispend.__file__).parent
# The migration lock's own transaction: the unit of work `upgrade(engine)` opens (docs/ledger.md).
ALLOWED = {("core/ledger/db.py", "_migration_transaction")}


def _committing_functions() -> set[tuple[str, str]]:
    found = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            given = {
                a.arg
                for a in arguments
                if a.annotation is not None and any(t in ast.unparse(a.annotation) for t in ("Session", "Connection"))
            }
            for call in ast.walk(node):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr in ("commit", "rollback")
                    and isinstance(call.func.value, ast.Name)
                    and call.func.value.id in given
                ):
                    found.add((path.relative_to(SOURCE).as_posix(), node.name))
    return found


def test_no_function_given_a_session_or_a_connection_commits() -> None:
    assert _committing_functions() == ALLOWED
