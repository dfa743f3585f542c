"""Energy readers: RAPL against a fake sysfs folder, NVML against a fake
library fed with what NVML reported on a real H200 (tests/fixtures/nvidia-h200)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from accelbench.backends.base import NEURON_ENERGY, TPU_ENERGY, EnergyMeterChoice
from accelbench.backends.discovery import parse_nvidia_smi_list
from accelbench.harness import energy
from accelbench.harness.records import MetricsPart

H200_UUID = parse_nvidia_smi_list((Path(__file__).parents[1] / "fixtures" / "nvidia-h200" / "nvidia-smi-L.txt").read_text())[0].uuid
H200_PROBE = json.loads((Path(__file__).parents[1] / "fixtures" / "nvidia-h200" / "python-probe.json").read_text())["nvml"]


class FakeClock:
    def __init__(self, *times):
        self.times = list(times)

    def __call__(self):
        return self.times.pop(0)


# ------------------------------------------------------------------ RAPL
def _zone(root: Path, name: str, label: str, energy_uj: int, max_uj: int = 262143328850) -> Path:
    zone = root / name
    zone.mkdir(parents=True)
    (zone / "name").write_text(label + "\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return zone


def test_rapl_sums_package_zones_and_skips_subzones(tmp_path):
    p0 = _zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000)
    p1 = _zone(tmp_path, "intel-rapl:1", "package-1", 5_000_000)
    _zone(tmp_path, "intel-rapl:0:0", "core", 7)  # counted inside package-0 already
    zones, why = energy.rapl_zones(tmp_path)
    assert why is None and [z.name for z in zones] == ["package-0", "package-1"]
    meter = energy.RaplMeter(zones, clock=FakeClock(10.0, 12.0))
    with meter:
        (p0 / "energy_uj").write_text("31000000\n")  # +30 J
        (p1 / "energy_uj").write_text("15000000\n")  # +10 J
    r = meter.reading
    assert (r.method, r.joules, r.seconds, r.avg_watts) == ("rapl", 40.0, 2.0, 20.0)
    assert "other processes" in r.reason


def test_rapl_counter_wraparound(tmp_path):
    zone = _zone(tmp_path, "intel-rapl:0", "package-0", 999_000_000, max_uj=1_000_000_000)
    meter = energy.RaplMeter(energy.rapl_zones(tmp_path)[0], clock=FakeClock(0.0, 1.0))
    with meter:
        (zone / "energy_uj").write_text("4000000\n")  # wrapped: 1 J to the top, then 4 J
    assert meter.reading.joules == pytest.approx(5.0)


def test_rapl_absent_or_unreadable_is_not_measured_with_reason(tmp_path):
    meter = energy.meter_for(EnergyMeterChoice.rapl(), rapl_root=tmp_path / "nothing")
    with meter:
        pass
    assert meter.reading.method is None and "does not exist" in meter.reading.reason
    zone = tmp_path / "intel-rapl:0"
    (zone / "energy_uj").mkdir(parents=True)  # not a readable file (root ignores chmod, so no 000 mode here)
    (zone / "max_energy_range_uj").write_text("100\n")
    zones, why = energy.rapl_zones(tmp_path)
    assert zones == [] and "not readable" in why
    assert isinstance(energy.meter_for(EnergyMeterChoice.rapl(), rapl_root=tmp_path), energy.NotMeasured)


# ------------------------------------------------------------------ NVML
class FakeNvml:
    """The slice of pynvml the meter uses, returning the H200's recorded values."""

    class NVMLError(Exception):
        pass

    def __init__(self, counter: bool = True, fail_init: bool = False):
        self.counter, self.fail_init = counter, fail_init
        self.energy_mj = 5_000_000
        self.shutdown = False

    def nvmlInit(self):
        if self.fail_init:
            raise self.NVMLError("NVML Shared Library Not Found")

    def nvmlShutdown(self):
        self.shutdown = True

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetHandleByUUID(self, uuid):
        self.opened_uuids = getattr(self, "opened_uuids", []) + [uuid]
        return uuid

    def nvmlDeviceGetName(self, handle):
        return H200_PROBE["name"].encode()

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if not self.counter:
            raise self.NVMLError("Not Supported")
        return self.energy_mj

    def nvmlDeviceGetPowerUsage(self, handle):
        return H200_PROBE["power_mW"]


def test_nvml_energy_counter_over_the_window():
    nvml = FakeNvml()
    meter = energy.NvmlMeter([0], nvml=nvml, clock=FakeClock(100.0, 101.0))
    with meter:
        nvml.energy_mj += H200_PROBE["energy_mJ_delta_1s"]  # what the H200 counted over 1 s at idle
    r = meter.reading
    assert r.method == "nvml-energy-counter" and r.devices == ["0: NVIDIA H200"]
    assert r.joules == pytest.approx(126.579) and r.avg_watts == pytest.approx(126.579)
    assert nvml.shutdown


def test_nvml_power_sampling_when_the_counter_is_not_supported():
    nvml = FakeNvml(counter=False)
    meter = energy.NvmlMeter([0, 1], nvml=nvml, interval_s=0.005)
    with meter:
        import time
        time.sleep(0.05)
    r = meter.reading
    assert r.method == "nvml-power-samples" and r.samples >= 3
    assert r.avg_watts == pytest.approx(2 * H200_PROBE["power_mW"] / 1000)  # two boards at 86.795 W


def test_integrate_power_is_the_trapezoid_rule():
    assert energy.integrate_power([(0.0, 100.0), (1.0, 300.0), (3.0, 300.0)]) == pytest.approx(200.0 + 600.0)
    assert energy.integrate_power([(0.0, 50.0)]) == 0.0


def test_a_failing_meter_never_costs_the_measurement():
    meter = energy.NvmlMeter([0], nvml=FakeNvml(fail_init=True))
    with meter:
        pass
    assert meter.reading.method is None and "NVML Shared Library Not Found" in meter.reading.reason


@pytest.mark.skipif(importlib.util.find_spec("pynvml") is not None, reason="pynvml is installed here")
def test_missing_pynvml_is_not_measured_with_reason():
    meter = energy.meter_for(EnergyMeterChoice.nvml([H200_UUID]))
    with meter:
        pass
    assert "pynvml is not installed" in meter.reading.reason


def test_the_meter_is_the_one_the_backend_chose():
    nvml = FakeNvml()
    meter = energy.meter_for(EnergyMeterChoice.nvml([H200_UUID]), nvml=nvml)
    with meter:
        pass
    assert isinstance(meter, energy.NvmlMeter) and nvml.opened_uuids == [H200_UUID]  # opened by UUID, not by guessed index
    assert meter.reading.devices == [f"{H200_UUID}: NVIDIA H200"]
    neuron = energy.meter_for(NEURON_ENERGY)
    assert isinstance(neuron, energy.NotMeasured) and "percentage" in neuron.reason
    assert "TPU" in energy.meter_for(TPU_ENERGY).reason
    assert energy.meter_for(EnergyMeterChoice()).reason.startswith("not measured: this backend names no energy counter")


def test_backends_choose_their_meter_without_the_harness_guessing_from_names():
    import inspect

    source = inspect.getsource(energy)
    assert 'endswith("-cpu")' not in source and "extra.get(" not in source
    from accelbench import backends

    assert backends.get_class("jax-tpu").energy_meter == TPU_ENERGY
    assert backends.get_class("jax-neuron").energy_meter == NEURON_ENERGY


def test_joules_per_token():
    reading = energy.EnergyReading("rapl", joules=12.0, seconds=3.0)
    out = energy.with_energy(MetricsPart(), reading, tokens_per_step=100, timed_steps=6)
    assert out.joules_per_token == pytest.approx(0.02) and out.avg_watts == pytest.approx(4.0)
    assert out.energy["method"] == "rapl"
    none = energy.with_energy(MetricsPart(), energy.EnergyReading(None, reason="not measured: x"), 100, 6)
    assert none.joules_per_token is None and none.energy["reason"] == "not measured: x"
