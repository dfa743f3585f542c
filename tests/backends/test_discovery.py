"""Device discovery against recorded tool output (tests/fixtures/, see its README)."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from pathlib import Path

import pytest

from accelbench.backends import discovery
from accelbench.facts.catalog import load_devices

FIXTURES = Path(__file__).parents[1] / "fixtures"
H200 = FIXTURES / "nvidia-h200"
MIB = 1024**2


def test_nvidia_smi_xml_from_a_real_h200():
    (gpu,) = discovery.parse_nvidia_smi_xml((H200 / "nvidia-smi-q.xml").read_text())
    assert gpu.name == "NVIDIA H200" and gpu.catalog_key == "h200"
    assert gpu.driver == "580.159.04" and gpu.cuda_version == "13.0"
    assert gpu.memory_bytes == 143771 * MIB
    assert (gpu.sm_clock_mhz, gpu.sm_clock_max_mhz) == (345, 1980)
    assert gpu.power_limit_w == 700 and gpu.power_draw_w == pytest.approx(81.71)
    assert gpu.pci_bus_id == "00000000:00:06.0" and gpu.uuid.startswith("GPU-")


def test_nvidia_smi_list():
    (gpu,) = discovery.parse_nvidia_smi_list((H200 / "nvidia-smi-L.txt").read_text())
    assert (gpu.index, gpu.name, gpu.catalog_key) == (0, "NVIDIA H200", "h200")
    assert discovery.parse_nvidia_smi_list("No devices were found\n") == []


def test_names_in_the_python_probe_map_to_the_h200():
    probe = json.loads((H200 / "python-probe.json").read_text())
    assert discovery.gpu_catalog_key(probe["torch"]["name"]) == "h200"
    assert discovery.gpu_catalog_key(probe["nvml"]["name"]) == "h200"
    (device,) = probe["jax"]["devices"]
    assert discovery.jax_kind_catalog_key(device["device_kind"]) == "h200"
    assert discovery.jax_kind_catalog_key(probe["jax_cpu_device_kind"]) is None


@pytest.mark.parametrize("name, key", [
    ("NVIDIA H100 80GB HBM3", "h100-sxm"),
    ("NVIDIA H100 PCIe", "h100-pcie"),
    ("NVIDIA H200", "h200"),
    ("NVIDIA B200", "b200"),
    ("NVIDIA A100-SXM4-40GB", "a100-sxm-40gb"),
    ("NVIDIA A100-SXM4-80GB", "a100-sxm-80gb"),
    ("NVIDIA L4", "l4"),
    ("NVIDIA A10G", "a10g"),
    ("AMD Instinct MI300X", "mi300x"),
    ("AMD Instinct MI325X", "mi325x"),
    ("AMD Instinct MI355X", "mi355x"),
    # Other boards, other peaks or power limits: unknown rather than a neighbour's peak.
    ("NVIDIA H100 NVL", None),
    ("NVIDIA H200 NVL", None),
    ("NVIDIA GH200 480GB", None),
    ("NVIDIA GB200", None),
    ("NVIDIA L40S", None),
    ("NVIDIA A100-PCIE-40GB", None),
    ("NVIDIA A100 80GB PCIe", None),
    ("AMD Instinct MI300A", None),
    ("Tesla T4", None),
    ("", None),
])
def test_gpu_names_to_catalog_keys(name, key):
    assert discovery.gpu_catalog_key(name) == key


def test_every_catalog_device_is_reachable_and_every_name_maps_to_exactly_its_entry():
    """Both directions: each built-in entry has names discovery reads (or says why none), and each
    name (driver example, JAX kind, PCI id, EC2 family) maps to that entry and no other."""
    devices = load_devices()
    for key, spec in devices.items():
        names = spec.names
        reachable = names.driver or names.jax_kinds or names.pci_ids or names.instance_families
        assert reachable or names.none_because, f"{key}: no names, so discovery never picks its peaks"
        assert bool(names.driver) == bool(names.examples), f"{key}: driver patterns need examples and back"
        for example in names.examples:
            matching = [k for k, s in devices.items() if any(re.search(p, example) for p in s.names.driver)]
            assert matching == [key], (example, matching)
            assert discovery.gpu_catalog_key(example) == key
        assert all(discovery.jax_kind_catalog_key(kind) == key for kind in names.jax_kinds), key
        assert all(discovery.tpu_pci_key(pci) == key for pci in names.pci_ids), key
        assert all(discovery.neuron_catalog_key(f"{family}.48xlarge") == key for family in names.instance_families), key
    unreachable = sorted(k for k, s in devices.items() if s.names.none_because)
    assert unreachable == ["b300", "gb200", "gb300"], unreachable  # a new one needs its driver name, or a reason


def test_neuron_ls_trn1_without_instance_type():
    (dev,) = discovery.parse_neuron_ls_json((FIXTURES / "neuron" / "neuron-ls-trn1.2xlarge.json").read_text())
    assert (dev.index, dev.core_count, dev.memory_bytes, dev.core_ids) == (0, 2, 32 * 1024**3, [0, 1])
    # An inf2 device looks the same (2 cores, 32 GiB): without the instance type, unknown.
    assert dev.instance_type is None and dev.catalog_key is None
    (named,) = discovery.parse_neuron_ls_json((FIXTURES / "neuron" / "neuron-ls-trn1.2xlarge.json").read_text(),
                                              instance_type="trn1.2xlarge")
    assert named.catalog_key == "trn1"


def test_neuron_ls_trn2_with_instance_type():
    (dev,) = discovery.parse_neuron_ls_json(
        (FIXTURES / "neuron" / "neuron-ls-trn2.48xlarge-one-device.json").read_text(), instance_type="ignored.when-reported")
    assert dev.instance_type == "trn2.48xlarge" and dev.catalog_key == "trn2"
    assert (dev.core_count, dev.logical_core_config, dev.memory_bytes) == (4, 2, 96 * 1024**3)


@pytest.mark.parametrize("instance, key", [
    ("trn1.2xlarge", "trn1"), ("trn1.32xlarge", "trn1"), ("trn1n.32xlarge", "trn1"),
    ("trn2.48xlarge", "trn2"), ("trn2.3xlarge", "trn2"), ("trn2u.48xlarge", "trn2"), ("trn3.48xlarge", "trn3"),
    ("inf2.48xlarge", None), ("inf1.xlarge", None), ("p5.48xlarge", None), (None, None),
])
def test_instance_types_to_trainium_generations(instance, key):
    assert discovery.neuron_catalog_key(instance) == key


def test_neuron_ls_rejects_a_non_list():
    with pytest.raises(ValueError):
        discovery.parse_neuron_ls_json('{"neuron_device": 0}')


def test_neuron_device_nodes(tmp_path):
    for name in ("neuron0", "neuron1", "neuron_ctl", "nvidia0"):
        (tmp_path / name).touch()
    assert [Path(p).name for p in discovery.neuron_device_nodes(str(tmp_path))] == ["neuron0", "neuron1"]


def test_ec2_instance_type_from_dmi(tmp_path):
    product = tmp_path / "product_name"
    product.write_text("trn1.32xlarge\n")
    assert discovery.ec2_instance_type(str(product)) == "trn1.32xlarge"
    product.write_text("Standard PC (i440FX + PIIX, 1996)\n")
    assert discovery.ec2_instance_type(str(product)) is None
    assert discovery.ec2_instance_type(str(tmp_path / "missing")) is None


EXPECTED_TPU_KEYS = {"v4": "tpu-v4", "v4i": None, "v5e": "tpu-v5e", "v5p": "tpu-v5p", "v6e": "tpu-v6e",
                     "7x": "tpu7x", "7": None}


def test_jax_tpu_device_kinds_from_jax_source():
    kinds = json.loads((FIXTURES / "tpu" / "jax-tpu-device-kinds.json").read_text())["device_kind_to_chip"]
    for kind, chip in kinds.items():
        assert discovery.jax_kind_catalog_key(kind) == EXPECTED_TPU_KEYS[chip], kind


def _fake_pci(root: Path, slot: str, vendor: str, device: str) -> None:
    (root / slot).mkdir(parents=True)
    (root / slot / "vendor").write_text(vendor + "\n")
    (root / slot / "device").write_text(device + "\n")


def test_tpu_chips_from_pci_ids(tmp_path):
    ids = json.loads((FIXTURES / "tpu" / "tpu-pci-device-ids.json").read_text())
    v5e = next(dev for dev, chip in ids["device_to_chip"].items() if chip == "v5e")
    _fake_pci(tmp_path, "0000:00:04.0", ids["vendor"], v5e)
    _fake_pci(tmp_path, "0000:00:05.0", ids["vendor"], v5e)
    _fake_pci(tmp_path, "0000:00:06.0", "0x10de", "0x2335")  # the H200 from the fixture, not a TPU
    _fake_pci(tmp_path, "0000:00:07.0", ids["vendor"], "0x9999")  # another Google device
    chips = discovery.tpu_chips(str(tmp_path))
    assert (chips.count, chips.catalog_key, chips.pci_device_id) == (2, "tpu-v5e", v5e)
    for device, chip in ids["device_to_chip"].items():
        assert discovery.is_tpu_pci_id(device) and discovery.tpu_pci_key(device) == EXPECTED_TPU_KEYS.get(chip), device
    assert discovery.tpu_chips(str(tmp_path / "none")).count == 0


def test_no_gpu_reason_names_what_was_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    found, why = discovery.nvidia_gpu_present(str(tmp_path))
    assert not found and "nvidia-smi not on PATH" in why and str(tmp_path / "nvidia0") in why
    (tmp_path / "nvidiactl").touch()
    assert discovery.nvidia_gpu_present(str(tmp_path))[0] is False
    (tmp_path / "nvidia3").touch()  # a container given only the fourth GPU
    assert discovery.nvidia_gpu_present(str(tmp_path)) == (True, "")
    assert discovery.amd_gpu_present(str(tmp_path))[0] is False
    (tmp_path / "kfd").touch()
    assert discovery.amd_gpu_present(str(tmp_path)) == (True, "")


def test_nvidia_smi_found_on_path_is_used(tmp_path, monkeypatch):
    """A stand-in nvidia-smi that prints the recorded H200 output."""
    tool = tmp_path / "nvidia-smi"
    tool.write_text(f"#!/bin/sh\nif [ \"$1\" = -L ]; then cat {H200 / 'nvidia-smi-L.txt'}; "
                    f"else cat {H200 / 'nvidia-smi-q.xml'}; fi\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert discovery.nvidia_gpu_present(str(tmp_path / "dev"))[0] is True
    (gpu,) = discovery.nvidia_gpus()
    assert gpu.catalog_key == "h200"
    assert [d.catalog_key for d in discovery.discover_all()][:1] == ["h200"]


def test_units():
    assert discovery.parse_bytes("143771 MiB") == 143771 * MIB
    assert discovery.parse_bytes("N/A") is None
    assert discovery.parse_quantity("[N/A]") is None
    assert discovery.parse_quantity("700.00 W") == 700.0


def test_importing_the_accelerator_backends_imports_no_framework():
    code = ("import sys, accelbench.backends.discovery, accelbench.backends.torch_cuda, accelbench.backends.torch_xla, accelbench.backends.torch_neuron, "
            "accelbench.backends.jax_backend; from accelbench import backends; [backends.availability(n) for n in backends.names()];"
            "bad=[m for m in ('torch','jax','jaxlib','torch_xla','torch_neuronx') if m in sys.modules];"
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("name, nc_count, lnc", [("neuron-ls-trn2n.48xlarge-lnc2.json", 4, 2),
                                                  ("neuron-ls-trn2n.48xlarge-lnc1.json", 8, 1)])
def test_neuron_ls_documented_format_at_both_lnc_settings(name, nc_count, lnc):
    """The neuron-ls user guide's `neuron-ls -j` example (trn2n.48xlarge, LNC=2) and its LNC=1 counterpart."""
    devices = discovery.parse_neuron_ls_json((FIXTURES / "neuron" / name).read_text(), instance_type="trn2n.48xlarge")
    assert len(devices) == 16 and {d.catalog_key for d in devices} == {"trn2"}
    assert {(d.core_count, d.logical_core_config, d.memory_bytes) for d in devices} == {(nc_count, lnc, 96 * 1024**3)}
    host = discovery.host_chips_from([], devices, discovery.TpuChips(0, None, None))
    assert host.count == 16 and host.source.startswith("neuron-ls: 16 Neuron devices (chips)")


def test_host_chips_from_tpu_pci_and_nothing():
    tpu = discovery.host_chips_from([], [], discovery.TpuChips(8, "tpu-v6e", "0x006f"))
    assert (tpu.count, tpu.catalog_key) == (8, "tpu-v6e") and "PCI" in tpu.source
    none = discovery.host_chips_from([], [], discovery.TpuChips(0, None, None), instance_type="c7i.large")
    assert none.count is None and none.instance_type == "c7i.large"
