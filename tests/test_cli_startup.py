"""Starting `aispend` imports no provider SDK, no plotting library and no migration tool; `--version` answers.

benchmarks/startup.py measures the time; these tests pin the imports that made it slow (issue 13).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

from typer.testing import CliRunner

from aispend import __version__
from aispend.cli.main import app
from tests.conftest import REPO_ROOT

# Imported only by the command that uses each: sync (the SDKs), the digest (matplotlib), the schema (alembic).
DEFERRED = ("openai", "boto3", "botocore", "azure", "google.cloud", "grpc", "matplotlib", "alembic")


def imported_at_start(code: str) -> list[str]:
    """Which DEFERRED packages a fresh interpreter has loaded after `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {DEFERRED!r} if m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_help_imports_no_provider_sdk_plotting_or_migrations() -> None:
    code = "\n".join(
        (
            "import sys",
            "from aispend.cli.main import app",
            "sys.argv = ['aispend', '--help']",
            "try:",
            "    app()",
            "except SystemExit:",
            "    pass",
        )
    )
    assert imported_at_start(code) == []


def test_building_the_connectors_still_imports_their_sdk() -> None:
    code = "\n".join(
        (
            "from aispend.connectors.registry import build_connectors",
            "from aispend.core.settings import load_settings",
            "build_connectors(load_settings(), ['openai', 'aws'])",
        )
    )
    assert {"openai", "boto3"} <= set(imported_at_start(code))


def test_version_prints_the_package_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"aispend {__version__}\n"
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["version"] == __version__  # one version, whichever file is read
