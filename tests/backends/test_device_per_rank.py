"""A device per rank (issue 14): rank r of a data-parallel torch case builds,
fences, meters and reads memory on device r, and on no other.

There is no GPU here, so the ranks run over fakes built on what a real H200
reported (tests/fixtures/nvidia-h200): a ``torch.cuda`` facade and an NVML
facade, given to the real ``TorchCudaBackend``, and a ``torch.distributed``
facade given to the real ``TorchDataParallel`` engine. Each rank is set up by the
torchrun launcher's own ``rank_context`` from torchrun's environment, and the
backend is then driven through every call the measurement core makes on it
(device facts, the energy meter, configure, the process group, fence, the
timed window, the fenced diagnostic, peak memory). Every device index any of them passes is logged.
"""

from __future__ import annotations

import functools
import json
import threading
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from accelbench.backends.base import PreparedStep  # noqa: E402
from accelbench.backends.data_parallel import TorchDataParallel  # noqa: E402
from accelbench.backends.discovery import parse_nvidia_smi_list  # noqa: E402
from accelbench.backends.torch_cuda import CudaSettings, TorchCudaBackend  # noqa: E402
from accelbench.backends.torch_neuron import NEURON_VISIBLE_CORES, TorchNeuronBackend  # noqa: E402
from accelbench.harness import energy, timing  # noqa: E402
from accelbench.harness.launch.layout_checks import with_layout  # noqa: E402
from accelbench.harness.launch.torchrun import rank_context  # noqa: E402
from accelbench.harness.layout import Layout  # noqa: E402
from accelbench.harness.plan import Case  # noqa: E402

FIXTURES = Path(__file__).parents[1] / "fixtures" / "nvidia-h200"
H200 = json.loads((FIXTURES / "python-probe.json").read_text())["torch"]
H200_UUID = parse_nvidia_smi_list((FIXTURES / "nvidia-smi-L.txt").read_text())[0].uuid
WORLD = 4


def uuid_of(index: int) -> str:
    """The recorded H200's UUID, its last digit made the device's index (one recorded GPU, four fakes)."""
    return H200_UUID[:-1] + str(index)


class FakeProps:
    def __init__(self, index: int):
        self.name, self.total_memory = H200["name"], H200["total_memory"]
        self.major, self.minor = H200["capability"]
        self.multi_processor_count = H200["multi_processor_count"]
        self.uuid = uuid_of(index)[len("GPU-"):]  # torch reports it without nvidia-smi's prefix


class FakeCuda:
    """The slice of ``torch.cuda`` torch-cuda calls, logging (call, device index)."""

    def __init__(self, count: int):
        self.count = count
        self.log: list[tuple[str, int]] = []
        self._current = threading.local()

    def _touch(self, call: str, index) -> int:
        index = self.current_device() if index is None else int(index)
        assert 0 <= index < self.count, f"{call} on device {index}: only {self.count} exist"
        self.log.append((call, index))
        return index

    def current_device(self) -> int:
        return getattr(self._current, "index", 0)

    def set_device(self, index):
        self._current.index = self._touch("set_device", index)

    def device_count(self) -> int:
        return self.count

    def get_device_properties(self, index):
        return FakeProps(self._touch("get_device_properties", index))

    def synchronize(self, index=None):
        self._touch("synchronize", index)

    def max_memory_allocated(self, index=None) -> int:
        self._touch("max_memory_allocated", index)
        return 1024

    def max_memory_reserved(self, index=None) -> int:
        self._touch("max_memory_reserved", index)
        return 2048

    def Event(self, enable_timing=False):  # noqa: N802  (torch's name)
        cuda = self

        class Event:
            def record(self):
                self.device = cuda._touch("Event.record", None)  # on the current stream of the current device

            def elapsed_time(self, end) -> float:
                assert end.device == self.device
                return 1.0

        return Event()


class FakeDist:
    """The slice of ``torch.distributed`` the DDP engine's start calls."""

    def __init__(self):
        self.joined: list[dict] = []

    def get_default_backend_for_device(self, device):
        return {"cuda": "nccl", "cpu": "gloo"}[torch.device(device).type]

    def init_process_group(self, backend, **kwargs):
        self.joined.append({"backend": backend, **kwargs})

    def get_backend(self):
        return self.joined[-1]["backend"]


class FakeNvml:
    class NVMLError(Exception):
        pass

    def __init__(self):
        self.opened: list[str] = []

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        pass

    def nvmlDeviceGetHandleByUUID(self, uuid):
        self.opened.append(uuid)
        return uuid

    def nvmlDeviceGetHandleByIndex(self, index):
        raise AssertionError("a rank's meter must open its GPU by UUID, not by a guessed index")

    def nvmlDeviceGetName(self, handle):
        return H200["name"]

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        return 1000


def run_rank(case: Case, rank: int, cuda: FakeCuda) -> dict:
    """Rank ``rank`` of the case, set up as torchrun's rank process sets it
    up, then driven through the backend calls the measurement core makes."""
    environ = {"RANK": str(rank), "WORLD_SIZE": str(WORLD), "LOCAL_RANK": str(rank)}
    dist, nvml = FakeDist(), FakeNvml()
    context = rank_context(case, environ, engine=TorchDataParallel(rank, WORLD, rank, dist=dist))
    backend = context.make_backend(functools.partial(TorchCudaBackend, cuda=cuda), CudaSettings())
    device = backend.device_info()
    meter = energy.meter_for(device.energy_meter, nvml=nvml)
    backend.configure()
    context.engine._start(backend)
    step = PreparedStep(step=lambda: {"loss": torch.tensor(1.0)}, observe=dict)
    with meter:
        backend.fence(step.step())
        timing.time_window(backend, step, 3)  # the timed window
        timing.time_steps(backend, step, 3)  # the fenced diagnostic
    backend.after_timing(step)
    backend.peak_memory_bytes()
    return {"torch_device": backend.torch_device(), "device": device, "joined": dist.joined,
            "nvml_opened": nvml.opened, "reading": meter.reading}


@pytest.mark.slow
def test_rank_r_touches_device_r_and_no_other():
    [case] = with_layout([Case("gpt2", "tiny", "torch-cuda", kernel_settings={"batch": WORLD})], Layout(nproc=WORLD))
    for rank in range(WORLD):
        cuda = FakeCuda(WORLD)
        seen = run_rank(case, rank, cuda)
        touched = {index for _, index in cuda.log}
        assert touched == {rank}, f"rank {rank} touched devices {sorted(touched)}: {cuda.log}"
        calls = {call for call, _ in cuda.log}
        assert {"set_device", "get_device_properties", "synchronize", "Event.record", "max_memory_allocated",
                "max_memory_reserved"} <= calls
        assert seen["torch_device"] == f"cuda:{rank}"  # where the lowering builds
        assert seen["joined"] == [{"backend": "nccl", "device_id": torch.device("cuda", rank)}]
        assert seen["device"].extra["device_index"] == rank and seen["device"].memory_bytes == H200["total_memory"]
        assert seen["nvml_opened"] == [uuid_of(rank)] and seen["reading"].method == "nvml-energy-counter"


def test_one_device_case_keeps_its_device_index_setting():
    cuda = FakeCuda(2)
    backend = TorchCudaBackend(CudaSettings(device_index=1), cuda=cuda)
    backend.device_info()
    backend.fence(None)
    assert backend.torch_device() == "cuda:1" and {index for _, index in cuda.log} == {1}


@pytest.mark.parametrize("visible, cores", [("", [0, 1, 2, 3]), ("4-7", [4, 5, 6, 7]), ("8,10-11,13", [8, 10, 11, 13])])
def test_neuron_rank_r_gets_the_r_th_visible_core(visible, cores):
    environ = {NEURON_VISIBLE_CORES: visible} if visible else {}
    assert [TorchNeuronBackend.rank_environment(r, environ) for r in range(4)] == [
        {NEURON_VISIBLE_CORES: str(core)} for core in cores]


def test_neuron_rank_without_a_core_fails_with_one_line():
    with pytest.raises(ValueError, match="local rank 2 has no NeuronCore: NEURON_RT_VISIBLE_CORES=0-1 names 2"):
        TorchNeuronBackend.rank_environment(2, {NEURON_VISIBLE_CORES: "0-1"})


class SummingDist:
    """An all-reduce (SUM) in which the other ranks add ``others``."""

    def __init__(self, others):
        self.others = others

    def all_reduce(self, tensor):
        tensor += torch.tensor(self.others, dtype=tensor.dtype)


def _rank_energy(reading, local_rank: int, others):
    [case] = with_layout([Case("gpt2", "tiny", "torch-cuda", kernel_settings={"batch": 2})], Layout(nproc=2))
    engine = TorchDataParallel(local_rank, 2, local_rank, dist=SummingDist(others))
    engine.device, engine.group_backend = torch.device("cpu"), "gloo"
    environ = {"RANK": str(local_rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(local_rank)}
    return rank_context(case, environ, engine=engine).energy(reading)


def test_the_ranks_energy_is_summed_and_a_host_counter_counted_once_per_node():
    gpu = energy.EnergyReading("nvml-energy-counter", joules=10.0, seconds=2.0, devices=["GPU-1"])
    summed = _rank_energy(gpu, 1, [30.0, 0.0])
    assert (summed.method, summed.joules, summed.avg_watts) == ("nvml-energy-counter", 40.0, 20.0)
    host = energy.EnergyReading("rapl", joules=50.0, seconds=2.0)
    assert _rank_energy(host, 1, [50.0, 0.0]).joules == 50.0  # local rank 1 adds nothing: rank 0 read the packages
    assert _rank_energy(host, 0, [0.0, 0.0]).joules == 50.0
    missing = _rank_energy(gpu, 0, [0.0, 1.0])  # the other rank had no reading
    assert missing.method is None and "1 of 2 ranks had no energy reading" in missing.reason
