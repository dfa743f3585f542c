"""Accelerator backends on a machine without accelerators: listing, the
reasons a user can act on, settings validation, and the decision logic fed
with facts recorded on real machines (tests/fixtures/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import assert_one_line_error

from accelbench.backends import discovery
from accelbench.backends.base import BackendError
from accelbench.backends.jax_backend import JaxAccelSettings, JaxGpuBackend, JaxNeuronBackend, JaxTpuBackend, accel_availability
from accelbench.backends.torch_cuda import CudaSettings, TorchCudaBackend, TorchProbe, cuda_availability
from accelbench.backends.torch_neuron import neuron_availability, torch_neuronx_kind
from accelbench.backends.torch_xla import TorchXlaBackend, XlaSettings, resolve_pjrt_device, with_cache_dir, xla_availability

ACCEL = ("torch-cuda", "torch-xla", "torch-neuron", "jax-gpu", "jax-tpu", "jax-neuron")
H200_PROBE = json.loads((Path(__file__).parents[1] / "fixtures" / "nvidia-h200" / "python-probe.json").read_text())
NO_GPU = (False, "nvidia-smi not on PATH, no /dev/nvidia0")
NO_AMD = (False, "no /dev/kfd")


def _never():
    raise AssertionError("the torch probe must not run when a cheap check already failed")


def test_backends_lists_every_accelerator_backend_with_a_reason(cli):
    proc = cli("backends", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert set(ACCEL) <= set(rows)
    for name in ACCEL:
        assert rows[name]["fence"], name
        if not rows[name]["available"]:
            assert len(rows[name]["reason"]) > 20, rows[name]


@pytest.mark.skipif(discovery.nvidia_gpu_present()[0] or discovery.amd_gpu_present()[0], reason="a GPU is here")
def test_gpu_backends_say_why_not_here():
    reason = TorchCudaBackend.available().reason
    assert "no NVIDIA or AMD GPU found" in reason and "/dev/nvidia0" in reason
    reason = JaxGpuBackend.available().reason
    assert "no NVIDIA or AMD GPU found" in reason


@pytest.mark.skipif(bool(discovery.neuron_device_nodes()), reason="Neuron devices are here")
def test_neuron_backends_say_why_not_here():
    from accelbench.backends.torch_neuron import TorchNeuronBackend

    for backend in (JaxNeuronBackend, TorchNeuronBackend):
        assert "no /dev/neuron*" in backend.available().reason, backend.name


@pytest.mark.skipif(discovery.tpu_chips().count > 0, reason="TPUs are here")
def test_tpu_backend_says_why_not_here():
    assert "no TPU found" in JaxTpuBackend.available().reason


# ------------------------------------------------------------------ torch-cuda
def test_cuda_no_gpu_and_cpu_torch_gives_both_fixes():
    result = cuda_availability(NO_GPU, NO_AMD, "2.13.0+cpu", _never)
    assert not result.ok
    assert "no NVIDIA or AMD GPU found (nvidia-smi not on PATH, no /dev/nvidia0; no /dev/kfd)" in result.reason
    assert "PyTorch here is a CPU build (2.13.0+cpu)" in result.reason and "install a CUDA or ROCm build" in result.reason


def test_cuda_without_torch():
    result = cuda_availability((True, ""), NO_AMD, None, _never)
    assert not result.ok and "PyTorch is not installed" in result.reason


def test_cuda_available_with_the_recorded_h200_build():
    t = H200_PROBE["torch"]
    probe = TorchProbe(version=t["version"], cuda=t["cuda"], hip=None, device_count=1)
    assert cuda_availability((True, ""), NO_AMD, t["version"], lambda: probe).ok


def test_cuda_build_that_sees_no_gpu():
    probe = TorchProbe(version="2.11.0+cu130", cuda="13.0", hip=None, device_count=0)
    result = cuda_availability((True, ""), NO_AMD, "2.11.0+cu130", lambda: probe)
    assert not result.ok and "device_count() is 0" in result.reason and "CUDA_VISIBLE_DEVICES" in result.reason


def test_rocm_build_on_an_amd_gpu():
    probe = TorchProbe(version="2.9.1+rocm6.4", cuda=None, hip="6.4.43482", device_count=8)
    assert cuda_availability(NO_GPU, (True, ""), "2.9.1+rocm6.4", lambda: probe).ok


def test_torch_without_cuda_or_rocm_and_a_failing_probe():
    plain = TorchProbe(version="2.13.0", cuda=None, hip=None, device_count=0)
    result = cuda_availability((True, ""), NO_AMD, "2.13.0", lambda: plain)
    assert not result.ok and "no CUDA or ROCm support" in result.reason
    result = cuda_availability((True, ""), NO_AMD, "2.13.0", lambda: "importing torch failed: OSError: libcuda.so")
    assert result.reason == "importing torch failed: OSError: libcuda.so"


def test_cuda_settings_are_checked():
    with pytest.raises(BackendError, match="unknown sdpa 'fast'.*accepted: auto, flash"):
        TorchCudaBackend(CudaSettings(sdpa="fast"))
    with pytest.raises(BackendError, match="cuda_graphs=true needs compile_backend=inductor"):
        TorchCudaBackend(CudaSettings(cuda_graphs=True, compile_backend="eager"))
    backend = TorchCudaBackend(CudaSettings(cuda_graphs=True))
    assert backend.precision == "bf16" and backend.compiles
    assert TorchCudaBackend(CudaSettings(precision="fp32")).precision == "fp32"


def test_bad_backend_setting_is_one_line_exit_2(cli, tmp_path):
    proc = cli("run", "--kernel", "gemm:tiny", "--backend", "torch-cuda", "--set", "sdpa=fast", "--out", tmp_path / "o")
    assert_one_line_error(proc.returncode, proc.stderr, "sdpa")
    assert not (tmp_path / "o").exists()


def test_unavailable_backend_gets_an_unavailable_record(cli, tmp_path):
    if TorchCudaBackend.available().ok:
        pytest.skip("torch-cuda is available here")
    proc = cli("run", "--kernel", "gemm:tiny", "--backend", "torch-cuda", "--out", tmp_path)
    assert proc.returncode == 3, proc.stderr  # a backend named with --backend did not run (issue 14)
    assert "accelbench: backend torch-cuda did not run (1 case unavailable: " in proc.stderr
    (record,) = [json.loads(p.read_text()) for p in tmp_path.glob("gemm-*.json")]
    assert record["status"] == "unavailable" and "GPU" in record["error"]["message"]


# ------------------------------------------------------------------- torch-xla
def test_xla_in_the_main_environment_says_what_to_install():
    result = xla_availability("2.13.0+cpu", "2.9.0")
    assert not result.ok and "torch 2.13.0+cpu cannot load torch-xla 2.9.0" in result.reason
    assert "pip install torch==2.9.1 torch-xla==2.9.0" in result.reason
    assert "not installed" in xla_availability("2.13.0+cpu", None).reason
    assert xla_availability("2.9.1+cu128", "2.9.0").ok


def test_pjrt_device_choice():
    assert resolve_pjrt_device("", neuron_present=True, tpu_present=True) == "NEURON"
    assert resolve_pjrt_device("", neuron_present=False, tpu_present=True) == "TPU"
    assert resolve_pjrt_device("", neuron_present=False, tpu_present=False) == "CPU"
    assert resolve_pjrt_device("cpu", neuron_present=True, tpu_present=False) == "CPU"
    with pytest.raises(BackendError, match="unknown pjrt_device 'GPU'.*accepted: CPU, TPU, NEURON, CUDA"):
        resolve_pjrt_device("GPU", False, False)


def test_neuron_cache_dir_replaces_only_the_cache_flag():
    flags = "--model-type=transformer --cache_dir=/old/cache --auto-cast=none"
    assert with_cache_dir(flags, "/new/cache") == "--model-type=transformer --auto-cast=none --cache_dir=/new/cache"
    assert with_cache_dir("", "/a b") == "'--cache_dir=/a b'"


def test_xla_environment_is_set_before_torch_xla_loads(monkeypatch):
    monkeypatch.setenv("PJRT_DEVICE", "")  # recorded, so the test's export is undone afterwards
    monkeypatch.delenv("PJRT_DEVICE")
    monkeypatch.setenv("NEURON_CC_FLAGS", "--retry_failed_compilation")
    backend = TorchXlaBackend(XlaSettings(pjrt_device="NEURON", neuron_cache_dir="/var/tmp/neuron-cache"))
    assert backend.precision == "bf16"  # reading it resolves and exports the device
    import os

    assert os.environ["PJRT_DEVICE"] == "NEURON"
    assert os.environ["NEURON_CC_FLAGS"] == "--retry_failed_compilation --cache_dir=/var/tmp/neuron-cache"
    monkeypatch.delenv("PJRT_DEVICE")
    assert TorchXlaBackend(XlaSettings(pjrt_device="CPU")).precision == "fp32"


# ----------------------------------------------------------------- torch-neuron
@pytest.mark.parametrize("version, kind", [
    (None, "missing"), ("1.0", "placeholder"), ("2.1.2.2.3.0", "xla"), ("2.9.0.2.10.0", "xla"),
    ("2.13.3.0", "native"), ("2.14.3.0", "native"),
])
def test_torch_neuronx_versions(version, kind):
    assert torch_neuronx_kind(version) == kind


def test_neuron_availability_reasons():
    assert neuron_availability(["/dev/neuron0"], True, "2.14.3.0").ok
    reason = neuron_availability([], True, "1.0").reason
    assert "no /dev/neuron*" in reason and "PyPI's empty placeholder" in reason
    assert "use the torch-xla backend" in neuron_availability(["/dev/neuron0"], True, "2.9.0.2.10.0").reason
    assert "torch_neuronx is not installed" in neuron_availability(["/dev/neuron0"], False, None).reason


# ------------------------------------------------------------------ jax-*
def test_jax_accel_availability_lists_every_missing_piece():
    result = accel_availability(True, (False, "no TPU found"), (False, "libtpu is not installed"))
    assert result.reason == "no TPU found; libtpu is not installed"
    assert accel_availability(True, (True, ""), (True, "")).ok
    assert "JAX is not installed" in accel_availability(False, (True, ""), (True, "")).reason


def test_jax_attention_choice():
    assert JaxGpuBackend(JaxAccelSettings()).precision == "bf16"
    gpu = JaxGpuBackend(JaxAccelSettings())
    expected = "cudnn" if gpu.jax_platforms == "cuda" else None
    assert gpu.attention_implementation() == expected
    assert JaxGpuBackend(JaxAccelSettings(precision="fp32")).attention_implementation() is None
    assert JaxGpuBackend(JaxAccelSettings(jax_attention="xla")).attention_implementation() == "xla"
    assert JaxTpuBackend(JaxAccelSettings()).attention_implementation() is None
    with pytest.raises(BackendError, match="unknown jax_attention 'flash'.*accepted: auto, cudnn, xla"):
        JaxTpuBackend(JaxAccelSettings(jax_attention="flash"))


# ------------------------------------------------------- on a GPU (marker gpu)
@pytest.mark.gpu
def test_tiny_presets_on_the_gpu(cli, tmp_path):
    """The CUDA and JAX GPU backends end to end: numerics against the CPU
    float64 reference, event timing, the device named from the driver."""
    proc = cli("run", "--kernel", "gemm:tiny", "--kernel", "gpt2:tiny", "--backend", "torch-cuda",
               "--backend", "jax-gpu", "--steps", "5", "--repeats", "2", "--out", tmp_path)
    records = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("*.json")) if p.name[0] != "."]
    assert len(records) == 4, proc.stderr
    for rec in records:
        where = f"{rec['kernel']['name']} on {rec['backend']['name']}"
        assert rec["status"] == "ok", (where, rec.get("error"))
        assert rec["numerics"]["passed"] is True, (where, rec["numerics"])
        assert rec["backend"]["precision"] == "bf16" and rec["metrics"]["peak_mem_bytes"] > 0, where
        if rec["backend"]["name"] == "torch-cuda":
            window = rec["backend"]["info"]["timed_window"]
            assert window["event_s"] > 0 and window["wall_s"] >= 0.5 * window["event_s"], window
            assert rec["backend"]["info"]["device"]["cuda"], where
        elif rec["kernel"]["name"] == "gpt2":  # what the compiled step holds (kernels without attention: no entry)
            assert rec["backend"]["info"]["jax_attention"] in ("cudnn", "xla")
        kind = rec["backend"]["device_kind"]
        if "H100" in kind or "H200" in kind:
            assert rec["backend"]["device_catalog_key"] in ("h100-sxm", "h100-pcie", "h200"), kind


# ----------------------------------------------------------------- chip share and fp32, per backend
def test_fp32_on_neuron_exports_auto_cast_none_before_torch_xla_loads(monkeypatch):
    """neuronx-cc casts fp32 matmuls to bf16 by default; fp32 asks it not to (backends/matmul_precision.py)."""
    import os

    monkeypatch.setenv("PJRT_DEVICE", "")
    monkeypatch.delenv("PJRT_DEVICE")
    monkeypatch.setenv("NEURON_CC_FLAGS", "--auto-cast=matmult --retry_failed_compilation")
    backend = TorchXlaBackend(XlaSettings(pjrt_device="NEURON", precision="fp32"))
    assert backend.matmul_plan.effective == "fp32"
    assert os.environ["NEURON_CC_FLAGS"] == "--retry_failed_compilation --auto-cast=none"
    monkeypatch.delenv("PJRT_DEVICE")
    tpu = TorchXlaBackend(XlaSettings(pjrt_device="TPU", precision="fp32"))
    import importlib.util

    if importlib.util.find_spec("torch_xla") is None:  # no torch_xla.backends to ask with: the record says bf16 ran
        assert (tpu.matmul_plan.effective, tpu.matmul_plan.xla_precision) == ("bf16", None)
    else:  # the xla tier: torch-xla 2.9
        assert (tpu.matmul_plan.effective, tpu.matmul_plan.xla_precision) == ("fp32", "highest")
    monkeypatch.delenv("PJRT_DEVICE")
    bf16 = TorchXlaBackend(XlaSettings(pjrt_device="NEURON"))
    assert bf16.matmul_plan.effective == "bf16" and bf16.matmul_plan.neuron_cc_flag is None


def test_jax_backends_state_the_share_of_a_chip(monkeypatch):
    from types import SimpleNamespace

    from accelbench.backends import discovery
    from accelbench.backends.jax_backend import JaxGpuBackend, JaxNeuronBackend, JaxTpuBackend

    tpu = JaxTpuBackend()
    assert tpu.device_chip_share("tpu7x", SimpleNamespace(device_kind="TPU7x", num_cores=1)).share == 0.5
    assert tpu.device_chip_share("tpu-v5p", SimpleNamespace(device_kind="TPU v5", num_cores=2)).share == 1.0
    assert tpu.device_chip_share("tpu-v6e", SimpleNamespace(device_kind="TPU v6 lite")).share == 1.0
    assert JaxGpuBackend().device_chip_share("h200", None).share == 1.0
    fixture = Path(__file__).parents[1] / "fixtures" / "neuron" / "neuron-ls-trn1.2xlarge.json"
    monkeypatch.setattr(discovery, "neuron_devices",
                        lambda: discovery.parse_neuron_ls_json(fixture.read_text(), instance_type="trn1.32xlarge"))
    assert JaxNeuronBackend().device_chip_share("trn1", None).share == 0.5
    assert JaxNeuronBackend().matmul_plan.effective == "bf16"
    monkeypatch.setenv("NEURON_CC_FLAGS", "")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")  # recorded first, so select_platform's export is undone afterwards
    fp32 = JaxNeuronBackend(JaxNeuronBackend.settings_cls(precision="fp32"))
    fp32.select_platform()
    import os

    assert os.environ["NEURON_CC_FLAGS"] == "--auto-cast=none" and os.environ["JAX_PLATFORMS"] == "neuron,cpu"
