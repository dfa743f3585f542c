"""torch-neuron: TorchNeuron, the native PyTorch device ``neuron`` (Trainium2/3).

TorchNeuron (package ``torch-neuronx`` from Neuron SDK 2.33, versions 2.13+
matching the PyTorch minor version) registers Trainium as a PrivateUse1 device
named ``neuron``: tensors move with ``.to("neuron")``, ops run eagerly, and
``torch.compile(backend="neuron")`` compiles the forward module
(``--set compile=true``; the compile happens in step 1, reported as
``compile_s``). Mixed precision is ``torch.autocast(device_type="neuron")``,
which the kernels' lowerings apply for ``bf16``. The fence is
``torch.neuron.synchronize()``, once per timed window (``harness.timing``):
the host is not made to wait between the steps of a window. Recompiles of
``torch.compile(backend="neuron")`` during timing are counted through
TorchDynamo's counters (``TorchBackend.after_timing``): the Neuron backend is
a TorchDynamo backend ("How torch.compile works on Neuron", Neuron docs,
2026-08-21). Its own ``get_dynamo_metrics`` helper (named in the "torch.compile
backend reference") is not read: the stored documentation did not give its
fields. Source: Neuron docs, "TorchNeuron: Native
PyTorch on AWS Neuron" and the torch-neuronx 2.13.3.0/2.14.3.0 release notes
(Neuron 2.33.0, 2026-10-19).

Older ``torch-neuronx`` versions (<= 2.9, Neuron SDK <= 2.29) are the
XLA-based library: use the ``torch-xla`` backend there. The ``torch-neuronx``
on PyPI is an empty placeholder (version 1.0); the real packages come from
the Neuron pip repository (https://pip.repos.neuron.amazonaws.com).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from dataclasses import dataclass
from typing import Any

from accelbench.backends import chip_share, discovery, matmul_precision
from accelbench.backends.base import NEURON_ENERGY, Availability, DeviceInfo
from accelbench.backends.torch_common import TorchBackend, TorchSettings
from accelbench.backends.torch_xla import minor_version
from accelbench.facts.envinfo import package_version

EAGER_FLAGS_ASSUMED = ("TorchNeuron eager mode: the Neuron docs say torch.compile(backend='neuron') compiles with "
                       "neuronx-cc but not whether eager operators honour NEURON_CC_FLAGS' --auto-cast, so the "
                       "precision is assumed (--set compile=true makes it known)")
NATIVE_FROM = (2, 13)
"""First torch-neuronx version that is the native backend (Neuron 2.33)."""


def install_hint() -> str:
    """Where to get TorchNeuron: the pinned stack of facts/data/stacks.toml."""
    from accelbench.facts.stacks import load_stacks

    stack = load_stacks()["torch-neuron"]
    return (f"install the native TorchNeuron (Neuron {stack.neuron_sdk}, trn2/trn3) from "
            f"https://pip.repos.neuron.amazonaws.com: pip install {stack.pip_spec}")


@dataclass
class NeuronSettings(TorchSettings):
    compile_backend: str = "neuron"


def torch_neuronx_kind(version: str | None) -> str:
    """'missing', 'native' (>= 2.13), 'xla' (the older XLA-based library) or
    'placeholder' (PyPI's empty torch-neuronx 1.0)."""
    if version is None:
        return "missing"
    parsed = minor_version(version)
    if parsed is None or parsed[0] < 2:
        return "placeholder"
    return "native" if parsed >= NATIVE_FROM else "xla"


def neuron_availability(device_nodes: list[str], module_found: bool, version: str | None) -> Availability:
    problems = []
    if not device_nodes:
        problems.append("no Neuron device (no /dev/neuron*; TorchNeuron runs on trn2 and trn3 instances)")
    kind = torch_neuronx_kind(version if module_found else None)
    if kind == "missing":
        problems.append(f"torch_neuronx is not installed: {install_hint()}")
    elif kind == "placeholder":
        problems.append(f"torch-neuronx {version} is PyPI's empty placeholder, not the Neuron package: {install_hint()}")
    elif kind == "xla":
        problems.append(f"torch-neuronx {version} is the XLA-based library (before Neuron 2.33): "
                        f"use the torch-xla backend, or {install_hint()}")
    return Availability.no("; ".join(problems)) if problems else Availability.yes()


class TorchNeuronBackend(TorchBackend):
    name = "torch-neuron"
    # Neuron docs, "How to use torch.distributed on Neuron": init_process_group(backend="neuron") after import torch_neuronx
    process_group = "neuron"
    fence_description = "torch.neuron.synchronize() after each window of steps"
    default_precision = "bf16"
    settings_cls = NeuronSettings

    @classmethod
    def available(cls) -> Availability:
        return neuron_availability(discovery.neuron_device_nodes(), importlib.util.find_spec("torch_neuronx") is not None,
                                   package_version("torch-neuronx"))

    @classmethod
    def rank_environment(cls, local_rank: int, environ) -> dict[str, str]:
        """A NeuronCore belongs to one process: rank r takes the r-th core this
        node offers (all of them, or those ``NEURON_RT_VISIBLE_CORES`` already
        names), through ``NEURON_RT_VISIBLE_CORES``, read by the Neuron runtime
        when it starts (Neuron docs, "Reference: Neuron Runtime environment
        variables": "To partition one instance across several processes, give
        each process its own slice of cores with NEURON_RT_VISIBLE_CORES").
        The process then sees one core, its device ``neuron`` (index 0), as in
        the Neuron docs' torchrun example ("How to use torch.distributed on
        Neuron", device ``torch.device("neuron")`` in every rank)."""
        return {NEURON_VISIBLE_CORES: str(rank_core(local_rank, environ.get(NEURON_VISIBLE_CORES, "")))}

    @property
    def matmul_plan(self) -> matmul_precision.MatmulPlan:
        plan = matmul_precision.plan("neuron", self.precision, neuronx_cc_version=package_version("neuronx-cc"))
        if plan.neuron_cc_flag and not self.settings.compile:
            return dataclasses.replace(plan, assumed=EAGER_FLAGS_ASSUMED)
        return plan

    def export_compiler_flags(self) -> None:
        """fp32 and tf32: their ``--auto-cast`` flags in NEURON_CC_FLAGS before anything compiles (backends/matmul_precision.py)."""
        matmul_precision.export_neuron_flag(self.matmul_plan)

    def configure(self) -> None:
        self.export_compiler_flags()
        super().configure()

    def torch_device(self):
        _load_torch_neuronx()
        return "neuron"  # in a rank, the one core rank_environment left visible

    def fence(self, outputs) -> None:
        import torch

        torch.neuron.synchronize()

    def case_info(self) -> dict[str, Any]:
        info = {**super().case_info(), "matmul_precision": self.matmul_plan.to_dict(),
                "neuron_cc_flags": os.environ.get("NEURON_CC_FLAGS", "")}
        if self.settings.compile:
            info["compile_backend"] = self.settings.compile_backend
        return info

    def device_info(self) -> DeviceInfo:
        """One ``neuron`` device is one logical NeuronCore: 1/4 of a Trainium2 chip at the default LNC=2."""
        self.export_compiler_flags()
        torch = _load_torch_neuronx()
        devices = discovery.neuron_devices()
        first = devices[0] if devices else None
        view = chip_share.for_neuron_device(first, os.environ.get("NEURON_LOGICAL_NC_CONFIG"))
        return DeviceInfo(
            kind=view.kind,
            catalog_key=view.catalog_key,
            count=1,
            memory_bytes=view.memory_bytes,
            chip_share=view.share.share,
            chip_share_reason=view.share.reason, chip_share_source=view.share.source,
            energy_meter=NEURON_ENERGY,
            extra={"neuron_devices": len(devices), "visible_neuron_devices": _accelerator_count(torch),
                   "visible_cores": os.environ.get(NEURON_VISIBLE_CORES),
                   "neuroncores_per_device": first.core_count if first else None,
                   "logical_neuroncore_config": first.logical_core_config if first else None},
        )

    def peak_memory_bytes(self) -> int | None:
        import torch

        reader = getattr(torch.neuron, "max_memory_allocated", None)
        try:
            return int(reader()) if reader else None
        except Exception:  # the beta backend may not track allocations
            return None


NEURON_VISIBLE_CORES = "NEURON_RT_VISIBLE_CORES"


def rank_core(local_rank: int, visible: str) -> int:
    """The NeuronCore of local rank ``local_rank``: its entry in ``visible``
    (``NEURON_RT_VISIBLE_CORES`` syntax: "3", "0-3", "0,2,4-5"), or the core
    with that number when nothing narrows the node's cores."""
    cores: list[int] = []
    for part in filter(None, (p.strip() for p in visible.split(","))):
        low, _, high = part.partition("-")
        cores.extend(range(int(low), int(high or low) + 1))
    if not cores:
        return local_rank
    if local_rank >= len(cores):
        raise ValueError(f"local rank {local_rank} has no NeuronCore: {NEURON_VISIBLE_CORES}={visible} names {len(cores)}")
    return cores[local_rank]


def _accelerator_count(torch) -> int | None:
    """Devices PyTorch sees through its device-neutral API (torch >= 2.6)."""
    accelerator = getattr(torch, "accelerator", None)
    return int(accelerator.device_count()) if accelerator is not None else None


def _load_torch_neuronx():
    """Import torch_neuronx, which registers the ``neuron`` device and ``torch.neuron``; return torch."""
    import torch
    import torch_neuronx  # noqa: F401

    return torch
