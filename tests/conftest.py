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


def synthetic(kernel="gpt2", backend="torch-cuda", device="NVIDIA H100 80GB HBM3", catalog_key="h100-sxm",
              median=0.1, count=1, tokens=16384, flops=1e15, bytes_=None, status="ok", **parts):
    """A made-up result record with every part a report reads (the reports' fake)."""
    import dataclasses

    import numpy as np

    from accelbench.harness import stats
    from accelbench.harness.records import (BackendPart, KernelPart, MetricsPart, NumericsPart, ResultRecord,
                                            TimingPart)

    samples = median * np.exp(np.random.default_rng(0).normal(0, 0.01, 20))
    summary = stats.summarize(samples)
    rec = ResultRecord(
        run_id="synthetic", created_at="2026-11-26T00:00:00+00:00", status=status,
        kernel=KernelPart(name=kernel, preset="124m", config={"batch": 16}, flops_per_step=flops,
                          bytes_per_step=bytes_, tokens_per_step=tokens, flop_convention="palm-6N+12LdT"),
        backend=BackendPart(name=backend, framework="torch", device_kind=device, device_catalog_key=catalog_key,
                            device_count=count, precision="bf16", fence="CUDA events around the steps"),
        timing=TimingPart(compile_s=20.0, steps=10, repeats=3, warmup_steps=2, samples_s=list(samples),
                          step_s=dataclasses.asdict(summary)),
        metrics=MetricsPart(tokens_per_s=tokens / median if tokens else None, tflops=flops / median / 1e12),
        numerics=NumericsPart(passed=True, reference="torch-cpu fp64"),
        env={"python": "3.11.7", "torch": "2.13.0+cu128"},
    )
    for name, value in parts.items():
        setattr(rec, name, value)
    return rec
