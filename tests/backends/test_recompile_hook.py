"""A torch.compile recompile inside the timed steps is flagged on every
timing path: the torch backends take their compile-counter snapshot in one
hook (``TorchBackend.begin_timing``), called by the one step loop
(``harness.timing.time_window``) before every window: the CLI's windows, and
the pytest timer's rounds (``window_target``), torch-cuda's hooks included.

CPU only: torch-cuda runs here over a fake ``torch.cuda`` (the backend's own
``cuda=`` seam), its steps on CPU tensors. ``compile_backend="eager"`` keeps
compiles fast; TorchDynamo counts its graphs the same for every backend. Each
test compiles its own function (TorchDynamo caches per code object), and a
recompile is a new input shape after warm-up.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from accelbench.backends.base import PreparedStep  # noqa: E402
from accelbench.backends.torch_common import TorchSettings  # noqa: E402
from accelbench.backends.torch_cpu import TorchCpuBackend  # noqa: E402
from accelbench.backends.torch_cuda import CudaSettings, TorchCudaBackend  # noqa: E402
from accelbench.harness import timing  # noqa: E402


class FakeCuda:
    """The slice of ``torch.cuda`` that torch-cuda's ``time_window`` and ``after_timing`` call."""

    def synchronize(self, index=None):
        pass

    def max_memory_reserved(self, index=None) -> int:
        return 2 * 2**20

    def max_memory_allocated(self, index=None) -> int:
        return 2**20

    def Event(self, enable_timing=False):  # noqa: N802  (torch's name)
        class Event:
            def record(self):
                pass

            def elapsed_time(self, end) -> float:
                return 1.0

        return Event()


def warmed_step(backend, fn, grow: int) -> PreparedStep:
    """``fn`` compiled as the backend compiles a lowering, called on a vector
    that grows by ``grow`` after each step; run once (the warm-up compile)."""
    compiled = backend.wrap()(fn)
    size = {"n": 2}  # 0 and 1 are specialised by TorchDynamo; start above them

    def step():
        out = {"loss": compiled(torch.ones(size["n"]))}
        size["n"] += grow
        return out

    prepared = PreparedStep(step=step, observe=dict)
    backend.fence(prepared.step())
    return prepared


def cpu_backend() -> TorchCpuBackend:
    return TorchCpuBackend(TorchSettings(compile=True, compile_backend="eager"))


def cuda_backend() -> TorchCudaBackend:
    return TorchCudaBackend(CudaSettings(compile=True, compile_backend="eager"), cuda=FakeCuda())


def run_pedantic(backend, prepared, k: int, rounds: int) -> None:
    """What ``benchmark.pedantic(target, rounds=rounds, iterations=1)`` calls."""
    target = timing.window_target(backend, prepared, k)
    for _ in range(rounds):
        target()


def test_cpu_window_with_a_new_shape_is_flagged():
    def loss(x):
        return (x * 2).sum()

    backend = cpu_backend()
    prepared = warmed_step(backend, loss, grow=1)
    timing.time_window(backend, prepared, 2)
    info = backend.after_timing(prepared)
    assert info["recompiled_during_timing"] is True and info["dynamo_graphs_during_timing"] >= 1, info


def test_cpu_steady_window_is_not_flagged():
    def loss(x):
        return (x * 3).sum()

    backend = cpu_backend()
    prepared = warmed_step(backend, loss, grow=0)
    timing.time_window(backend, prepared, 2)
    info = backend.after_timing(prepared)
    assert info["recompiled_during_timing"] is False and info["dynamo_graphs_during_timing"] == 0, info


def test_cuda_time_window_takes_the_snapshot_before_its_first_window():
    def steady_loss(x):
        return (x * 4).sum()

    def growing_loss(x):
        return (x * 5).sum()

    steady = cuda_backend()
    prepared = warmed_step(steady, steady_loss, grow=0)
    timing.time_window(steady, prepared, 2)
    timing.time_window(steady, prepared, 2)
    info = steady.after_timing(prepared)
    assert info["dynamo_graphs_during_timing"] == 0 and info["recompiled_during_timing"] is False, info
    assert set(info["timed_window"]) == {"sm_clock_start_mhz", "event_s", "wall_s", "sm_clock_end_mhz"}

    growing = cuda_backend()
    prepared = warmed_step(growing, growing_loss, grow=1)
    timing.time_window(growing, prepared, 2)
    info = growing.after_timing(prepared)
    assert info["recompiled_during_timing"] is True and info["dynamo_graphs_during_timing"] >= 1, info


def test_pytest_timer_takes_the_snapshot_before_its_first_round():
    def steady_loss(x):
        return (x * 6).sum()

    def growing_loss(x):
        return (x * 7).sum()

    steady = cpu_backend()
    prepared = warmed_step(steady, steady_loss, grow=0)
    run_pedantic(steady, prepared, k=2, rounds=2)
    info = steady.after_timing(prepared)
    assert info["dynamo_graphs_during_timing"] == 0 and info["recompiled_during_timing"] is False, info

    growing = cpu_backend()
    prepared = warmed_step(growing, growing_loss, grow=1)
    run_pedantic(growing, prepared, k=2, rounds=2)
    info = growing.after_timing(prepared)
    assert info["recompiled_during_timing"] is True and info["dynamo_graphs_during_timing"] >= 1, info
