"""JAX backends: one class, the platform a parameter.

The platform is chosen explicitly (``JAX_PLATFORMS`` is set before JAX is
imported in the case's process, and devices are taken from that platform),
the step is compiled ahead of time with ``jit(step).lower(state).compile()``
so compile time is measured apart, and ``jax.block_until_ready`` on the whole
tree a step leaves (its outputs and the new state: parameters, optimizer
moments) is the fence, so an update still running after the loss is ready is
waited for too.
"""

from __future__ import annotations

import importlib.util
import os
import re
import time
import warnings
from dataclasses import dataclass
from importlib import metadata
from typing import ClassVar

from accelbench.backends import chip_share, discovery, matmul_precision
from accelbench.facts import cpuinfo
from accelbench.backends.base import (NEURON_ENERGY, TPU_ENERGY, Availability, Backend, BackendError, BackendSettings,
                                      DeviceInfo, EnergyMeterChoice, PreparedStep)
from accelbench.facts.envinfo import package_version
from accelbench.kernels.base import ATTENTION_IMPLEMENTATIONS


class JaxBackend(Backend):
    framework = "jax"
    platform: ClassVar[str]
    fence_description = "jax.block_until_ready on the step's outputs and state, after each window of steps"

    @classmethod
    def jax_importable(cls) -> Availability:
        if importlib.util.find_spec("jax") is None:
            return Availability.no("JAX is not installed (pip install 'accelbench[jax]')")
        return Availability.yes()

    def select_platform(self) -> None:
        """Pin JAX to this backend's platform; effective when JAX is not yet imported."""
        os.environ.setdefault("JAX_PLATFORMS", self.platform)

    def devices(self):
        self.select_platform()
        import jax

        return jax.devices(self.platform)

    def attention_implementation(self) -> str | None:
        """The ``jax.nn.dot_product_attention`` implementation to ask for (None: JAX's default, XLA)."""
        return None

    def jax_program(self, kernel, cfg):
        """The kernel's JAX lowering, given the attention implementation when it has attention."""
        if kernel.uses_attention:
            return kernel.jax_program(cfg, self.precision, attention=self.attention_implementation())
        return kernel.jax_program(cfg, self.precision)

    def attention_info(self, kernel, compiled) -> dict:
        """What the record says about attention: the implementation asked for
        and the one the compiled step holds (cuDNN's custom call or not)."""
        if not kernel.uses_attention:
            return {}
        from accelbench.kernels import jax_models

        requested = self.attention_implementation()
        return {"jax_attention": jax_models.attention_that_ran(compiled.as_text() or ""),
                "jax_attention_requested": requested or "default (xla)"}

    def prepare(self, kernel, cfg, state) -> PreparedStep:
        import jax

        device = self.devices()[0]
        program = self.jax_program(kernel, cfg)
        current = {"state": jax.device_put(program.init(state), device), "outputs": None}
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            # CPU and some plugins cannot reuse donated buffers; that costs memory, not correctness.
            warnings.filterwarnings("ignore", message=".*donated buffers.*")
            compiled = jax.jit(program.step, donate_argnums=0).lower(current["state"]).compile()
        compile_s = time.perf_counter() - t0

        def step():
            current["state"], current["outputs"] = compiled(current["state"])
            return current["outputs"]

        self.fence_covers(current)

        def observe():
            return program.observe(current["state"], current["outputs"])

        info = {"jax_platform": self.platform, **self.attention_info(kernel, compiled)}
        return PreparedStep(step=step, observe=observe, compile_s=compile_s, info=info)

    def fence_covers(self, current: dict) -> None:
        """Name the dict whose ``"state"`` each step replaces (this prepare's, or a
        mesh engine's): the fence waits on that state besides the outputs it is handed."""
        self._live = current

    @property
    def live_state(self):
        """The state the last step left, which the fence waits on (None before a prepare)."""
        live = getattr(self, "_live", None)
        return live["state"] if live else None

    def matmul_scope(self):
        """Where a step is lowered: XLA's default matmul precision here (accelerators override)."""
        import contextlib

        return contextlib.nullcontext()

    def fence(self, outputs) -> None:
        import jax

        jax.block_until_ready((outputs, self.live_state))


class JaxCpuBackend(JaxBackend):
    name = "jax-cpu"
    platform = "cpu"
    memory_is_host = True

    @classmethod
    def available(cls) -> Availability:
        return cls.jax_importable()

    def device_info(self) -> DeviceInfo:
        devices = self.devices()
        return DeviceInfo(
            kind=cpuinfo.cpu_model(),
            catalog_key=None,
            count=1,
            memory_bytes=cpuinfo.memory_bytes(),
            extra={"jax_devices": len(devices)},
            energy_meter=EnergyMeterChoice.rapl(),  # the host's CPU packages
        )

    def peak_memory_bytes(self) -> int | None:
        return cpuinfo.peak_rss_bytes()


# ------------------------------------------------------------- accelerators
# jax-gpu, jax-tpu, jax-neuron: the platform is exported in JAX_PLATFORMS
# (overriding the environment: each case has its own process), devices come
# from that platform, and the device is named from its JAX ``device_kind``.

ATTENTION_CHOICES = ("auto", *sorted(ATTENTION_IMPLEMENTATIONS))  # sorted: "auto, cudnn, xla", as always listed


@dataclass
class JaxAccelSettings(BackendSettings):
    jax_attention: str = "auto"
    """jax.nn.dot_product_attention implementation: auto (cuDNN on GPUs for
    bf16, which is all cuDNN's fused attention takes; XLA otherwise), cudnn, xla."""


def _installed(pattern: str) -> list[str]:
    """Installed distributions whose name matches ``pattern`` (e.g. JAX's GPU plugins)."""
    names = {(d.metadata["Name"] or "").lower() for d in metadata.distributions()}
    return sorted(n for n in names if re.match(pattern, n))


def accel_availability(jax_found: bool, hardware: tuple[bool, str], runtime: tuple[bool, str]) -> Availability:
    """Every missing piece in one line: JAX, the chip, the JAX plugin that drives it."""
    problems = [] if jax_found else ["JAX is not installed (pip install 'accelbench[jax]')"]
    problems += [why for ok, why in (hardware, runtime) if not ok]
    return Availability.no("; ".join(problems)) if problems else Availability.yes()


class JaxAccelBackend(JaxBackend):
    default_precision = "bf16"
    settings_cls = JaxAccelSettings
    jax_platforms: ClassVar[str]
    energy_meter: ClassVar[EnergyMeterChoice] = EnergyMeterChoice()
    matmul_platform: ClassVar[str]
    """'gpu', 'tpu' or 'neuron': how default-precision fp32 dots are lowered there (backends/matmul_precision.py)."""

    def __init__(self, settings: JaxAccelSettings | None = None):
        super().__init__(settings)
        if self.settings.jax_attention not in ATTENTION_CHOICES:
            raise BackendError(f"unknown jax_attention '{self.settings.jax_attention}' for backend '{self.name}'; "
                               f"accepted: {', '.join(ATTENTION_CHOICES)}")

    def attention_implementation(self) -> str | None:
        choice = self.settings.jax_attention
        return None if choice == "auto" else choice

    @property
    def matmul_plan(self) -> matmul_precision.MatmulPlan:
        return matmul_precision.plan(self.matmul_platform, self.precision,
                                     neuronx_cc_version=package_version("neuronx-cc") if self.matmul_platform == "neuron" else None)

    def select_platform(self) -> None:
        # "cpu" listed after the accelerator keeps the host CPU usable for the
        # float64 numerics reference while the accelerator stays the default
        # (the list is in priority order: JAX v0.3.22 release notes, "JAX_PLATFORMS=tpu,cpu").
        os.environ["JAX_PLATFORMS"] = f"{self.jax_platforms},cpu"
        matmul_precision.export_neuron_flag(self.matmul_plan)  # fp32 on Neuron: before anything compiles

    def matmul_scope(self):
        """Where a step is lowered: fp32 asks XLA for full-precision dots (jax.default_matmul_precision,
        a context manager, so nothing outlives this lowering). Engines that compile the step
        themselves (data parallelism) lower it inside this too."""
        import contextlib

        import jax

        precision = self.matmul_plan.xla_precision
        return jax.default_matmul_precision(precision) if precision else contextlib.nullcontext()

    def prepare(self, kernel, cfg, state) -> PreparedStep:
        self.select_platform()
        with self.matmul_scope():  # the step is compiled ahead of time inside prepare()
            prepared = super().prepare(kernel, cfg, state)
        prepared.info["matmul_precision"] = self.matmul_plan.to_dict()
        return prepared

    def catalog_key(self, device_kind: str) -> str | None:
        return discovery.jax_kind_catalog_key(device_kind)

    def device_info(self) -> DeviceInfo:
        devices = self.devices()
        key = self.catalog_key(devices[0].device_kind)
        return self.describe(devices, key, self.device_chip_share(key, devices[0]))

    def describe(self, devices, key: str | None, share: chip_share.ChipShare) -> DeviceInfo:
        """``device_info`` from JAX's devices, the catalog key and the chip share."""
        first = devices[0]
        return DeviceInfo(
            kind=first.device_kind,
            catalog_key=key,
            count=1,
            memory_bytes=_memory_stats(first).get("bytes_limit"),  # the allocator's limit for this one device
            driver=self.driver(),
            chip_share=share.share,
            chip_share_reason=share.reason, chip_share_source=share.source,
            extra={"jax_devices": len(devices), "jax_platform": first.platform, "jax_device_kind": first.device_kind},
            energy_meter=self.energy_meter,
        )

    def device_chip_share(self, catalog_key: str | None, device) -> chip_share.ChipShare:
        """GPUs: one device is one chip. TPU and Neuron backends override."""
        return chip_share.ONE_CHIP

    def driver(self) -> str | None:
        return None

    def peak_memory_bytes(self) -> int | None:
        return _memory_stats(self.devices()[0]).get("peak_bytes_in_use")


def _memory_stats(device) -> dict:
    try:
        return device.memory_stats() or {}
    except Exception:  # some PJRT plugins do not implement allocator statistics
        return {}


class JaxGpuBackend(JaxAccelBackend):
    """JAX on NVIDIA (CUDA plugin) or AMD (ROCm plugin) GPUs."""

    name = "jax-gpu"
    platform = "gpu"
    energy_meter = EnergyMeterChoice.none("JAX names no GPU UUID to open NVML by")
    matmul_platform = "gpu"

    @classmethod
    def plugins(cls) -> list[str]:
        return _installed(r"^jax[-_](cuda|rocm)\d*[-_]plugin$")

    @property
    def jax_platforms(self) -> str:  # "gpu" would also demand the plugins that are absent
        return "rocm" if any("rocm" in p for p in self.plugins()) else "cuda"

    @classmethod
    def available(cls) -> Availability:
        nvidia, amd = discovery.nvidia_gpu_present(), discovery.amd_gpu_present()
        hardware = (True, "") if (nvidia[0] or amd[0]) else (False, f"no NVIDIA or AMD GPU found ({nvidia[1]}; {amd[1]})")
        plugin = (True, "") if cls.plugins() else (
            False, "JAX has no GPU plugin: pip install 'jax[cuda13]' (NVIDIA) or 'jax[rocm]' (AMD)")
        return accel_availability(cls.jax_importable().ok, hardware, plugin)

    def attention_implementation(self) -> str | None:
        if self.settings.jax_attention == "auto":
            return "cudnn" if self.precision == "bf16" and self.jax_platforms == "cuda" else None
        return super().attention_implementation()

    def driver(self) -> str | None:
        gpus = discovery.nvidia_gpus()
        return gpus[0].driver if gpus else None


class JaxTpuBackend(JaxAccelBackend):
    name = "jax-tpu"
    platform = "tpu"
    energy_meter = TPU_ENERGY
    jax_platforms = "tpu"
    matmul_platform = "tpu"

    def device_chip_share(self, catalog_key, device) -> chip_share.ChipShare:
        """TPU7x: one JAX device is one of the chip's 2 TensorCores (no megacore); v4/v5p megacore: a chip."""
        return chip_share.for_tpu(catalog_key, device.device_kind, getattr(device, "num_cores", None))

    @classmethod
    def available(cls) -> Availability:
        chips = discovery.tpu_chips()
        hardware = (True, "") if chips.count else (
            False, "no TPU found (no Google TPU device in /sys/bus/pci/devices; run on a Cloud TPU VM)")
        runtime = (True, "") if importlib.util.find_spec("libtpu") else (
            False, "libtpu is not installed: pip install 'jax[tpu]'")
        return accel_availability(cls.jax_importable().ok, hardware, runtime)


class JaxNeuronBackend(JaxAccelBackend):
    """JAX on Trainium through the jax-neuronx plugin (libneuronxla, PJRT platform "neuron")."""

    name = "jax-neuron"
    platform = "neuron"
    energy_meter = NEURON_ENERGY
    jax_platforms = "neuron"
    matmul_platform = "neuron"

    def device_chip_share(self, catalog_key, device) -> chip_share.ChipShare:
        """One JAX device is one (logical) NeuronCore: 1/2 of a trn1 chip, 1/4 of a trn2 chip at LNC=2.
        ``catalog_key`` here is always neuron-ls's own (``catalog_key``), so the view's is used."""
        return self.neuron_view().share

    def neuron_view(self) -> chip_share.NeuronView:
        """The first chip neuron-ls lists, as one visible device sees it."""
        chips = discovery.neuron_devices()
        return chip_share.for_neuron_device(chips[0] if chips else None, os.environ.get("NEURON_LOGICAL_NC_CONFIG"))

    def device_info(self) -> DeviceInfo:
        devices = self.devices()
        view = self.neuron_view()  # neuron-ls read once: catalog key, share, and the memory fallback
        info = self.describe(devices, view.catalog_key, view.share)
        if info.memory_bytes is None:  # the plugin keeps no allocator statistics: the core's share of the chip's HBM
            info.memory_bytes = view.memory_bytes
        return info

    @classmethod
    def available(cls) -> Availability:
        nodes = discovery.neuron_device_nodes()
        hardware = (True, "") if nodes else (False, "no Neuron device (no /dev/neuron*; run on a trn1/trn2/trn3 instance)")
        version = package_version("libneuronxla")
        hint = "install jax-neuronx from the Neuron pip repository (https://pip.repos.neuron.amazonaws.com)"
        if importlib.util.find_spec("libneuronxla") is None:
            runtime = (False, f"libneuronxla (the JAX Neuron plugin) is not installed: {hint}")
        elif version == "1.0":
            runtime = (False, f"libneuronxla {version} is PyPI's empty placeholder: {hint}")
        else:
            runtime = (True, "")
        return accel_availability(cls.jax_importable().ok, hardware, runtime)

    def catalog_key(self, device_kind: str) -> str | None:
        """Neuron device kinds do not name the instance; neuron-ls does."""
        return self.neuron_view().catalog_key
