"""torch-cpu: PyTorch on the host CPU, fp32 by default.

bf16 matmuls on CPUs without AMX run about 100x slower than fp32, so fp32 is
the default; ``--set precision=bf16`` is accepted for CPUs that have AMX.
"""

from __future__ import annotations

from accelbench.facts import cpuinfo
from accelbench.backends.base import Availability, DeviceInfo, EnergyMeterChoice
from accelbench.backends.torch_common import TorchBackend, torch_importable


class TorchCpuBackend(TorchBackend):
    name = "torch-cpu"
    process_group = "gloo"  # torch docs, "Distributed communication package"
    fence_description = "none needed: CPU ops return when their work is done"
    default_precision = "fp32"
    memory_is_host = True

    @classmethod
    def available(cls) -> Availability:
        return torch_importable()

    def torch_device(self):
        return "cpu"

    def device_info(self) -> DeviceInfo:
        import torch

        self.configure()  # --set threads applies before the device is described, so the record says what ran

        return DeviceInfo(
            kind=cpuinfo.cpu_model(),
            catalog_key=None,
            count=1,
            memory_bytes=cpuinfo.memory_bytes(),
            extra={"threads": torch.get_num_threads()},
            energy_meter=EnergyMeterChoice.rapl(),  # the host's CPU packages
        )

    def fence(self, outputs) -> None:
        return None

    def peak_memory_bytes(self) -> int | None:
        return cpuinfo.peak_rss_bytes()
