"""The software and hardware stack under a result: driver, CUDA, cuDNN, NCCL,
GPU clocks and modes, the Neuron compiler, runtime and driver, libtpu and
JAX plugins, the container, the network fabric, the kernel.

Every field is read from the machine or left None with the reason in
``why_null``: never guessed. What is read from where is injectable
(``Sources``: the file-system root for /sys, /proc and the container files,
the runner of vendor tools, the package and entry-point lookups), so the
parsers are tested on recorded tool output and sysfs trees (tests/fixtures/).
Frameworks are asked only when already imported (a case process), or when
the caller says so (``accelbench env``): capturing imports nothing heavy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

TOOL_TIMEOUT_S = 10.0


def run_tool(argv: list[str]) -> str | None:
    """A vendor tool's stdout, or None when it is absent, fails or hangs."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def distribution_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def entry_point_distributions(group: str) -> dict[str, str | None]:
    """Each entry point of ``group``: its name -> its distribution's name and version."""
    found = {}
    for ep in metadata.entry_points(group=group):
        dist = getattr(ep, "dist", None)
        found[ep.name] = f"{dist.metadata['Name']} {dist.version}" if dist is not None else None
    return found


@dataclass(frozen=True)
class Sources:
    """Where each fact is read; the defaults read this machine."""
    root: Path = Path("/")
    run: Callable[[list[str]], str | None] = run_tool
    version: Callable[[str], str | None] = distribution_version
    entry_points: Callable[[str], dict[str, str | None]] = entry_point_distributions
    modules: dict = field(default_factory=lambda: sys.modules)
    """Frameworks already imported: torch and JAX facts are read only from these."""


@dataclass
class Stack:
    values: dict = field(default_factory=dict)
    why_null: dict = field(default_factory=dict)

    def put(self, key: str, value, reason: str) -> None:
        """``value`` under ``key``; where it is None (or empty), None and ``reason``."""
        if value is None or value == "" or value == [] or value == {}:
            self.values[key] = None
            self.why_null[key] = reason
        else:
            self.values[key] = value


SOFTWARE_FIELDS = ("nvidia_driver", "cuda_runtime", "cudnn", "nccl", "jax_cuda_runtime", "jax_cudnn", "neuron_runtime",
                   "neuron_driver", "jax_plugins")
"""The stack's versions the report's software column shows beside the packages'."""

STACK_FIELDS = ("kernel", "container", "fabric", "fabric_devices", "fabric_link_rate",
                "nvidia_driver", "nvidia_driver_cuda", "cuda_runtime", "cudnn", "nccl",
                "jax_cuda_runtime", "jax_cudnn", "jax_cublas",
                "gpu_name", "gpu_max_sm_clock_mhz", "gpu_max_mem_clock_mhz", "gpu_app_sm_clock_mhz",
                "gpu_power_limit_w", "gpu_ecc", "gpu_mig",
                "neuron_runtime", "neuron_driver", "neuron_tools", "jax_plugins",
                "image_id")
"""The stack's keys in a record's ``env``, in the order the report shows them (package versions,
neuronx-cc and libtpu among them, are ``facts.envinfo.PACKAGES``)."""


def _read(root: Path, path: str) -> str | None:
    try:
        return (root / path.lstrip("/")).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def container(root: Path) -> tuple[str | None, str]:
    """The container runtime a process runs in, from the files runtimes leave."""
    if (root / ".dockerenv").exists():
        return "docker (/.dockerenv)", ""
    if (root / "run/.containerenv").exists():  # podman's marker
        return "podman (/run/.containerenv)", ""
    cgroup = _read(root, "proc/1/cgroup") or ""
    for marker in ("kubepods", "docker", "containerd", "lxc"):
        if marker in cgroup:
            return f"{marker} (/proc/1/cgroup)", ""
    return None, "no container marker (/.dockerenv, /run/.containerenv, a runtime in /proc/1/cgroup): not in a container, or one that leaves none"


def fabric(root: Path) -> dict:
    """RDMA devices from sysfs (kernel ABI: Documentation/ABI/stable/sysfs-class-infiniband):
    EFA where the device's driver is ``efa``, else InfiniBand; their count and each
    port's ``rate`` ("Port data rate (active width * active speed)")."""
    base = root / "sys/class/infiniband"
    try:
        devices = sorted(p for p in base.iterdir())
    except OSError:
        return {}
    if not devices:
        return {}
    kinds, rates = set(), []
    for dev in devices:
        try:
            driver = Path(os.readlink(dev / "device" / "driver")).name
        except OSError:
            driver = ""
        kinds.add("efa" if driver == "efa" or dev.name.startswith("efa") else "infiniband")
        ports = sorted((dev / "ports").glob("*")) if (dev / "ports").is_dir() else []
        rates += [r for p in ports if (r := _read(p, "rate"))]
    distinct = sorted(set(rates))
    return {"fabric": "+".join(sorted(kinds)), "fabric_devices": len(devices),
            "fabric_link_rate": ", ".join(f"{r} ×{rates.count(r)}" for r in distinct)}


def _text(node: ET.Element | None, tag: str) -> str | None:
    found = node.find(tag) if node is not None else None
    value = (found.text or "").strip() if found is not None else ""
    return value if value and value != "N/A" else None


def _number(text: str | None) -> float | None:
    """"700.00 W" -> 700.0; None for N/A or missing."""
    try:
        return float(text.split()[0]) if text else None
    except ValueError:
        return None


def _one(values: list) -> object:
    """One value when every GPU agrees, else the distinct values in order."""
    distinct = list(dict.fromkeys(v for v in values if v is not None))
    return distinct[0] if len(distinct) == 1 else (distinct or None)


def _first(node: ET.Element, *tags: str) -> ET.Element | None:
    for tag in tags:
        if (found := node.find(tag)) is not None:
            return found
    return None


def nvidia_smi(xml_text: str) -> dict:
    """Fields of ``nvidia-smi -q -x`` (tags as NVIDIA's nvsmi_device DTD names them,
    e.g. <driver_version>, <mig_mode><current_mig>, <ecc_mode><current_ecc>,
    <max_clocks><sm_clock>, <gpu_power_readings><current_power_limit>)."""
    log = ET.fromstring(xml_text)
    gpus = log.findall("gpu")
    power = [_number(_text(_first(g, "gpu_power_readings", "power_readings"), "current_power_limit"))
             for g in gpus]  # older drivers name the block power_readings
    return {
        "nvidia_driver": _text(log, "driver_version"), "nvidia_driver_cuda": _text(log, "cuda_version"),
        "gpu_name": _one([_text(g, "product_name") for g in gpus]),
        "gpu_max_sm_clock_mhz": _one([_number(_text(g.find("max_clocks"), "sm_clock")) for g in gpus]),
        "gpu_max_mem_clock_mhz": _one([_number(_text(g.find("max_clocks"), "mem_clock")) for g in gpus]),
        "gpu_app_sm_clock_mhz": _one([_number(_text(g.find("applications_clocks"), "graphics_clock")) for g in gpus]),
        "gpu_power_limit_w": _one(power),
        "gpu_ecc": _one([_text(g.find("ecc_mode"), "current_ecc") for g in gpus]),
        "gpu_mig": _one([_text(g.find("mig_mode"), "current_mig") for g in gpus]),
    }


def neuron_runtime(neuron_ls_json: str) -> str | None:
    """The Neuron runtime version ``neuron-ls -j`` prints beside each process using a device."""
    try:
        devices = json.loads(neuron_ls_json)
    except ValueError:
        return None
    found = {str(v) for d in devices if isinstance(d, dict) for p in d.get("neuron_processes") or []
             if isinstance(p, dict) and (v := p.get("neuron_runtime_version")) is not None}
    return ", ".join(sorted(found)) or None


def torch_stack(torch) -> dict:
    """CUDA runtime, cuDNN and NCCL as the imported torch reports them (None on a CPU build)."""
    def nccl():
        try:
            version = torch.cuda.nccl.version()
        except Exception:  # a build without NCCL raises rather than returning None
            return None
        return ".".join(map(str, version)) if isinstance(version, tuple) else str(version)

    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {"cuda_runtime": torch.version.cuda, "cudnn": str(cudnn) if cudnn else None, "nccl": nccl()}


JAX_CUDA_FUNCTIONS = {"jax_cuda_runtime": "cuda_runtime_get_version", "jax_cudnn": "cudnn_get_version",
                      "jax_cublas": "cublas_get_version"}
"""The record's key, and the function of JAX's CUDA plugin that reads it. JAX keeps the module as
``jax._src.lib.cuda_versions`` (imported from ``jax_cuda13_plugin._versions``, ``jax_cuda12_plugin._versions``
or ``jaxlib.cuda._versions``; None without one: jax/_src/lib/__init__.py, jax 0.10.2); its functions return
the libraries' own encoded integers (CUDA 12.8 is 12080, cuDNN 9.8.0 is 90800), kept as printed."""


def jax_stack(jax_lib) -> dict:
    """CUDA runtime, cuDNN and cuBLAS as the loaded JAX's CUDA plugin reads them (JAX may load
    libraries other than torch's). ``jax_lib``: the imported ``jax._src.lib``."""
    versions = getattr(jax_lib, "cuda_versions", None)
    facts = {}
    for key, function in JAX_CUDA_FUNCTIONS.items():
        try:
            facts[key] = str(getattr(versions, function)()) if versions is not None else None
        except Exception:  # a library the plugin could not load raises; recorded as unread, with the reason
            facts[key] = None
    return facts


def framework_stack(sources: Sources = Sources(), import_frameworks: bool = False) -> Stack:
    """CUDA runtime, cuDNN and NCCL as torch reports them, and CUDA runtime, cuDNN and
    cuBLAS as JAX reports them: read again once a case has built its backend
    (harness.measure), when its framework is loaded."""
    stack = Stack()
    jax_lib = sources.modules.get("jax._src.lib")
    if jax_lib is None and import_frameworks and sources.version("jax"):
        import jax._src.lib as jax_lib  # accelbench env, as torch below (JAX's own module: no public one holds these)
    jax_why = ("JAX not loaded in this process (not a JAX case)" if jax_lib is None
               else "this JAX has no CUDA plugin (jax._src.lib.cuda_versions is None), or it could not read the library")
    jax_facts = jax_stack(jax_lib) if jax_lib is not None else {}
    for key in JAX_CUDA_FUNCTIONS:
        stack.put(key, jax_facts.get(key), jax_why)
    torch = sources.modules.get("torch")
    if torch is None and import_frameworks and sources.version("torch"):
        import torch  # accelbench env: the user asked what this machine has
    facts = torch_stack(torch) if torch is not None else {}
    why = ("torch not loaded in this process (not a torch case)" if torch is None
           else "this torch build reports none (a CPU build)")
    for key in ("cuda_runtime", "cudnn", "nccl"):
        stack.put(key, facts.get(key), why)
    return stack


def capture_stack(sources: Sources = Sources(), import_frameworks: bool = False) -> Stack:
    """The whole stack, each field read or None with its reason."""
    stack, root = Stack(), sources.root
    stack.put("kernel", _read(root, "proc/sys/kernel/osrelease"), "/proc/sys/kernel/osrelease unreadable")
    value, why = container(root)
    stack.put("container", value, why)
    net = fabric(root)
    no_rdma = "no RDMA devices under /sys/class/infiniband (no EFA or InfiniBand)"
    for key in ("fabric", "fabric_devices", "fabric_link_rate"):
        stack.put(key, net.get(key), no_rdma if not net else "no port reports a rate")

    smi = sources.run(["nvidia-smi", "-q", "-x"])
    try:
        gpu = nvidia_smi(smi) if smi else {}
    except ET.ParseError:
        gpu, smi = {}, None
    for key in ("nvidia_driver", "nvidia_driver_cuda", "gpu_name", "gpu_max_sm_clock_mhz", "gpu_max_mem_clock_mhz",
                "gpu_app_sm_clock_mhz", "gpu_power_limit_w", "gpu_ecc", "gpu_mig"):
        stack.put(key, gpu.get(key), "nvidia-smi -q -x not found or failed" if not smi else "nvidia-smi reports N/A")

    framework = framework_stack(sources, import_frameworks)
    stack.values |= framework.values
    stack.why_null |= framework.why_null

    tools = sources.run(["neuron-ls", "--version"])
    stack.put("neuron_tools", (tools or "").strip().splitlines()[0] if (tools or "").strip() else None,
              "neuron-ls not found (the Neuron tools install to /opt/aws/neuron/bin)")
    stack.put("neuron_driver", _read(root, "sys/module/neuron/version"),
              "no Neuron kernel driver loaded (/sys/module/neuron/version)")
    listing = sources.run(["neuron-ls", "-j"])
    stack.put("neuron_runtime", neuron_runtime(listing) if listing else None,
              "neuron-ls -j names the runtime only beside a process using a device; none was" if listing
              else "neuron-ls -j not found or failed")
    plugins = sources.entry_points("jax_plugins")  # one string, so reports and compare see one value
    stack.put("jax_plugins", ", ".join(f"{name}: {dist}" for name, dist in sorted(plugins.items())),
              "no jax_plugins entry points installed")
    stack.put("image_id", None, "not read here: the EC2/GCE metadata service client (facts/host.py) fills it")
    return stack
