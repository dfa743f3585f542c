"""JAX backends: one class, the platform a parameter.

The platform is chosen explicitly (``JAX_PLATFORMS`` is set before JAX is
imported in the case's process, and devices are taken from that platform),
the step is compiled ahead of time with ``jit(step).lower(state).compile()``
so compile time is measured apart, and ``block_until_ready()`` is the fence.
"""

from __future__ import annotations

import importlib.util
import os
import time
import warnings
from typing import ClassVar

from backends import cpuinfo
from backends.base import Availability, Backend, DeviceInfo, PreparedStep


class JaxBackend(Backend):
    framework = "jax"
    platform: ClassVar[str]
    fence_description = "jax.block_until_ready(outputs) after each step"

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

    def prepare(self, kernel, cfg, state) -> PreparedStep:
        import jax

        device = self.devices()[0]
        program = kernel.jax_program(cfg, self.precision)
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

        def observe():
            return program.observe(current["state"], current["outputs"])

        return PreparedStep(step=step, observe=observe, compile_s=compile_s, info={"jax_platform": self.platform})

    def fence(self, outputs) -> None:
        import jax

        jax.block_until_ready(outputs)


class JaxCpuBackend(JaxBackend):
    name = "jax-cpu"
    platform = "cpu"

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
        )

    def peak_memory_bytes(self) -> int | None:
        return cpuinfo.peak_rss_bytes()
