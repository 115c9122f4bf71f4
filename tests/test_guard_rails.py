"""Static guard rails: ruff, import-linter and mypy, run as the README says, so CI runs them too.

Their configuration is in pyproject.toml ([tool.ruff], [tool.importlinter],
[tool.mypy]); the tools come with the ``test`` extra. A missing tool fails
here (it is never skipped): a green suite must mean the rails were checked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("MYPY_FORCE_COLOR", "0")
    env["NO_COLOR"] = "1"
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)


def _require(module: str) -> None:
    probe = _run(["-c", f"import {module}"])
    assert probe.returncode == 0, (f"{module} is not installed: install the test extra "
                                   f"(./quickstart.sh setup, or pip install -e '.[test]')\n{probe.stderr}")


def test_ruff_check_passes():
    _require("ruff")
    result = _run(["-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."])
    assert result.returncode == 0, f"ruff check found problems:\n{result.stdout}{result.stderr}"


def test_import_contracts_are_kept():
    _require("importlinter")
    result = _run(["-c", "import sys; from importlinter.cli import lint_imports_command; "
                         "sys.exit(lint_imports_command())", "--no-cache", "--no-logo"])
    out = result.stdout + result.stderr
    assert result.returncode == 0, f"lint-imports: a contract is broken:\n{out}"
    assert "0 broken" in out and "kept" in out, out


def test_import_contracts_ignore_no_imports():
    """The contracts hold as written: no contract carries an ``ignore_imports`` escape hatch."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:                                       # pragma: no cover - Python 3.10
        import tomli as tomllib
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    assert {c["id"] for c in contracts} >= {"engine-headless", "engine-layers", "ui-no-selftest"}
    assert not [c["id"] for c in contracts if c.get("ignore_imports")]
    layers = next(c for c in contracts if c["id"] == "engine-layers")
    assert layers["exhaustive"] is True        # a new engine package must be given its place


@pytest.mark.slow
def test_mypy_engine_passes():
    _require("mypy")
    result = _run(["-m", "mypy"])               # files and options: [tool.mypy] in pyproject.toml
    assert result.returncode == 0, f"mypy medadv_desktop/engine found problems:\n{result.stdout}{result.stderr}"
