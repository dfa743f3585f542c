"""How a data-parallel case is sharded (``--set shard=none|fsdp``): the
plan-time checks, the per-device memory estimate behind the fit check, and
what the record says. Imports no framework.

* ``none`` (the default): every device holds a full replica of the weights,
  gradients and AdamW moments (DistributedDataParallel; a replicated JAX mesh).
* ``fsdp``: each of them is split over the devices. torch: FSDP2
  (``torch.distributed.fsdp.fully_shard``) per transformer block and for the
  root; JAX: ``NamedSharding`` on the mesh's data axis, each array split along
  its largest axis that the device count divides (``backends.data_parallel``).
  The batch is split as with ``none``, so the step computes the same numbers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from accelbench import backends, kernels
from accelbench.kernels.precision import DTYPE_BYTES, policy

PREFETCHED_BLOCKS = 2
"""Blocks whose parameters are gathered at once under FSDP: the one computing
and the next, whose all-gather FSDP2 issues ahead (its implicit prefetching;
XLA's scheduler overlaps the same way)."""


@dataclass(frozen=True)
class DeviceMemory:
    """One device's share of a step's memory, in bytes, and how it was counted."""

    total_bytes: float
    state_bytes: float
    activation_bytes: float
    gathered_bytes: float
    how: str


def shard_strategy(case) -> str:
    return case.backend_settings.get("shard") or "none"


def check_case(case, devices: int) -> str | None:
    """Why ``case`` cannot be sharded as asked on ``devices`` devices (one line), or None."""
    strategy = shard_strategy(case)
    if strategy == "none":  # an unknown strategy never gets here: Backend() refuses it as the plan is built
        return None
    if devices < 2:
        return (f"--set shard={strategy} shards the training state over the devices of a data-parallel run; "
                f"give --nproc N (and/or --nnodes M) with N×M > 1")
    return None


def device_memory(kernel, cfg, precision: str, devices: int, strategy: str) -> DeviceMemory | None:
    """One device's memory for a step of ``cfg`` (the GLOBAL batch) run on
    ``devices`` devices: activations of the per-device batch; weights,
    gradients and AdamW moments whole (``none``) or ÷ devices (``fsdp``),
    plus, under FSDP, the parameters gathered at once (the root's, kept
    gathered through the step, and ``PREFETCHED_BLOCKS`` blocks', in the
    compute dtype). None when the kernel gives no estimate."""
    per_device = dataclasses.replace(cfg, batch=cfg.batch // devices) if devices > 1 else cfg
    parts_of = getattr(kernel, "memory_parts", None)
    if parts_of is None:
        whole = kernel.memory_estimate_bytes(per_device, precision)
        return None if whole is None else DeviceMemory(whole, whole, 0.0, 0.0, "the kernel's estimate at the per-device batch")
    parts = parts_of(per_device, precision)
    if strategy != "fsdp" or devices < 2:
        return DeviceMemory(parts.total_bytes, parts.state_bytes, parts.activation_bytes, 0.0,
                            "full replica of the state + activations of the per-device batch")
    param_bytes = DTYPE_BYTES[policy(precision).compute]
    gathered = param_bytes * (parts.root_parameters + PREFETCHED_BLOCKS * parts.block_parameters)
    state = parts.state_bytes / devices
    return DeviceMemory(state + parts.activation_bytes + gathered, state, parts.activation_bytes, gathered,
                        f"state ÷ {devices} + activations of the per-device batch + gathered parameters "
                        f"(root + {PREFETCHED_BLOCKS} blocks)")


def case_device_memory(case) -> DeviceMemory | None:
    """``device_memory`` of a planned case (no framework imported)."""
    kernel = kernels.get(case.kernel)
    cfg = kernel.config(case.preset, case.kernel_settings)
    backend_cls = backends.get_class(case.backend)
    precision = case.backend_settings.get("precision") or backend_cls.default_precision
    devices = case.layout.devices
    if devices > 1 and not isinstance(getattr(cfg, "batch", None), int):
        return None
    return device_memory(kernel, cfg, precision, devices, shard_strategy(case))


def host_memory_bytes(case) -> float | None:
    """What a case of a host-memory backend (torch-cpu, jax-cpu) needs from
    this host: every local device's share (they are all this host's memory)."""
    memory = case_device_memory(case)
    return None if memory is None else memory.total_bytes * case.layout.nproc


def record_info(strategy: str, devices: int, sharded: dict) -> dict:
    """``backend.info.parallel.shard``: the strategy, the world size, and what
    the engine reports (``sharded``: how many ways the parameters are split,
    which engine call did it, the mixed-precision policy, ...)."""
    return {"strategy": strategy, "world_size": devices, **sharded}
