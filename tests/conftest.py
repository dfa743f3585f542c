"""Shared test helpers: run the real command line in a subprocess."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run_cli(*args, timeout=600, env=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "accelbench.harness.cli", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd,
    )


@pytest.fixture
def cli():
    return run_cli


def assert_one_line_error(returncode: int, stderr: str, needle: str = "") -> str:
    """Bad input's contract: exit 2 and one line `accelbench: error: ...` (containing ``needle``)."""
    assert returncode == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("accelbench: error:") and needle in lines[0], stderr
    return lines[0]
