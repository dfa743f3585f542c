"""The walking skeleton end to end: command line, records, report, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import assert_one_line_error

from accelbench.harness.records import load_record, record_files


def test_importing_packages_imports_no_framework():
    code = (
        "import sys, accelbench.kernels, accelbench.backends, accelbench.harness.cli, accelbench.harness.plan, accelbench.harness.runner, accelbench.harness.launch, accelbench.reports.load;"
        "import accelbench.kernels.gpt2, accelbench.kernels.gemm, accelbench.backends.torch_cpu, accelbench.backends.jax_backend;"
        "bad=[m for m in ('torch','jax','jaxlib','torch_xla') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "--kernel", "nosuch:tiny"], "unknown kernel 'nosuch'"),
        (["run", "--kernel", "gpt2:huge"], "unknown preset 'huge'"),
        (["run", "--kernel", "gemm:tiny", "--backend", "nosuch"], "unknown backend 'nosuch'"),
        (["run", "--kernel", "gemm:tiny", "--set", "nosuch=1"], "unknown --set key 'nosuch'"),
        (["run", "--kernel", "gpt2:tiny", "--set", "batch=two"], "expected an integer"),
        (["run", "--suite", "nosuch"], "unknown suite 'nosuch'"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, tmp_path, args, needle):
    out_dir = tmp_path / "out"
    proc = cli(*args, "--out", out_dir) if args[0] == "run" else cli(*args)
    line = assert_one_line_error(proc.returncode, proc.stderr, needle)
    assert "accepted" in line or "expected" in line or "invalid choice" in line
    assert not out_dir.exists(), "bad input must not create or touch the results folder"


def test_backends_lists_cpu_backends(cli):
    proc = cli("backends", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    for name in ("torch-cpu", "jax-cpu"):
        assert rows[name]["available"], rows[name]
    for row in rows.values():
        assert row["available"] or row["reason"], f"{row['name']} unavailable without a reason"


@pytest.mark.slow
def test_smoke_suite_end_to_end(cli, tmp_path):
    out = tmp_path / "smoke"
    proc = cli("run", "--suite", "smoke", "--out", out, "--steps", "3", "--repeats", "2")
    assert proc.returncode == 0, proc.stderr
    records = [load_record(p) for p in record_files(out)]
    cases = {(r["kernel"]["name"], r["backend"]["name"]) for r in records}
    assert cases == {(k, b) for k in ("gemm", "gpt2") for b in ("torch-cpu", "jax-cpu")}
    for r in records:
        assert r["status"] == "ok", r["error"]
        assert r["numerics"]["passed"] is True, r["numerics"]
        step = r["timing"]["step_s"]
        assert step["min"] <= step["ci95"][0] <= step["median"] <= step["ci95"][1] <= step["max"]
        assert len(r["timing"]["samples_s"]) == 2, "one per-step time per window (2 windows of 3 steps)"
        assert len(r["timing"]["fenced_samples_s"]) == 3 and r["timing"]["fence_audit"]["passed"] is True
        assert r["metrics"]["tflops"] > 0
        assert r["env"]["python"] and r["backend"]["fence"]
    for r in records:
        if r["kernel"]["name"] == "gpt2":
            assert r["metrics"]["tokens_per_s"] > 0
            assert r["numerics"]["loss_last"] < r["numerics"]["loss_first"]
    report = (out / "report.md").read_text()
    assert "gpt2" in report and "torch-cpu" in report and "jax-cpu" in report


@pytest.mark.slow
def test_gpt2_tiny_torch_and_jax_agree_on_first_loss():
    from accelbench import kernels
    kernel = kernels.get("gpt2")
    cfg = kernel.config("tiny")
    state = kernel.make_state(cfg)
    torch_loss = float(kernel.torch_program(cfg, state, "cpu", "fp32").step()["loss"])

    import jax

    program = kernel.jax_program(cfg, "fp32")
    _, outputs = jax.jit(program.step)(program.init(state))
    jax_loss = float(outputs["loss"])
    assert abs(torch_loss - jax_loss) / abs(torch_loss) < 1e-5
    assert np.isfinite(torch_loss) and torch_loss > 0
