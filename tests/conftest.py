"""Shared test helpers: run the real command line in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Tests never reach a real cloud metadata service, even on a cloud instance: the link-local address is
# never asked (facts/host.py); tests that need one point AWS_EC2_METADATA_SERVICE_ENDPOINT at 127.0.0.1.
os.environ["ACCELBENCH_NO_LINK_LOCAL_METADATA"] = "true"


def run_cli(*args, timeout=600, env=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "accelbench.harness.cli", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd,
    )


@pytest.fixture
def cli():
    return run_cli


def venv_prefix() -> Path:
    """This environment's prefix, laid out as a venv (bin/accelbench), for ci/cloud/run_suites.sh; skips without one."""
    prefix = Path(sys.executable).parent.parent
    if not (prefix / "bin" / "accelbench").exists():
        pytest.skip("accelbench's console script is not in this interpreter's bin/")
    return prefix


def assert_one_line_error(returncode: int, stderr: str, needle: str = "") -> str:
    """Bad input's contract: exit 2 and one line `accelbench: error: ...` (containing ``needle``)."""
    assert returncode == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("accelbench: error:") and needle in lines[0], stderr
    return lines[0]
