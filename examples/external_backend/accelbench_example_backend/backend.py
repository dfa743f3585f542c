"""example-cpu: PyTorch on the host CPU with one intra-op thread.

One thread makes step times comparable between machines with different core
counts and keeps a benchmark from competing with other work on a shared host.
Everything else (placing the kernel, the CPU's memory, peak RSS) comes from
accelbench's own torch-cpu backend.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelbench.backends.base import Availability
from accelbench.backends.torch_common import TorchSettings, torch_importable
from accelbench.backends.torch_cpu import TorchCpuBackend


@dataclass
class SingleThreadSettings(TorchSettings):
    threads: int = 1  # `--set threads=N` still overrides it


class SingleThreadCpuBackend(TorchCpuBackend):
    name = "example-cpu"
    fence_description = "none needed: CPU ops return when their work is done"
    settings_cls = SingleThreadSettings

    @classmethod
    def available(cls) -> Availability:
        return torch_importable()
