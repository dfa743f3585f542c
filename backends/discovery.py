"""Device discovery without importing torch or JAX.

Every accelerator found is mapped to the key of its entry in the device
catalog (``facts/data/devices.toml``: peak FLOP/s, bandwidth). A device
this module cannot name exactly gets ``None``, "unknown device", so metrics
skip MFU rather than borrow another chip's peak.

Sources, each read through a vendor tool or the kernel's sysfs:

* NVIDIA: ``nvidia-smi -L`` and the ``/dev/nvidia*`` nodes (is there one?),
  ``nvidia-smi -q -x`` (XML: name, memory, driver, clocks); the SM clock
  during timing from NVML (``pynvml``, nvidia-ml-py) when installed, else
  ``nvidia-smi --query-gpu=clocks.sm``.
* AWS Neuron: ``neuron-ls --json-output`` and the ``/dev/neuron*`` nodes.
* Google TPU: PCI vendor/device ids in ``/sys/bus/pci/devices`` (the way JAX
  itself finds chips, ``jax/_src/hardware_utils.py``), and JAX ``device_kind``
  strings once a backend is running.
* AMD: ``/dev/kfd`` (the ROCm compute node); names come from PyTorch later.

Parsers are pure functions of the tool's text, tested against recorded output
in ``tests/fixtures/``.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

TOOL_TIMEOUT_S = 10

# ------------------------------------------------------------ catalog keys
# Which name maps to which catalog entry is catalog data: each entry's `names`
# in facts/data/devices.toml (driver-name patterns, JAX kinds, PCI ids, EC2
# instance families). Only the facts that say "a TPU, but not in the catalog" stay here.

# PCI ids from jax/_src/hardware_utils.py (jax 0.10.2): Google's vendor id, and the
# TPU device ids with no catalog entry (counted as TPU chips, no catalog key).
GOOGLE_PCI_VENDOR = "0x1ae0"
TPU_PCI_IDS_NOT_IN_CATALOG = {"0x0027": "TPU v3", "0x0056": "no public name"}


@functools.lru_cache(maxsize=1)
def _catalog_names() -> tuple[tuple[tuple[str, str], ...], dict[str, str], dict[str, str], dict[str, str]]:
    """(driver pattern, key) in catalog order, and JAX kind / TPU PCI id / EC2 family -> key."""
    from accelbench.facts.catalog import load_devices

    patterns, kinds, pci, families = [], {}, {}, {}
    for key, spec in load_devices().items():
        patterns += [(pattern, key) for pattern in spec.names.driver]
        kinds.update(dict.fromkeys(spec.names.jax_kinds, key))
        pci.update(dict.fromkeys(spec.names.pci_ids, key))
        families.update(dict.fromkeys(spec.names.instance_families, key))
    return tuple(patterns), kinds, pci, families


def tpu_pci_key(device_id: str) -> str | None:
    """Catalog key of a TPU from its PCI device id; None for a TPU with no catalog entry or not a TPU."""
    return _catalog_names()[2].get(device_id)


def is_tpu_pci_id(device_id: str) -> bool:
    return device_id in _catalog_names()[2] or device_id in TPU_PCI_IDS_NOT_IN_CATALOG


def gpu_catalog_key(name: str | None) -> str | None:
    """Catalog key of a GPU from the name its driver reports (nvidia-smi,
    NVML, ``torch.cuda.get_device_name`` or a JAX ``device_kind``)."""
    if not name:
        return None
    name = name.strip()
    for pattern, key in _catalog_names()[0]:
        if re.search(pattern, name):
            return key
    return None


def jax_kind_catalog_key(device_kind: str | None) -> str | None:
    """Catalog key of a JAX device from its ``device_kind``: TPU kinds from
    JAX's own table, GPU kinds are the driver's product name."""
    if not device_kind:
        return None
    kinds = _catalog_names()[1]
    if device_kind in kinds:
        return kinds[device_kind]
    return gpu_catalog_key(device_kind)


def neuron_catalog_key(instance_type: str | None) -> str | None:
    """'trn2.48xlarge' -> 'trn2'. Needs the instance type: a trn1 device and
    an inf2 device look the same to neuron-ls (2 cores, 32 GiB)."""
    if not instance_type:
        return None
    return _catalog_names()[3].get(instance_type.split(".", 1)[0].lower())


# ------------------------------------------------------------------ NVIDIA
@dataclass
class GpuRecord:
    index: int
    name: str
    uuid: str | None = None
    memory_bytes: int | None = None
    driver: str | None = None
    cuda_version: str | None = None
    sm_clock_mhz: float | None = None
    sm_clock_max_mhz: float | None = None
    power_draw_w: float | None = None
    power_limit_w: float | None = None
    pci_bus_id: str | None = None

    @property
    def catalog_key(self) -> str | None:
        return gpu_catalog_key(self.name)


_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "KB": 1000, "MB": 1000**2, "GB": 1000**3}


def parse_quantity(text: str | None) -> float | None:
    """'143771 MiB' -> 143771.0 (the unit is left to the caller), 'N/A' -> None."""
    if text is None:
        return None
    match = re.match(r"^\s*([-+]?\d+(?:\.\d+)?)", text)
    return float(match.group(1)) if match else None


def parse_bytes(text: str | None) -> int | None:
    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|B)\s*$", text or "")
    return int(float(match.group(1)) * _UNITS[match.group(2)]) if match else None


def parse_nvidia_smi_xml(text: str) -> list[GpuRecord]:
    """``nvidia-smi -q -x``: one record per ``<gpu>``. Power limit from
    ``gpu_power_readings`` (drivers >= 530) or ``power_readings`` (older)."""
    root = ET.fromstring(text)
    driver = root.findtext("driver_version")
    cuda = root.findtext("cuda_version")
    gpus = []
    for i, gpu in enumerate(root.findall("gpu")):
        readings = gpu.find("gpu_power_readings")
        if readings is None:
            readings = gpu.find("power_readings")
        power_draw = power_limit = None
        if readings is not None:
            power_draw = parse_quantity(readings.findtext("instant_power_draw") or readings.findtext("power_draw"))
            power_limit = parse_quantity(readings.findtext("current_power_limit") or readings.findtext("power_limit"))
        gpus.append(GpuRecord(
            index=i,
            name=(gpu.findtext("product_name") or "").strip(),
            uuid=gpu.findtext("uuid"),
            memory_bytes=parse_bytes(gpu.findtext("fb_memory_usage/total")),
            driver=driver,
            cuda_version=cuda,
            sm_clock_mhz=parse_quantity(gpu.findtext("clocks/sm_clock")),
            sm_clock_max_mhz=parse_quantity(gpu.findtext("max_clocks/sm_clock")),
            power_draw_w=power_draw,
            power_limit_w=power_limit,
            pci_bus_id=gpu.get("id"),
        ))
    return gpus


def parse_nvidia_smi_list(text: str) -> list[GpuRecord]:
    """``nvidia-smi -L``: 'GPU 0: NVIDIA H200 (UUID: GPU-...)'."""
    gpus = []
    for line in text.splitlines():
        match = re.match(r"^GPU (\d+): (.+?) \(UUID: ([^)]+)\)", line.strip())
        if match:
            gpus.append(GpuRecord(index=int(match.group(1)), name=match.group(2), uuid=match.group(3)))
    return gpus


def _run(cmd: list[str]) -> str | None:
    """A tool's stdout, or None when it is missing, fails or hangs."""
    if shutil.which(cmd[0]) is None and not os.path.isabs(cmd[0]):
        return None
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def nvidia_gpu_present(dev_dir: str = "/dev") -> tuple[bool, str]:
    """Whether an NVIDIA GPU is visible, and what was looked at when none is."""
    smi = shutil.which("nvidia-smi")
    nodes = [p for p in glob.glob(os.path.join(dev_dir, "nvidia*")) if re.search(r"nvidia\d+$", p)]
    if nodes or (smi and parse_nvidia_smi_list(_run(["nvidia-smi", "-L"]) or "")):
        return True, ""
    return False, f"{'nvidia-smi lists no GPU' if smi else 'nvidia-smi not on PATH'}, no {os.path.join(dev_dir, 'nvidia0')}"


def amd_gpu_present(dev_dir: str = "/dev") -> tuple[bool, str]:
    node = Path(dev_dir) / "kfd"
    return (True, "") if node.exists() else (False, f"no {node}")


def nvidia_gpus() -> list[GpuRecord]:
    """Every NVIDIA GPU with driver, CUDA version, memory and clocks, from
    ``nvidia-smi -q -x``; empty when nvidia-smi is missing or fails."""
    text = _run(["nvidia-smi", "-q", "-x"])
    if not text:
        return []
    try:
        return parse_nvidia_smi_xml(text)
    except ET.ParseError:
        return []


@dataclass
class ClockReading:
    sm_mhz: float | None
    source: str


def sm_clock(index: int = 0, uuid: str | None = None) -> ClockReading:
    """A GPU's current SM clock: NVML when nvidia-ml-py is installed, else
    nvidia-smi. ``uuid`` ('GPU-...') picks the GPU regardless of
    CUDA_VISIBLE_DEVICES renumbering; without it, the driver's ``index``."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            handle = (pynvml.nvmlDeviceGetHandleByUUID(uuid) if uuid else pynvml.nvmlDeviceGetHandleByIndex(index))
            return ClockReading(float(pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM)), "nvml")
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # not installed, or NVML cannot start: fall back to the tool
        pass
    text = _run(["nvidia-smi", f"--id={uuid or index}", "--query-gpu=clocks.sm", "--format=csv,noheader,nounits"])
    return ClockReading(parse_quantity(text) if text else None, "nvidia-smi" if text else "unavailable")


# ------------------------------------------------------------------ Neuron
@dataclass
class NeuronDevice:
    index: int
    core_count: int
    memory_bytes: int | None
    instance_type: str | None = None
    logical_core_config: int | None = None
    core_ids: list[int] = field(default_factory=list)

    @property
    def catalog_key(self) -> str | None:
        return neuron_catalog_key(self.instance_type)


def parse_neuron_ls_json(text: str, instance_type: str | None = None) -> list[NeuronDevice]:
    """``neuron-ls --json-output``: a list with one object per Neuron device
    (one Trainium chip). ``instance_type`` fills in for tools too old to report it."""
    data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError("neuron-ls JSON: expected a list of devices")
    return [
        NeuronDevice(
            index=int(d["neuron_device"]),
            core_count=int(d["nc_count"]),
            memory_bytes=int(d["memory_size"]) if d.get("memory_size") is not None else None,
            instance_type=d.get("instance_type") or instance_type,
            logical_core_config=d.get("logical_neuroncore_config"),
            core_ids=list(d.get("neuroncore_ids") or []),
        )
        for d in data
    ]


def neuron_device_nodes(dev_dir: str = "/dev") -> list[str]:
    return sorted(p for p in glob.glob(os.path.join(dev_dir, "neuron*")) if re.search(r"neuron\d+$", p))


def ec2_instance_type(path: str = "/sys/devices/virtual/dmi/id/product_name") -> str | None:
    """On EC2 Nitro instances the DMI product name is the instance type ('trn1.32xlarge')."""
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return text if re.match(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$", text) else None


NEURON_BIN = "/opt/aws/neuron/bin"
"""Where the Neuron manual setup installs its tools, asking users to add it to PATH (Neuron docs,
setup/pytorch/manual): a PATH without neuron-ls is normal."""


def neuron_ls_path() -> str | None:
    """neuron-ls on PATH, else in /opt/aws/neuron/bin; None when neither has it."""
    found = shutil.which("neuron-ls")
    if found:
        return found
    fallback = os.path.join(NEURON_BIN, "neuron-ls")
    return fallback if os.access(fallback, os.X_OK) else None


def host_instance_type() -> str | None:
    """The instance type the metadata service reported (facts/host.py), else the EC2 DMI product name."""
    from accelbench.facts import host

    return host.instance_type_fact(host.metadata(), ec2_instance_type()).value


def neuron_devices() -> list[NeuronDevice]:
    tool = neuron_ls_path()
    text = _run([tool, "--json-output"]) if tool else None
    if not text:
        return []
    try:
        return parse_neuron_ls_json(text, instance_type=host_instance_type())
    except (ValueError, KeyError, TypeError):
        return []


# --------------------------------------------------------------------- TPU
@dataclass
class TpuChips:
    count: int
    catalog_key: str | None
    pci_device_id: str | None


def tpu_chips(pci_root: str = "/sys/bus/pci/devices") -> TpuChips:
    """TPU chips attached through PCI, as JAX counts them (hardware_utils.py)."""
    count, device_id = 0, None
    for vendor_path in sorted(glob.glob(os.path.join(pci_root, "*", "vendor"))):
        try:
            if Path(vendor_path).read_text().strip() != GOOGLE_PCI_VENDOR:
                continue
            found = (Path(vendor_path).parent / "device").read_text().strip()
        except OSError:
            continue
        if is_tpu_pci_id(found):
            count, device_id = count + 1, found
    return TpuChips(count, tpu_pci_key(device_id) if device_id else None, device_id)


# ------------------------------------------------------------------ summary
@dataclass
class Discovered:
    kind: str
    catalog_key: str | None
    count: int
    memory_bytes: int | None
    source: str


def discover_all() -> list[Discovered]:
    """Every accelerator this machine shows, for ``accelbench env``."""
    found = []
    for gpu in nvidia_gpus():
        found.append(Discovered(gpu.name, gpu.catalog_key, 1, gpu.memory_bytes, "nvidia-smi"))
    for dev in neuron_devices():
        found.append(Discovered(f"neuron device ({dev.instance_type or 'unknown instance'})",
                                dev.catalog_key, 1, dev.memory_bytes, "neuron-ls"))
    tpu = tpu_chips()
    if tpu.count:
        found.append(Discovered(f"TPU (PCI {tpu.pci_device_id})", tpu.catalog_key, tpu.count, None, "sysfs pci"))
    return found


# ------------------------------------------------------------ chips of the host
@dataclass
class HostChips:
    """The accelerator chips this host (the instance being priced) has, and how that was found."""

    count: int | None
    source: str
    instance_type: str | None = None
    catalog_key: str | None = None

    def to_dict(self) -> dict:
        return {"count": self.count, "source": self.source, "instance_type": self.instance_type,
                "catalog_key": self.catalog_key}


def host_chips_from(gpus: list[GpuRecord], neuron: list[NeuronDevice], tpu: TpuChips,
                    instance_type: str | None = None) -> HostChips:
    """Pure: the host's chips from what the tools said. A Neuron device is one
    chip (neuron-ls lists one entry per Trainium chip; its ``nc_count`` cores
    are what the frameworks count); a TPU chip is one Google PCI device."""
    if neuron:
        kind = neuron[0].instance_type or instance_type
        return HostChips(len(neuron), f"neuron-ls: {len(neuron)} Neuron devices (chips) of "
                                      f"{neuron[0].core_count} NeuronCores", kind, neuron[0].catalog_key)
    if gpus:
        return HostChips(len(gpus), f"nvidia-smi: {len(gpus)} GPUs", instance_type, gpus[0].catalog_key)
    if tpu.count:
        return HostChips(tpu.count, f"PCI: {tpu.count} TPU chips (device {tpu.pci_device_id})", instance_type,
                         tpu.catalog_key)
    return HostChips(None, "no accelerator found (nvidia-smi, neuron-ls, TPU PCI ids)", instance_type)


def host_chips() -> HostChips:
    """``host_chips_from`` on this machine's tools (nvidia-smi, neuron-ls, sysfs)."""
    return host_chips_from(nvidia_gpus(), neuron_devices(), tpu_chips(), ec2_instance_type())


def visible_devices(gpus: list[GpuRecord], neuron: list[NeuronDevice], tpu: TpuChips, neuron_tool: str | None):
    """What this process sees, as ``facts.host.VisibleDevices`` (a Neuron device is one chip)."""
    from accelbench.facts.host import VisibleDevices

    if neuron:
        return VisibleDevices(len(neuron), neuron[0].catalog_key, f"neuron-ls ({neuron_tool})")
    if gpus:
        return VisibleDevices(len(gpus), gpus[0].catalog_key, "nvidia-smi")
    if tpu.count:
        return VisibleDevices(tpu.count, tpu.catalog_key, f"sysfs pci (TPU device {tpu.pci_device_id})")
    looked = f"neuron-ls {'gave no devices' if neuron_tool else 'not on PATH nor in ' + NEURON_BIN}, " \
             "nvidia-smi lists no GPU, no TPU PCI device"
    return VisibleDevices(0, None, looked)

