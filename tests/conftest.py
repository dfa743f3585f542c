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
