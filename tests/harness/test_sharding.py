"""Sharded data parallelism end to end on the CPU (``--set shard=fsdp``):
FSDP2 over gloo with torchrun, and a JAX mesh of 4 host devices with the
parameters and AdamW moments sharded on it. The sharded step computes what
the one-device step computes: after the same steps the loss and the
parameters agree within the fp32 tolerance (1e-5, relative L2 norm over all
parameters, the numerics check's grouping; a single bias that starts at zero
is not held to it alone: AdamW's first steps are about lr·sign(g) there, which
amplifies the rounding of a near-zero gradient, as tests/kernels/test_model_agreement.py notes).

Two checks each: ``accelbench run`` (status, numerics, the record's
``backend.info.parallel.shard``, the last loss against the ``--nproc 1``
record, scaling), and ``tests/sharded_steps.py``, which runs the engine and
the one-device backend from the same state and compares every parameter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from accelbench.harness.launch.jaxmesh import host_device_flags
from accelbench.harness.records import record_files
from accelbench.kernels.precision import policy

pytestmark = pytest.mark.distributed

FP32 = policy("fp32").tolerance
HELPER = Path(__file__).resolve().parents[1] / "sharded_steps.py"


def _records(folder: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in record_files(folder)}


def _run(cli, out, *args):
    proc = cli("run", *args, "--steps", "3", "--repeats", "2", "--warmup", "1", "--out", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    return proc


def _agree(one: dict, sharded: dict, devices: int) -> None:
    for record in (one, sharded):
        assert record["status"] == "ok", record.get("error")
        assert record["numerics"]["passed"] is True and record["numerics"]["tolerance"] == FP32, record["numerics"]
    a, b = one["numerics"]["loss_last"], sharded["numerics"]["loss_last"]
    assert abs(a - b) / abs(a) <= FP32, (a, b)
    shard = sharded["backend"]["info"]["parallel"]["shard"]
    assert shard["strategy"] == "fsdp" and shard["world_size"] == devices, shard
    assert shard["parameter_shards"] == devices and shard["parameters_sharded"] > 0, shard
    assert sharded["backend"]["settings"]["shard"] == "fsdp" and sharded["backend"]["device_count"] == devices
    parallel = sharded["backend"]["info"]["parallel"]
    assert parallel["tokens_per_s_per_device"] == pytest.approx(parallel["tokens_per_s_global"] / devices)
    assert parallel["scaling"]["efficiency"] > 0, parallel["scaling"]  # against the one-device record beside it


@pytest.mark.parametrize("kernel", ["llama", "gpt2"])
def test_torch_fsdp_on_two_ranks_matches_one_device(cli, tmp_path, kernel):
    _run(cli, tmp_path, "--kernel", f"{kernel}:tiny", "--backend", "torch-cpu")
    _run(cli, tmp_path, "--kernel", f"{kernel}:tiny", "--backend", "torch-cpu", "--nproc", "2", "--set", "shard=fsdp",
         "--resume")  # --resume: add the case to the folder
    records = _records(tmp_path)
    one = records[f"{kernel}-tiny--torch-cpu.json"]
    [sharded] = [r for name, r in records.items() if name.endswith("--dp2.json")]
    _agree(one, sharded, 2)
    assert sharded["backend"]["info"]["parallel"]["shard"]["engine_call"] == "torch.distributed.fsdp.fully_shard"
    assert sharded["backend"]["info"]["process_group"] == "gloo"

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           str(HELPER), "torch", kernel, "fsdp", "3"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["parameter_shards"] == 2
    assert result["params"] <= FP32, result  # relative L2 over all parameters, as the numerics check groups them
    assert result["loss_rel"] <= FP32, result


def test_jax_fsdp_on_four_host_devices_matches_one_device(cli, tmp_path):
    _run(cli, tmp_path, "--kernel", "llama:tiny", "--backend", "jax-cpu", "--set", "batch=4")
    _run(cli, tmp_path, "--kernel", "llama:tiny", "--backend", "jax-cpu", "--nproc", "4", "--set", "batch=4",
         "--set", "shard=fsdp", "--resume")  # --resume: add the case to the folder
    records = _records(tmp_path)
    [one] = [r for r in records.values() if r["backend"]["device_count"] == 1]
    [sharded] = [r for name, r in records.items() if name.endswith("--dp4.json")]
    _agree(one, sharded, 4)
    info = sharded["backend"]["info"]
    assert info["mesh"] == {"data": 4}
    assert info["parallel"]["shard"]["parameter_elements_per_device"] * 4 <= info["parallel"]["shard"]["parameter_elements"] * 1.01

    env = {**os.environ, "XLA_FLAGS": host_device_flags(os.environ.get("XLA_FLAGS", ""), 4), "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, str(HELPER), "jax", "llama", "fsdp", "3", "4"], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["devices"] == 4 and result["parameter_shards"] == 4
    assert result["params"] <= FP32, result  # relative L2 over all parameters, as the numerics check groups them
    assert result["loss_rel"] <= FP32, result


def test_jax_replicated_mesh_still_replicates(tmp_path):
    """shard=none keeps today's replicas: every parameter whole on every device."""
    env = {**os.environ, "XLA_FLAGS": host_device_flags(os.environ.get("XLA_FLAGS", ""), 2), "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, str(HELPER), "jax", "gpt2", "none", "2", "2"], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["parameter_shards"] == 1 and result["params"] <= FP32, result
