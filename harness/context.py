"""Where the measurement core runs, as the core sees it: which device this
process builds on, how the step is prepared (one device, or a data-parallel
engine), how the loss is read, and what the record says about the layout.

``harness.measure`` takes a ``LaunchContext``; each launcher
(``harness.launch``) hands it one. It lives below both, so the core knows no
launcher and no launcher module is imported by the core.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from accelbench.harness import sharding
from accelbench.harness.layout import Layout
from accelbench.harness.plan import Case


class LaunchContext:
    """One device in this process: the default for ``accelbench run`` and pytest."""

    @property
    def devices(self) -> int:
        return 1

    def make_backend(self, backend_cls, settings):
        return backend_cls(settings)

    def memory_estimate_bytes(self, kernel, cfg, precision: str) -> float | None:
        """What one device of the case must hold (the fit check)."""
        return kernel.memory_estimate_bytes(cfg, precision)

    def describe(self, record) -> None:
        """Add what the layout is to the record's backend part."""

    def prepare(self, backend, kernel, cfg, state):
        return backend.prepare(kernel, cfg, state)

    def loss(self, backend, outputs) -> float | None:
        if isinstance(outputs, dict) and "loss" in outputs:
            return backend.to_scalar(outputs["loss"])
        return None

    def energy(self, reading):
        """The energy reading the record gets for the whole layout."""
        return reading

    def finish(self, record) -> None:
        """Add what was measured about the layout (after the timed window)."""


@dataclasses.dataclass
class DataParallelContext(LaunchContext):
    """One process of a data-parallel case: a torchrun rank, or a JAX mesh host.
    ``engine`` is a ``backends.data_parallel`` engine; ``device_index`` is the
    device of this process among those it sees (``LOCAL_RANK`` for torchrun;
    None where one process drives every device of its host)."""

    case: Case
    engine: Any
    device_index: int | None = None
    meters_every_device: bool = False
    """True when this process's energy meter covers every device of the case
    (one JAX process on one host); torchrun ranks sum theirs (``TorchrunRankContext``)."""

    @property
    def layout(self) -> Layout:
        return self.case.layout

    @property
    def devices(self) -> int:
        return self.layout.devices

    def make_backend(self, backend_cls, settings):
        if self.device_index is None:
            return backend_cls(settings)
        return backend_cls(settings, device_index=self.device_index)

    def memory_estimate_bytes(self, kernel, cfg, precision: str) -> float | None:
        """One device's memory: its share of the state (whole, or ÷ devices
        under FSDP) and the activations of its share of the batch."""
        memory = sharding.device_memory(kernel, cfg, precision, self.devices, sharding.shard_strategy(self.case))
        return None if memory is None else memory.total_bytes

    def describe(self, record) -> None:
        batch = record.kernel.config.get("batch")
        record.backend.device_count = self.devices
        record.backend.info["parallel"] = {
            "engine": self.engine.engine, "nproc": self.layout.nproc, "nnodes": self.layout.nnodes,
            "devices": self.devices,
            "batch_semantics": "global: the kernel's batch is split evenly over the devices",
            "global_batch": batch, "per_device_batch": batch // self.devices if batch else None,
            "shard": sharding.record_info(sharding.shard_strategy(self.case), self.devices, {}),
        }

    def prepare(self, backend, kernel, cfg, state):
        return self.engine.prepare(backend, kernel, cfg, state)

    def loss(self, backend, outputs) -> float | None:
        return self.engine.loss(backend, outputs)  # the global loss (a collective on torch: every rank calls it)

    def energy(self, reading):
        if self.meters_every_device or reading.method is None:
            return reading
        from accelbench.harness.energy import EnergyReading

        return EnergyReading(method=None, reason=f"not measured: this process metered its own devices only "
                                                  f"({reading.joules} J with {reading.method}) and the readings of "
                                                  "the other processes are not summed here")

    def finish(self, record) -> None:
        info = record.backend.info["parallel"]
        info["engine"] = self.engine.engine
        tokens_per_s = record.metrics.tokens_per_s
        info["tokens_per_s_global"] = tokens_per_s
        info["tokens_per_s_per_device"] = tokens_per_s / info["devices"] if tokens_per_s else None
        info["grad_allreduce"] = self.engine.grad_allreduce()
        info["shard"] = sharding.record_info(sharding.shard_strategy(self.case), info["devices"], self.engine.shard_info())
