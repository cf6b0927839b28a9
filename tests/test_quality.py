"""The package stays lint-clean and type-clean: ruff and mypy --strict, as configured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_ruff_finds_nothing() -> None:
    """ruff check passes on the package and the tests."""
    done = _run("ruff", "check", "batchcreate", "tests", "benchmarks")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_finds_nothing() -> None:
    """mypy --strict (configured in pyproject.toml) passes on the package."""
    done = _run("mypy")
    assert done.returncode == 0, done.stdout + done.stderr
