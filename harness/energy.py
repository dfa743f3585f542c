"""Energy over the timed window: joules per token and average watts.

A meter is started just before the timed repeats and stopped right after them
(warm-up and compilation excluded). Where the energy comes from:

* NVIDIA GPUs, through NVML (``pynvml``, from the ``nvidia-ml-py`` package):
  the board's total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``,
  millijoules since the driver loaded; Volta and newer) read at start and stop;
  where the counter is not supported, board power (``nvmlDeviceGetPowerUsage``,
  milliwatts) sampled in a background thread and integrated with the
  trapezoid rule. Summed over the GPUs the run used.
* CPUs, through Linux RAPL (``/sys/class/powercap/intel-rapl:N/energy_uj``,
  microjoules per package, wrapping at ``max_energy_range_uj``) where the
  kernel exposes it and it is readable. RAPL counts the whole package(s), other
  processes included; the reading says so.
* Anything else (Neuron exposes power only as a percentage in sysfs, TPUs
  expose nothing to the VM): not measured, with the reason. Never guessed.

Which of these covers a case's device is the backend's choice
(``DeviceInfo.energy_meter``: torch-cuda names the UUID of the GPU it runs
on, CPU backends name RAPL); this module only opens and reads the counter.

joules/token = joules ÷ (tokens_per_step × timed steps); average watts =
joules ÷ seconds of the window.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from accelbench.harness.records import MetricsPart

RAPL_ROOT = "/sys/class/powercap"
POWER_SAMPLE_INTERVAL_S = 0.05


@dataclass
class EnergyReading:
    method: str | None
    """"nvml-energy-counter" | "nvml-power-samples" | "rapl"; None when not measured."""
    joules: float | None = None
    seconds: float | None = None
    devices: list[str] = field(default_factory=list)
    samples: int | None = None
    reason: str | None = None
    """Why energy was not measured, or a caveat about what was."""

    @property
    def avg_watts(self) -> float | None:
        if self.joules is None or not self.seconds:
            return None
        return self.joules / self.seconds

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "avg_watts": self.avg_watts}


class Meter:
    """Base: ``with meter:`` brackets the timed window; ``meter.reading`` after."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.reading = EnergyReading(method=None, reason="the meter was never started")

    def __enter__(self) -> "Meter":
        try:
            self.start()
        except Exception as exc:  # a meter must never cost the measurement
            self.reading = EnergyReading(method=None, reason=f"not measured: the meter failed to start ({type(exc).__name__}: {exc})")
            self._failed = True
        else:
            self._failed = False
        return self

    def __exit__(self, *exc_info) -> None:
        if self._failed:
            return
        try:
            self.reading = self.stop()
        except Exception as exc:
            self.reading = EnergyReading(method=None, reason=f"not measured: the meter failed to stop ({type(exc).__name__}: {exc})")

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> EnergyReading:
        raise NotImplementedError


class NotMeasured(Meter):
    def __init__(self, reason: str):
        super().__init__()
        self.reason = reason

    def start(self) -> None:
        pass

    def stop(self) -> EnergyReading:
        return EnergyReading(method=None, reason=self.reason)


# ------------------------------------------------------------------------ NVML
class NvmlMeter(Meter):
    """Board energy of the given GPUs over the window. A GPU is named by its
    UUID (what the backend resolved for the device it runs on: NVML numbers
    GPUs its own way, which CUDA_VISIBLE_DEVICES does not follow) or, for a
    caller that knows NVML's numbering, by NVML index."""

    def __init__(self, devices: list[str | int], nvml=None, clock: Callable[[], float] = time.monotonic,
                 interval_s: float = POWER_SAMPLE_INTERVAL_S):
        super().__init__(clock)
        self.indices = list(devices)
        self._nvml = nvml
        self.interval_s = interval_s

    def start(self) -> None:
        nvml = self._nvml
        if nvml is None:
            try:
                import pynvml as nvml
            except ImportError:
                raise RuntimeError("pynvml is not installed (pip install nvidia-ml-py)") from None
        self.nvml = nvml
        nvml.nvmlInit()
        self.handles = [nvml.nvmlDeviceGetHandleByUUID(d) if isinstance(d, str) else nvml.nvmlDeviceGetHandleByIndex(d)
                        for d in self.indices]
        self.names = [_text(nvml.nvmlDeviceGetName(h)) for h in self.handles]
        try:
            self.counter_start = [nvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in self.handles]
        except nvml.NVMLError:
            self.counter_start = None
            self.samples: list[tuple[float, float]] = []
            self._stop = threading.Event()
            self._sample()
            self._thread = threading.Thread(target=self._sample_loop, name="nvml-power", daemon=True)
            self._thread.start()
        self.t0 = self.clock()

    def _watts(self) -> float:
        return sum(self.nvml.nvmlDeviceGetPowerUsage(h) for h in self.handles) / 1000.0

    def _sample(self) -> None:
        self.samples.append((self.clock(), self._watts()))

    def _sample_loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def stop(self) -> EnergyReading:
        devices = [f"{i}: {n}" for i, n in zip(self.indices, self.names)]
        try:
            if self.counter_start is not None:
                end = [self.nvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in self.handles]
                seconds = self.clock() - self.t0
                joules = sum(e - s for s, e in zip(self.counter_start, end)) / 1000.0  # mJ -> J
                return EnergyReading("nvml-energy-counter", joules, seconds, devices, samples=2)
            self._stop.set()
            self._thread.join()
            self._sample()
            joules = integrate_power(self.samples)
            seconds = self.samples[-1][0] - self.samples[0][0]
            return EnergyReading("nvml-power-samples", joules, seconds, devices, samples=len(self.samples),
                                 reason=f"board power sampled every {self.interval_s * 1000:.0f} ms "
                                        "(total-energy counter not supported)")
        finally:
            self.nvml.nvmlShutdown()


def integrate_power(samples: list[tuple[float, float]]) -> float:
    """Joules from (seconds, watts) samples: the trapezoid rule,
    Σ (t[i+1] − t[i]) × (P[i] + P[i+1]) / 2."""
    return sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in zip(samples, samples[1:]))


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# ------------------------------------------------------------------------ RAPL
@dataclass(frozen=True)
class RaplZone:
    path: Path
    name: str
    max_uj: int


def rapl_zones(root: str | os.PathLike = RAPL_ROOT) -> tuple[list[RaplZone], str | None]:
    """The package-level RAPL zones (``intel-rapl:N``, not the ``:N:M``
    sub-zones, which the package already counts), or why there are none."""
    root = Path(root)
    if not root.is_dir():
        return [], f"{root} does not exist (no powercap/RAPL interface in this kernel or container)"
    zones = []
    for path in sorted(root.glob("intel-rapl:*")):
        if path.name.count(":") != 1:
            continue
        try:
            int((path / "energy_uj").read_text())
            max_uj = int((path / "max_energy_range_uj").read_text())
            name = (path / "name").read_text().strip() if (path / "name").exists() else path.name
        except (OSError, ValueError) as exc:
            return [], f"RAPL zone {path} is not readable ({type(exc).__name__}: {exc})"
        zones.append(RaplZone(path, name, max_uj))
    if not zones:
        return [], f"no intel-rapl:N package zones under {root}"
    return zones, None


class RaplMeter(Meter):
    def __init__(self, zones: list[RaplZone], clock: Callable[[], float] = time.monotonic):
        super().__init__(clock)
        self.zones = zones

    def _read(self) -> list[int]:
        return [int((z.path / "energy_uj").read_text()) for z in self.zones]

    def start(self) -> None:
        self.start_uj = self._read()
        self.t0 = self.clock()

    def stop(self) -> EnergyReading:
        end = self._read()
        seconds = self.clock() - self.t0
        total_uj = 0
        for zone, s, e in zip(self.zones, self.start_uj, end):
            total_uj += e - s if e >= s else e + zone.max_uj - s  # the counter wrapped once
        return EnergyReading("rapl", total_uj / 1e6, seconds, [f"{z.path.name}: {z.name}" for z in self.zones],
                             samples=2, reason="RAPL counts whole CPU packages, other processes included")


# ------------------------------------------------------------------------ choice
def meter_for(choice, rapl_root: str | os.PathLike = RAPL_ROOT, nvml=None) -> Meter:
    """The meter a backend chose for its device (``DeviceInfo.energy_meter``,
    a ``backends.base.EnergyMeterChoice``): NVML by the GPUs' UUIDs, RAPL over
    the host's packages, or "not measured" with the backend's reason."""
    if choice.method == "nvml" and choice.devices:
        return NvmlMeter(list(choice.devices), nvml=nvml)
    if choice.method == "rapl":
        zones, why = rapl_zones(rapl_root)
        return RaplMeter(zones) if zones else NotMeasured(f"not measured: {why}")
    return NotMeasured(choice.reason or "not measured")


def with_energy(metrics: MetricsPart, reading: EnergyReading, tokens_per_step: int | None, timed_steps: int) -> MetricsPart:
    """``metrics`` with joules per token, average watts and the reading itself."""
    out = dataclasses.replace(metrics, energy=reading.to_dict())
    out.avg_watts = reading.avg_watts
    if reading.joules is not None and tokens_per_step and timed_steps:
        out.joules_per_token = reading.joules / (tokens_per_step * timed_steps)
    return out
