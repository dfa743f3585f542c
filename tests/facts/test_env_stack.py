"""The whole stack in every record (issue 21): each field read from recorded tool
output and sysfs trees (tests/fixtures/stack/, README there), or None with a reason."""

from __future__ import annotations

import json
import types
from pathlib import Path

from accelbench.facts import envinfo
from accelbench.facts.envstack import STACK_FIELDS, Sources, capture_stack, nvidia_smi

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def tools(outputs: dict[tuple[str, ...], Path]):
    """A tool runner that answers the recorded commands and finds no other tool."""
    return lambda argv: outputs[tuple(argv)].read_text() if tuple(argv) in outputs else None


def no_packages(name):
    return None


def no_plugins(group):
    return {}


def test_h100_host_fills_driver_clocks_power_ecc_mig_fabric_and_container():
    sources = Sources(root=FIXTURES / "stack" / "h100-host",
                      run=tools({("nvidia-smi", "-q", "-x"): FIXTURES / "nvidia-h200" / "nvidia-smi-q.xml"}),
                      version=no_packages, entry_points=no_plugins, modules={})
    stack = capture_stack(sources)
    v = stack.values
    assert v["nvidia_driver"] == "580.159.04" and v["nvidia_driver_cuda"] == "13.0"
    assert v["gpu_name"] == "NVIDIA H200"
    assert v["gpu_max_sm_clock_mhz"] == 1980.0 and v["gpu_max_mem_clock_mhz"] == 3201.0
    assert v["gpu_power_limit_w"] == 700.0
    assert v["gpu_ecc"] == "Enabled" and v["gpu_mig"] == "Disabled"
    assert v["fabric"] == "infiniband" and v["fabric_devices"] == 2
    assert v["fabric_link_rate"] == "400 Gb/sec (4X NDR) ×2"
    assert v["container"] == "kubepods (/proc/1/cgroup)"
    assert v["kernel"] == "FIXTURE-KERNEL-h100"
    assert "torch not loaded" in stack.why_null["cuda_runtime"]  # no torch in `modules`: not guessed
    assert v["neuron_driver"] is None and "Neuron" in stack.why_null["neuron_driver"]
    assert set(v) == set(STACK_FIELDS)
    assert all(v[k] is not None or stack.why_null.get(k) for k in STACK_FIELDS)


def test_trn2_host_fills_neuron_runtime_driver_tools_efa_and_podman():
    host = FIXTURES / "stack" / "trn2-host"
    sources = Sources(root=host, version=no_packages, entry_points=no_plugins, modules={},
                      run=tools({("neuron-ls", "--version"): host / "neuron-ls--version.txt",
                                 ("neuron-ls", "-j"): FIXTURES / "neuron" / "neuron-ls-trn2.48xlarge-one-device.json"}))
    stack = capture_stack(sources)
    v = stack.values
    assert v["neuron_runtime"] == "2.34.10"
    assert v["neuron_driver"] == "FIXTURE-NEURON-DRIVER"
    assert v["neuron_tools"] == (host / "neuron-ls--version.txt").read_text().splitlines()[0]
    assert v["fabric"] == "efa" and v["fabric_devices"] == 2
    assert v["fabric_link_rate"] is None and stack.why_null["fabric_link_rate"] == "no port reports a rate"
    assert v["container"] == "podman (/run/.containerenv)"
    assert v["nvidia_driver"] is None and "nvidia-smi" in stack.why_null["nvidia_driver"]


def test_torch_facts_come_from_the_imported_module_only():
    fake_torch = types.SimpleNamespace(
        version=types.SimpleNamespace(cuda="12.8"),
        backends=types.SimpleNamespace(cudnn=types.SimpleNamespace(is_available=lambda: True, version=lambda: 90100)),
        cuda=types.SimpleNamespace(nccl=types.SimpleNamespace(version=lambda: (2, 27, 3))))
    sources = Sources(root=FIXTURES / "stack" / "trn2-host", run=lambda argv: None, version=no_packages,
                      entry_points=lambda group: {"cuda": "jax-cuda12-plugin 0.10.2"}, modules={"torch": fake_torch})
    v = capture_stack(sources).values
    assert (v["cuda_runtime"], v["cudnn"], v["nccl"]) == ("12.8", "90100", "2.27.3")
    assert v["jax_plugins"] == "cuda: jax-cuda12-plugin 0.10.2"


def test_jax_cuda_facts_come_from_its_plugin_as_jax_loaded_it():
    """As on a JAX GPU host (cuda_versions' encoded integers, the form jax's own callers compare:
    12080 is CUDA 12.8, 90800 cuDNN 9.8.0); a library the plugin cannot read is null with a reason."""
    def broken():
        raise RuntimeError("libcublas.so.12: cannot open shared object file")

    versions = types.SimpleNamespace(cuda_runtime_get_version=lambda: 12080, cudnn_get_version=lambda: 90800,
                                     cublas_get_version=broken)
    gpu = Sources(root=FIXTURES / "stack" / "trn2-host", run=lambda argv: None, version=no_packages,
                  entry_points=lambda group: {}, modules={"jax._src.lib": types.SimpleNamespace(cuda_versions=versions)})
    stack = capture_stack(gpu)
    assert (stack.values["jax_cuda_runtime"], stack.values["jax_cudnn"]) == ("12080", "90800")
    assert stack.values["jax_cublas"] is None and "could not read" in stack.why_null["jax_cublas"]
    cpu = Sources(root=gpu.root, run=gpu.run, version=no_packages, entry_points=gpu.entry_points,
                  modules={"jax._src.lib": types.SimpleNamespace(cuda_versions=None)})
    assert "no CUDA plugin" in capture_stack(cpu).why_null["jax_cudnn"]
    none = Sources(root=gpu.root, run=gpu.run, version=no_packages, entry_points=gpu.entry_points, modules={})
    assert "JAX not loaded" in capture_stack(none).why_null["jax_cuda_runtime"]


def test_bad_nvidia_smi_output_is_null_with_a_reason_not_a_crash(tmp_path):
    bad = tmp_path / "smi.xml"
    bad.write_text("<nvidia_smi_log><gpu>")  # cut short
    sources = Sources(root=tmp_path, run=tools({("nvidia-smi", "-q", "-x"): bad}), version=no_packages,
                      entry_points=no_plugins, modules={})
    stack = capture_stack(sources)
    assert stack.values["nvidia_driver"] is None and stack.why_null["nvidia_driver"]


def test_nvidia_smi_na_fields_are_null():
    v = nvidia_smi("<nvidia_smi_log><driver_version>N/A</driver_version><gpu><mig_mode><current_mig>N/A"
                   "</current_mig></mig_mode></gpu></nvidia_smi_log>")
    assert v["nvidia_driver"] is None and v["gpu_mig"] is None


def test_this_machine_every_field_present_or_null_with_its_reason():
    env = envinfo.capture()
    json.dumps(env)  # a record's env must serialise
    keys = set(STACK_FIELDS) | {k.replace("-", "_") for k in envinfo.PACKAGES}
    for key in keys:
        assert key in env, key
        assert env[key] is not None or env["why_null"].get(key), key


def test_the_report_software_column_shows_driver_and_libraries():
    from accelbench.reports import rows

    env = {"torch": "2.13.0", "nvidia_driver": "580.159.04", "cuda_runtime": "13.0", "nccl": "2.27.7",
           "neuron_runtime": None, "why_null": {"neuron_runtime": "neuron-ls not found"}}
    text = rows.software({"env": env})
    assert text == "torch 2.13.0, nvidia_driver 580.159.04, cuda_runtime 13.0, nccl 2.27.7"
