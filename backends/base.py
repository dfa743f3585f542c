"""The backend seam: where and how a kernel runs, and how its completion is fenced.

A backend is a class with a name, a framework (``torch`` or ``jax``), a small
settings dataclass (what ``--set`` may change), ``available()`` saying whether
its stack and hardware are here and, when not, why, a device description, and
``prepare(kernel, cfg, state)`` giving a ``PreparedStep``: one step, already
placed on the device, that the harness can call, fence and observe.

The *fence* is the part that makes a timing honest: devices run
asynchronously, so a clock read after launching work measures the launch,
not the work. Every backend says what its fence is (``fence_description``).
The one step loop (``harness.timing.time_window``) calls it once after a window
of steps, so the host may run ahead within the window on every backend;
``harness.timing.time_steps`` fences every step (a diagnostic). A backend
overrides how a window is opened, fenced and read (``begin_timing``,
``begin_window``, ``fence_window``, ``end_window``), never the loop.

Adding a backend from another package (see README, "Adding a backend")::

    # mypkg/backend.py
    from accelbench.backends.base import Availability, Backend, BackendSettings, DeviceInfo

    class MyBackend(Backend):
        name = "my-chip"
        framework = "torch"
        fence_description = "mychip.synchronize()"
        ...

    # mypkg's pyproject.toml
    [project.entry-points."accelbench.backends"]
    my-chip = "mypkg.backend:MyBackend"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np

from accelbench.backends.chip_share import ONE_CHIP
from accelbench.kernels.precision import PRECISIONS


class BackendError(ValueError):
    """A user asked a backend for something it does not support."""


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str = ""

    @classmethod
    def yes(cls) -> "Availability":
        return cls(True, "")

    @classmethod
    def no(cls, reason: str) -> "Availability":
        return cls(False, reason)


@dataclass(frozen=True)
class EnergyMeterChoice:
    """Which energy counter covers the device, chosen by the backend (it knows
    its device; ``harness.energy`` opens the counter): ``nvml`` (the NVIDIA
    GPUs named by UUID in ``devices``), ``rapl`` (the host's CPU packages), or
    ``none``, with the reason."""

    method: str = "none"
    devices: tuple[str, ...] = ()
    reason: str = "not measured: this backend names no energy counter for its device"

    @classmethod
    def nvml(cls, uuids) -> "EnergyMeterChoice":
        return cls("nvml", tuple(uuids), "")

    @classmethod
    def rapl(cls) -> "EnergyMeterChoice":
        return cls("rapl", (), "")

    @classmethod
    def none(cls, reason: str) -> "EnergyMeterChoice":
        return cls("none", (), reason if reason.startswith("not measured") else f"not measured: {reason}")

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "devices": list(self.devices), "reason": self.reason}


NEURON_ENERGY = EnergyMeterChoice.none("Neuron exposes device power only as a percentage in sysfs, not in watts or joules")
TPU_ENERGY = EnergyMeterChoice.none("Cloud TPU VMs expose no power or energy counter")


@dataclass
class DeviceInfo:
    """What the backend runs on. ``catalog_key`` names the entry of the device
    catalog (peak FLOP/s, bandwidth) that metrics use; None means an unknown
    device, for which no MFU is computed rather than borrowing another chip's peak."""

    kind: str
    catalog_key: str | None
    count: int = 1
    memory_bytes: int | None = None  # of ONE visible device (a NeuronCore's share of HBM, not the chip's)
    driver: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    chip_share: float = 1.0  # the fraction of a physical chip that one visible device is (a NeuronCore: 1/8 ...)
    chip_share_reason: str = ONE_CHIP.reason
    chip_share_source: str = ONE_CHIP.source
    """read, derived, assumed (prices marked share-assumed) or unknown (no $/1M tokens): backends/chip_share.py."""
    energy_meter: EnergyMeterChoice = field(default_factory=EnergyMeterChoice)
    """The counter the harness reads over the timed window (``harness.energy.meter_for``)."""

    @property
    def chips(self) -> float:
        """Chips the visible devices add up to: what MFU peaks and prices are multiplied by."""
        return self.count * self.chip_share


SHARD_STRATEGIES = ("none", "fsdp")
"""How a data-parallel run holds the training state (``accelbench.harness.sharding``):
a full replica per device, or weights, gradients and AdamW moments split over the devices."""


@dataclass
class BackendSettings:
    """Settings every backend accepts through ``--set``. Subclass to add more."""

    precision: str = ""  # empty: the backend's default precision
    shard: str = "none"
    """Data-parallel runs only: "none" (replicas) or "fsdp" (sharded state); see SHARD_STRATEGIES."""


@dataclass
class PreparedStep:
    """One kernel step placed on a device. ``step()`` launches one step and
    returns its outputs (a dict, possibly of unfinished device values);
    ``observe()`` returns the numpy observables after the latest step."""

    step: Callable[[], dict[str, Any]]
    observe: Callable[[], dict[str, np.ndarray]]
    compile_s: float | None = None
    """Seconds spent compiling ahead of the first step, where the backend compiles explicitly."""
    info: dict[str, Any] = field(default_factory=dict)
    """Backend facts worth recording about this case (e.g. number of compilations)."""
    replicas: Callable[[], dict[str, dict[str, np.ndarray]]] | None = None
    """Where one process holds several replicas (a JAX mesh): each device's
    observables, by device label, so numerics judges every copy, not one."""
    read_local: Callable[[], None] | None = None
    """Read back what this device holds with no communication: the fence
    audit's read where ``observe`` is a collective (FSDP's all-gather would time
    the other ranks' arrival, not this device's fence). None: ``observe``."""


class Backend:
    name: ClassVar[str]
    framework: ClassVar[str]
    fence_description: ClassVar[str]
    default_precision: ClassVar[str] = "fp32"
    settings_cls: ClassVar[type] = BackendSettings
    memory_is_host: ClassVar[bool] = False
    """True when the device's memory is the host's RAM (CPU backends): the
    runner then checks a case fits before starting its process."""
    fsdp_refusal: ClassVar[str] = ""
    """Why this backend cannot run ``shard=fsdp`` (empty: it can)."""

    fence_call_description: ClassVar[str | None] = None
    """What ``fence()`` alone does, where ``fence_description`` (how a window
    is timed and fenced) says more; None: the same text. A timer that fences each
    step itself (pytest-benchmark's) records this one."""

    def __init__(self, settings: BackendSettings | None = None, device_index: int | None = None):
        self.device_index = device_index
        """Which of the devices this process sees it runs on (a data-parallel
        rank's own: ``LOCAL_RANK``); None: the backend's default."""
        self.settings = settings or self.settings_cls()
        if self.settings.precision and self.settings.precision not in PRECISIONS:
            raise BackendError(
                f"unknown precision '{self.settings.precision}' for backend '{self.name}'; "
                f"accepted: {', '.join(PRECISIONS)}"
            )
        if self.settings.shard not in SHARD_STRATEGIES:
            raise BackendError(f"unknown shard '{self.settings.shard}' for backend '{self.name}'; "
                               f"accepted: {', '.join(SHARD_STRATEGIES)}")
        if self.settings.shard == "fsdp" and self.fsdp_refusal:
            raise BackendError(f"shard=fsdp is not supported on {self.name}: {self.fsdp_refusal}")

    @property
    def precision(self) -> str:
        return self.settings.precision or self.default_precision

    @classmethod
    def available(cls) -> Availability:
        raise NotImplementedError

    @classmethod
    def rank_environment(cls, local_rank: int, environ) -> dict[str, str]:
        """Environment variables a data-parallel rank's process must set before
        the framework loads, so that it sees its own device (e.g. the Neuron
        runtime's visible cores). Default: none."""
        return {}

    def device_info(self) -> DeviceInfo:
        raise NotImplementedError

    def prepare(self, kernel, cfg, state: dict[str, np.ndarray]) -> PreparedStep:
        raise NotImplementedError

    def fence(self, outputs: Any) -> None:
        """Block until the work that produced ``outputs`` has finished."""
        raise NotImplementedError

    # How a timed window is opened, fenced and read. The step loop itself is
    # ``harness.timing.time_window``, one for every timer; a backend overrides
    # these hooks (torch-cuda: device events), never the loop.
    def begin_timing(self) -> None:
        """Called before every timed window (idempotent): a snapshot taken
        once, before the first (e.g. compile counters, clocks)."""

    def begin_window(self) -> Any:
        """Called right before a window's first step; what it returns is
        handed to ``fence_window`` and ``end_window`` (e.g. a start event)."""
        return None

    def fence_window(self, window: Any, outputs: Any) -> None:
        """Close a window after its last step: by default the backend's fence."""
        self.fence(outputs)

    def end_window(self, window: Any, host_seconds: float) -> None:
        """After the fence returned, with the host's time for the window (e.g.
        read the device's own timer for the window)."""

    def peak_memory_bytes(self) -> int | None:
        """Peak memory as ``harness.timing.PEAK_MEMORY_DEFINITION`` defines it
        (the process's peak on the measured device, up to the end of timing)."""
        return None

    def host_threads(self) -> int | None:
        """Host threads the framework computed with (after ``--set threads``); None when not known."""
        return None

    def after_timing(self, prepared: PreparedStep) -> dict[str, Any]:
        """Facts observed over the timed steps (clocks at the window's ends,
        recompilations during timing), merged into the record's ``backend.info``."""
        return {}

    def to_scalar(self, value: Any) -> float:
        """A device scalar (e.g. the loss) as a Python float. This syncs."""
        return float(np.asarray(value))
