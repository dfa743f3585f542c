"""The PyTorch/XLA tier (marker ``xla``): run in a venv with torch-xla, via ci/xla_tier.sh.

Every kernel's ``tiny`` preset with a torch lowering runs on torch-xla with
PJRT on the CPU through the real command line (one process per case); each
record must be ``ok``, pass numerics, and report its XLA compile count with
no recompilation during the timed steps. A second test makes the timed steps
recompile on purpose and checks the backend flags it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from accelbench import kernels
from accelbench.harness.records import record_files

pytestmark = pytest.mark.xla

TORCH_KERNELS = [name for name in kernels.names() if kernels.get(name).lowerings()["torch"]]


@pytest.fixture(scope="module")
def tiny_records(tmp_path_factory):
    out = tmp_path_factory.mktemp("xla-tier")
    args = ["run", "--backend", "torch-xla", "--set", "pjrt_device=CPU", "--steps", "3", "--warmup", "1",
            "--repeats", "2", "--out", out]
    for name in TORCH_KERNELS:
        args += ["--kernel", f"{name}:tiny"]
    proc = subprocess.run([sys.executable, "-m", "accelbench.harness.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=1800, env={**os.environ, "PJRT_DEVICE": "CPU"})
    records = {}
    for path in record_files(out):
        data = json.loads(path.read_text())
        records[data["kernel"]["name"]] = data
    return proc, records


def test_backend_available_in_this_venv():
    from accelbench import backends
    assert backends.availability("torch-xla").ok, backends.availability("torch-xla").reason


@pytest.mark.parametrize("name", TORCH_KERNELS)
def test_tiny_preset_on_torch_xla(tiny_records, name):
    proc, records = tiny_records
    assert name in records, f"no record for {name}; stderr:\n{proc.stderr[-3000:]}"
    rec = records[name]
    assert rec["status"] == "ok", rec.get("error")
    assert rec["backend"]["precision"] == "fp32"
    assert rec["numerics"]["passed"] is True, rec["numerics"]
    info = rec["backend"]["info"]
    assert info["pjrt_device"] == "CPU"
    assert info["xla_compiles"] >= 1 and info["xla_compile_s"] > 0, info
    assert info["recompiled_during_timing"] is False, info
    assert info["xla_compiles_during_timing"] == 0
    assert rec["timing"]["compile_s"] > 0 and rec["timing"]["step_s"]["median"] > 0


def test_recompiling_steps_are_flagged():
    """A step whose graph changes shape every call recompiles each time; the
    backend must count those compilations inside the timed window."""
    import torch

    from accelbench.backends.base import PreparedStep
    from accelbench.backends.torch_xla import TorchXlaBackend, XlaSettings
    from accelbench.harness import timing

    backend = TorchXlaBackend(XlaSettings(pjrt_device="CPU"))
    device = backend.torch_device()
    size = {"n": 8}

    def step():
        size["n"] += 1  # a new shape: a new graph for XLA to compile
        x = torch.ones(size["n"], size["n"], device=device)
        out = {"loss": (x @ x).sum()}
        import torch_xla

        torch_xla.sync()
        return out

    prepared = PreparedStep(step=step, observe=dict)
    step()
    backend.fence(None)
    window_s, outputs = timing.time_window(backend, prepared, 3)  # the timed call (harness.timing): 3 steps, one fence
    info = backend.after_timing(prepared)
    assert window_s > 0
    assert info["recompiled_during_timing"] is True
    assert info["xla_compiles_during_timing"] >= 3, info
    assert backend.to_scalar(outputs["loss"]) == float(size["n"] ** 3)


def test_the_audits_read_back_is_not_a_recompile_during_timing():
    """Graphs compiled after the last timed window (the fence audit's read-back) are counted apart."""
    import torch

    from accelbench.backends.base import PreparedStep
    from accelbench.backends.torch_xla import TorchXlaBackend, XlaSettings

    backend = TorchXlaBackend(XlaSettings(pjrt_device="CPU"))
    device = backend.torch_device()
    x = torch.ones(8, 8, device=device)

    def step():
        import torch_xla

        out = {"loss": (x @ x).sum()}
        torch_xla.sync()
        return out

    from accelbench.harness import timing

    prepared = PreparedStep(step=step, observe=dict)
    backend.fence(step())  # the first step: its graph also materializes x
    backend.fence(step())  # warm-up, as the core does: the graph of the steady step, x already on the device
    timing.time_window(backend, prepared, 3)  # the one step loop (it takes the backend's compile snapshot first)
    backend.end_timing()
    y = torch.ones(5, 7, device=device).sum()  # a new graph, as the audit's read-back cuts
    backend.to_scalar(y)
    info = backend.after_timing(prepared)
    assert info["xla_compiles_during_timing"] == 0 and info["recompiled_during_timing"] is False, info
    assert info["xla_compiles_after_timing"] >= 1 and info["compile_s_before_timing"] > 0, info
