"""torch-xla: PyTorch/XLA on Trainium1 (Neuron SDK <= 2.29), TPUs, or the CPU.

AWS ended PyTorch/XLA training on Neuron with Neuron 2.30 ("PyTorch 2.9 was
the last version based on the PyTorch/XLA backend for training", Neuron docs,
https://awsdocs-neuron.readthedocs-hosted.com/en/latest/about-neuron/announcements/neuron2.x/announce-no-support-pytorch-xla-training.html):
on a Neuron host this backend is available only with the XLA-based
torch-neuronx (the ``torch-xla-trn1`` stack of facts/data/stacks.toml);
otherwise it says so and points to ``torch-neuron``.

PyTorch/XLA traces operations lazily into a graph, compiles it with XLA (the
Neuron compiler on Trainium) the first time a graph of that shape is seen,
and runs it when the step is cut. So:

* the device is chosen explicitly, ``PJRT_DEVICE`` set before torch_xla is
  imported (torch_xla would otherwise guess NEURON whenever libneuronxla
  imports). ``--set pjrt_device=CPU|TPU|NEURON|CUDA``; by default NEURON when
  Neuron devices are present, TPU when TPU chips are, else CPU;
* every step ends with ``torch_xla.sync()`` (``xm.mark_step()`` on versions
  before it), which cuts and launches the graph without waiting for it
  (``sync(wait=False)``: "whether to block the current process until the
  execution finished"; pytorch/xla torch_xla/torch_xla.py); the fence is
  ``xm.wait_device_ops()``, which "waits for all the async operations on the
  given devices to complete" (torch_xla/core/xla_model.py), once per timed
  window, so tracing step n+1 overlaps the device work of step n as it does
  in a training loop;
* compilations are counted from ``torch_xla.debug.metrics``: the counter
  ``UncachedCompile`` and the metric ``CompileTime`` (nanoseconds). The
  counts before and after the timed steps are recorded; a case whose timed
  steps compiled again is flagged (``recompiled_during_timing``), because its
  step times then include compile time and its graph is not stable;
* the Neuron compile cache folder is set with ``--set neuron_cache_dir=DIR``
  (``NEURON_CC_FLAGS=--cache_dir=DIR``) and reported in the record.

Default precision: bf16 autocast on Neuron and TPU, fp32 on the CPU.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import sys
from dataclasses import dataclass
from typing import Any

from accelbench.backends import chip_share, discovery, matmul_precision
from accelbench.facts import cpuinfo
from accelbench.backends.base import (NEURON_ENERGY, TPU_ENERGY, Availability, BackendError, DeviceInfo,
                                      EnergyMeterChoice, PreparedStep)
from accelbench.backends.torch_common import TorchBackend, TorchSettings
from accelbench.facts.envinfo import package_version

PJRT_DEVICES = ("CPU", "TPU", "NEURON", "CUDA")
MATMUL_PLATFORM = {"CPU": "cpu", "TPU": "tpu", "NEURON": "neuron", "CUDA": "gpu"}


@dataclass
class XlaSettings(TorchSettings):
    pjrt_device: str = ""
    """PJRT_DEVICE for this case: CPU, TPU, NEURON or CUDA; empty picks NEURON, then TPU, then CPU by what is present."""
    neuron_cache_dir: str = ""
    """Neuron compile cache folder (NEURON_CC_FLAGS=--cache_dir=...); empty keeps the Neuron default."""


@dataclass(frozen=True)
class CompileStats:
    compiles: int
    compile_s: float


def minor_version(version: str | None) -> tuple[int, int] | None:
    parts = (version or "").split("+")[0].split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None


def xla_availability(torch_version: str | None, torch_xla_version: str | None) -> Availability:
    hint = ("install torch and torch-xla of the same minor version, e.g. "
            "pip install torch==2.9.1 torch-xla==2.9.0 (ci/xla_tier.sh builds such a virtual environment)")
    if torch_xla_version is None:
        return Availability.no(f"torch-xla is not installed: {hint}")
    if torch_version is None:
        return Availability.no(f"torch-xla {torch_xla_version} is installed but PyTorch is not: {hint}")
    if minor_version(torch_version) != minor_version(torch_xla_version):
        return Availability.no(f"torch {torch_version} cannot load torch-xla {torch_xla_version} "
                               f"(torch-xla needs the torch of its own minor version): {hint}")
    return Availability.yes()


def xla_on_neuron_availability(torch_neuronx_version: str | None) -> Availability:
    """On a Neuron host torch-xla runs through the XLA-based torch-neuronx (2.x before 2.13, Neuron <= 2.29);
    the native TorchNeuron (2.13+) or none means this path is not there: say why, and where to go."""
    from accelbench.facts.stacks import XLA_TRAINING_ENDED, load_stacks

    parsed = minor_version(torch_neuronx_version)
    if parsed is not None and (2, 0) <= parsed < (2, 13):
        return Availability.yes()
    found = (f"torch-neuronx {torch_neuronx_version} is the native TorchNeuron, not the XLA-based library"
             if parsed is not None and parsed >= (2, 13) else "the XLA-based torch-neuronx is not installed")
    trn1 = load_stacks()["torch-xla-trn1"]
    return Availability.no(f"{found}. {XLA_TRAINING_ENDED} ({trn1.pip_spec})")


def resolve_pjrt_device(requested: str, neuron_present: bool, tpu_present: bool) -> str:
    if requested:
        if requested.upper() not in PJRT_DEVICES:
            raise BackendError(f"unknown pjrt_device '{requested}' for backend 'torch-xla'; "
                               f"accepted: {', '.join(PJRT_DEVICES)}")
        return requested.upper()
    return "NEURON" if neuron_present else ("TPU" if tpu_present else "CPU")


def with_cache_dir(neuron_cc_flags: str, cache_dir: str) -> str:
    """NEURON_CC_FLAGS with its ``--cache_dir`` replaced by ``cache_dir``; other flags kept."""
    kept = [f for f in shlex.split(neuron_cc_flags) if not f.startswith("--cache_dir")]
    return shlex.join([*kept, f"--cache_dir={cache_dir}"])


def xla_compile_facts(before: CompileStats | None, after_windows: CompileStats | None, now: CompileStats,
                      dynamo: dict[str, Any]) -> dict[str, Any]:
    """What the compile counters say about a case. ``before``: at the first
    timed window; ``after_windows``: at the end of the last (None when the
    timer did not say, e.g. under pytest-benchmark: then ``now``); ``now``:
    after the audit and the fenced diagnostic.

    * ``compile_s_before_timing``: XLA's ``CompileTime`` over every graph
      compiled before timing: the first step's, and the second one that
      appears in the numerics steps once AdamW state exists (on Neuron each
      can take minutes). ``harness.timing.compile_seconds`` makes it the
      record's ``compile_s``.
    * recompiles during timing are counted over the timed windows only; the
      graphs the fence audit's read-back and the fenced diagnostic cut come
      after (``xla_compiles_after_timing``) and flag nothing."""
    before = before or now
    windows_end = after_windows or now
    during = windows_end.compiles - before.compiles
    return {
        **dynamo,
        "xla_compiles": now.compiles,
        "xla_compile_s": now.compile_s,
        "xla_compiles_before_timing": before.compiles,
        "xla_compiles_during_timing": during,
        "xla_compiles_after_timing": now.compiles - windows_end.compiles,
        "compile_s_before_timing": before.compile_s,
        "compile_s_basis": "XLA CompileTime metric summed over every graph compiled before the timed windows "
                           "(first step, numerics, warm-up)",
        "recompiled_during_timing": during > 0 or bool(dynamo.get("recompiled_during_timing")),
    }


def compile_stats() -> CompileStats:
    import torch_xla.debug.metrics as met

    data = met.metric_data("CompileTime")  # (total samples, accumulator in ns, samples) or None
    return CompileStats(int(met.counter_value("UncachedCompile") or 0), (data[1] / 1e9) if data else 0.0)


class TorchXlaBackend(TorchBackend):
    name = "torch-xla"
    process_group = "xla"  # registered by torch_xla.distributed.xla_backend (PyTorch/XLA DDP guide)
    fence_description = "torch_xla.sync() ends each step (asynchronous); xm.wait_device_ops() after each window"
    settings_cls = XlaSettings
    # PyTorch/XLA's FSDP is its own wrappers (XlaFullyShardedDataParallel, SPMD
    # FSDPv2), built apart because "native PyTorch's FSDP ... heavily relies on
    # CUDA features that are not supported by XLA devices" (pytorch.org/blog/
    # scaling-pytorch-models-on-cloud-tpus-with-fsdp; docs.pytorch.org/xla
    # perf/fsdp and perf/fsdp_spmd); FSDPv2 needs SPMD mode, one process for all
    # devices, not this backend's torchrun ranks. Not wired up, so refused.
    fsdp_refusal = ("FSDP2 (torch.distributed.fsdp.fully_shard) does not run on XLA devices, and PyTorch/XLA's own "
                    "FSDP wrappers (XlaFullyShardedDataParallel, SPMD FSDPv2) are not wired into accelbench; "
                    "use shard=none here, or a jax backend for sharded runs on TPU and Trainium")

    def __init__(self, settings: XlaSettings | None = None, device_index: int | None = None):
        super().__init__(settings, device_index)
        self._pjrt: str | None = None
        self._before_timing: CompileStats | None = None
        self._after_windows: CompileStats | None = None

    @classmethod
    def available(cls) -> Availability:
        if importlib.util.find_spec("torch_xla") is None:
            found = xla_availability(package_version("torch"), None)
        else:
            found = xla_availability(package_version("torch"), package_version("torch-xla") or package_version("torch_xla"))
        if not found.ok or not discovery.neuron_device_nodes():
            return found
        return xla_on_neuron_availability(package_version("torch-neuronx"))

    # ----------------------------------------------------------- environment
    @property
    def pjrt_device(self) -> str:
        """Chosen once per process and exported before torch_xla is imported."""
        if self._pjrt is None:
            self._pjrt = resolve_pjrt_device(self.settings.pjrt_device, bool(discovery.neuron_device_nodes()),
                                             discovery.tpu_chips().count > 0)
            if "torch_xla" in sys.modules and os.environ.get("PJRT_DEVICE") != self._pjrt:
                raise BackendError(f"torch_xla was imported with PJRT_DEVICE={os.environ.get('PJRT_DEVICE')} "
                                   f"before the backend could set {self._pjrt}")
            os.environ["PJRT_DEVICE"] = self._pjrt
            if self.settings.neuron_cache_dir:
                os.environ["NEURON_CC_FLAGS"] = with_cache_dir(os.environ.get("NEURON_CC_FLAGS", ""),
                                                               self.settings.neuron_cache_dir)
            matmul_precision.export_neuron_flag(self.matmul_plan)  # fp32/tf32 on Neuron: before the first compile
        return self._pjrt

    @property
    def matmul_plan(self) -> matmul_precision.MatmulPlan:
        # torch_xla.backends.set_mat_mul_precision exists from torch-xla 2.8 (docs.pytorch.org/xla/release/r2.8).
        knob = (minor_version(package_version("torch-xla") or package_version("torch_xla")) or (0, 0)) >= (2, 8)
        return matmul_precision.plan(MATMUL_PLATFORM[self.pjrt_device], self.precision, xla_knob=knob,
                                     neuronx_cc_version=package_version("neuronx-cc"))

    def configure(self) -> None:
        super().configure()
        plan = self.matmul_plan
        if plan.xla_precision:
            import torch_xla.backends

            torch_xla.backends.set_mat_mul_precision(plan.xla_precision)

    @property
    def precision(self) -> str:
        return self.settings.precision or ("fp32" if self.pjrt_device == "CPU" else "bf16")

    def torch_device(self):
        self.pjrt_device  # noqa: B018 - exports PJRT_DEVICE first
        import torch_xla

        return torch_xla.device() if hasattr(torch_xla, "device") else _xm().xla_device()

    def wrap(self):
        """``compile=true`` uses dynamo with the openxla backend; the lazy-tensor
        path (default) already compiles whole graphs."""
        if not self.settings.compile:
            return None
        import torch

        backend = "openxla" if self.settings.compile_backend == "inductor" else self.settings.compile_backend
        return lambda fn: torch.compile(fn, backend=backend)

    # ------------------------------------------------------------- running
    def prepare(self, kernel, cfg, state) -> PreparedStep:
        prepared = super().prepare(kernel, cfg, state)
        sync = _sync_function()
        inner = prepared.step

        def step():
            outputs = inner()
            sync()
            return outputs

        prepared.step = step
        return prepared

    def case_info(self) -> dict[str, Any]:
        info = {**super().case_info(), "pjrt_device": self.pjrt_device,
                "matmul_precision": self.matmul_plan.to_dict()}
        if self.settings.compile:
            info["compile_backend"] = "openxla" if self.settings.compile_backend == "inductor" else self.settings.compile_backend
        if self.pjrt_device == "NEURON" or self.settings.neuron_cache_dir:
            info["neuron_cc_flags"] = os.environ.get("NEURON_CC_FLAGS", "")
            info["neuron_cache_dir"] = self.settings.neuron_cache_dir or None
        return info

    def fence(self, outputs) -> None:
        _xm().wait_device_ops()

    def begin_timing(self) -> None:
        """Dynamo's snapshot (TorchBackend) and XLA's compile counters, once."""
        super().begin_timing()
        if self._before_timing is None:
            self._before_timing = compile_stats()

    def end_timing(self) -> None:
        """XLA's compile counters right after the last timed window, before the
        fence audit: the audit's read-back (``prepared.observe()``) cuts new
        graphs of its own, which are not recompiles of the timed step."""
        if self._after_windows is None:
            self._after_windows = compile_stats()

    def after_timing(self, prepared: PreparedStep) -> dict[str, Any]:
        return xla_compile_facts(self._before_timing, self._after_windows, compile_stats(),
                                 super().after_timing(prepared))  # compile=true: dynamo's openxla graphs as well

    # -------------------------------------------------------------- device
    def device_info(self) -> DeviceInfo:
        pjrt = self.pjrt_device
        import torch_xla.runtime as xr

        extra: dict[str, Any] = {"pjrt_device": pjrt, "xla_devices": xr.global_runtime_device_count()}
        if pjrt == "NEURON":
            devices = discovery.neuron_devices()
            first = devices[0] if devices else None
            if first is not None:
                # One process drives one NeuronCore (a fraction of a chip).
                extra.update({"instance_type": first.instance_type, "neuron_devices": len(devices),
                              "neuroncores_per_device": first.core_count, "neuroncores_used": 1})
            view = chip_share.for_neuron_device(first, os.environ.get("NEURON_LOGICAL_NC_CONFIG"))
            return DeviceInfo(kind=view.kind, catalog_key=view.catalog_key, count=1, extra=extra,
                              chip_share=view.share.share, chip_share_reason=view.share.reason,
                              chip_share_source=view.share.source,
                              memory_bytes=view.memory_bytes, energy_meter=NEURON_ENERGY)
        if pjrt == "TPU":
            chips = discovery.tpu_chips()
            extra["tpu_chips"] = chips.count
            share = chip_share.for_tpu(chips.catalog_key, chips.catalog_key)
            return DeviceInfo(kind=f"TPU ({chips.catalog_key or 'PCI ' + str(chips.pci_device_id)})",
                              catalog_key=chips.catalog_key, count=1, extra=extra, chip_share=share.share,
                              chip_share_reason=share.reason, chip_share_source=share.source, energy_meter=TPU_ENERGY)
        if pjrt == "CUDA":
            gpus = discovery.nvidia_gpus()
            name = gpus[0].name if gpus else "CUDA GPU"
            return DeviceInfo(kind=name, catalog_key=discovery.gpu_catalog_key(name), count=1,
                              memory_bytes=gpus[0].memory_bytes if gpus else None,
                              driver=gpus[0].driver if gpus else None, extra=extra,
                              energy_meter=EnergyMeterChoice.none("PJRT names no GPU UUID to open NVML by"))
        return DeviceInfo(kind=cpuinfo.cpu_model(), catalog_key=None, count=1,
                          memory_bytes=cpuinfo.memory_bytes(), extra=extra, energy_meter=EnergyMeterChoice.rapl())

    def peak_memory_bytes(self) -> int | None:
        if self.pjrt_device == "CPU":
            return cpuinfo.peak_rss_bytes()
        try:
            import torch_xla

            info = _xm().get_memory_info(torch_xla.device())
        except Exception:  # not every PJRT plugin reports allocator statistics
            return None
        # the peak or nothing: current use ("bytes_used") is not a peak (harness.timing.PEAK_MEMORY_DEFINITION)
        peak = info.get("peak_bytes_used") if isinstance(info, dict) else None
        return int(peak) if peak is not None else None


def _xm():
    import torch_xla.core.xla_model as xm

    return xm


def _sync_function():
    import torch_xla

    return torch_xla.sync if hasattr(torch_xla, "sync") else _xm().mark_step
