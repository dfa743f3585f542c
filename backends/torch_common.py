"""What every PyTorch backend shares: settings, placing a kernel's torch
lowering on a device, optional ``torch.compile``, and reading a loss."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from typing import Any, ClassVar

from accelbench.backends.base import Availability, Backend, BackendError, BackendSettings, PreparedStep


@dataclass
class TorchSettings(BackendSettings):
    compile: bool = False
    """Wrap the kernel's forward module/function in ``torch.compile``; the
    compile happens in the first step and is reported in ``compile_s``."""
    compile_backend: str = "inductor"
    threads: int | None = None
    """Intra-op threads, 1 or more (None: PyTorch's default)."""


def dynamo_graphs() -> int:
    """Graphs TorchDynamo has compiled in this process (torch._dynamo.utils.counters).

    0 without importing it when TorchDynamo was never loaded here: nothing can
    have compiled (its counters start at 0 when it loads), and importing it only
    to read them cost an eager case seconds of start-up (issue 21)."""
    if "torch._dynamo" not in sys.modules:
        return 0
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def torch_importable() -> Availability:
    if importlib.util.find_spec("torch") is None:
        return Availability.no("PyTorch is not installed (pip install torch)")
    return Availability.yes()


class TorchBackend(Backend):
    """Base of the PyTorch backends; subclasses set the device and the fence."""

    framework = "torch"
    settings_cls = TorchSettings
    process_group: ClassVar[str | None] = None
    """The ``torch.distributed`` backend its data-parallel ranks join (None: torch's
    default for the device, ``dist.get_default_backend_for_device``)."""

    def __init__(self, settings: TorchSettings | None = None, device_index: int | None = None):
        super().__init__(settings, device_index)
        threads = self.settings.threads  # checked here so a bad value fails before any case runs
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise BackendError(f"setting 'threads' of backend '{self.name}' must be an integer >= 1 "
                               f"(or none for PyTorch's default), got {threads!r}")
        self._graphs_before_timing: int | None = None  # set by begin_timing, read by after_timing

    def torch_device(self):
        raise NotImplementedError

    def wrap(self):
        """The callable applied to the kernel's forward module/function."""
        if not self.settings.compile:
            return None
        import torch

        return lambda fn: torch.compile(fn, backend=self.settings.compile_backend)

    def configure(self) -> None:
        """Process-wide switches, applied once before the lowering is built."""
        import torch

        if self.settings.threads:
            torch.set_num_threads(self.settings.threads)

    def prepare(self, kernel, cfg, state) -> PreparedStep:
        self.configure()
        program = kernel.torch_program(cfg, state, self.torch_device(), self.precision, wrap=self.wrap())
        return PreparedStep(step=program.step, observe=program.observe, info=self.case_info())

    def host_threads(self) -> int | None:
        import torch

        return torch.get_num_threads()

    def begin_timing(self) -> None:
        """Snapshot the compile counters before the first timed step, once
        (``harness.timing.time_window`` calls it before every window, the
        pytest timer's included). ``after_timing`` reports what grew since."""
        if self._graphs_before_timing is None:
            self._graphs_before_timing = dynamo_graphs()

    def after_timing(self, prepared: PreparedStep) -> dict[str, Any]:
        """torch.compile graphs compiled during timing (TorchDynamo's
        ``counters["stats"]["unique_graphs"]``; a new graph is a recompile).
        Applies to every backend= of torch.compile, TorchNeuron's "neuron"
        included: it compiles through TorchDynamo (Neuron docs, "How
        torch.compile works on Neuron")."""
        if not self.settings.compile and not getattr(self, "compiles", False):
            return {}
        before = self._graphs_before_timing  # None: begin_timing never ran (nothing was timed)
        after = dynamo_graphs()
        during = after - before if before is not None else None
        return {"dynamo_graphs": after, "dynamo_graphs_during_timing": during,
                "recompiled_during_timing": bool(during)}

    def case_info(self) -> dict[str, Any]:
        import torch

        return {"torch_compile": bool(self.settings.compile), "threads": torch.get_num_threads()}

    def to_scalar(self, value: Any) -> float:
        return float(value.detach().float().cpu().item())
