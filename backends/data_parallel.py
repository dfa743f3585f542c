"""Data parallelism on each framework's own engine, for training-step kernels.

Two engines, one contract (what ``harness.launch.base.DataParallelContext`` calls):

* ``TorchDDP``: one process per device (started by torchrun), a
  ``torch.distributed`` process group (gloo on CPU, NCCL on CUDA, the ``xla``
  backend on PyTorch/XLA), and the kernel's forward module wrapped in
  ``DistributedDataParallel`` through the lowering's ``wrap`` hook. DDP's
  autograd hooks all-reduce the gradients in buckets during ``backward`` and
  divide by the world size, so every rank's optimizer applies the mean
  gradient over the global batch (torch docs, "DistributedDataParallel").
* ``JaxMesh``: one process per host, a ``jax.sharding.Mesh`` with one
  ``data`` axis over the local devices, the batch inputs sharded on it and
  everything else replicated; ``jit`` with those in/out shardings lets XLA's
  SPMD partitioner insert the gradient all-reduce (JAX docs, "Distributed
  arrays and automatic parallelization").

Batch semantics: the kernel's ``batch`` is the GLOBAL batch. Every rank (or
mesh device) gets the contiguous rows ``[r·b, (r+1)·b)`` of the same global
batch made by ``Kernel.make_state``, b = batch ÷ devices. The loss of a step is
the mean over each shard's tokens, and shards are equal, so the mean of the
shards' gradients is the gradient of the global mean loss: a data-parallel
step computes what the one-device step with the same global batch computes,
up to the order of floating-point sums.

Framework imports happen inside methods only.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import statistics
import time
from typing import Any

import numpy as np

from accelbench.backends.base import PreparedStep

DEFAULT_BATCH_INPUTS = ("idx", "targets")
"""The ``make_state`` arrays split along their first axis, unless a kernel
declares ``batch_inputs`` (a tuple of names) itself."""
DDP_BUCKET_BYTES = 25 * 2**20
"""DistributedDataParallel's default ``bucket_cap_mb=25``: the all-reduce unit."""
ALLREDUCE_REPEATS = 5
FAULT_VARS = {"raise": "ACCELBENCH_TEST_FAIL_RANK", "hang": "ACCELBENCH_TEST_HANG_RANK",
              "kill": "ACCELBENCH_TEST_KILL_RANK"}
"""Test-only: the rank named by one of these raises, hangs, or SIGKILLs itself in its second step."""


def batch_inputs(kernel) -> tuple[str, ...]:
    return tuple(getattr(kernel, "batch_inputs", DEFAULT_BATCH_INPUTS))


def shard_rows(kernel, cfg, state: dict[str, np.ndarray], index: int, count: int):
    """(config with the per-device batch, state with this shard's rows of the
    batch inputs); the weights are shared, unchanged."""
    per_device = cfg.batch // count
    local = dict(state)
    for key in batch_inputs(kernel):
        array = state[key]
        if array.shape[0] != cfg.batch:
            raise ValueError(f"'{key}' has {array.shape[0]} rows, expected the global batch {cfg.batch}")
        local[key] = array[index * per_device:(index + 1) * per_device]
    return dataclasses.replace(cfg, batch=per_device), local


def weight_elements(kernel, state: dict[str, np.ndarray]) -> tuple[int, int]:
    """(elements, bytes) of the initial weights: what a gradient all-reduce moves."""
    weights = [a for k, a in state.items() if k not in batch_inputs(kernel)]
    return sum(a.size for a in weights), sum(a.nbytes for a in weights)


def _injected_fault(step, rank: int):
    """Wrap ``step`` so that the rank named by a test-only variable fails in its second step."""
    faults = [kind for kind, var in FAULT_VARS.items() if os.environ.get(var) == str(rank)]
    if not faults:
        return step
    calls = {"n": 0}

    def faulty():
        calls["n"] += 1
        if calls["n"] == 2:
            if "raise" in faults:
                raise RuntimeError(f"injected failure on rank {rank} ({FAULT_VARS['raise']})")
            if "kill" in faults:
                os.kill(os.getpid(), signal.SIGKILL)
            while True:
                time.sleep(3600)
        return step()

    return faulty


def _median_time(run, fence, repeats: int = ALLREDUCE_REPEATS) -> float:
    run()
    fence()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        fence()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


class TorchDDP:
    """One torch rank of a DistributedDataParallel run (environment from torchrun)."""

    def __init__(self, rank: int, world_size: int, local_rank: int, dist=None):
        """``dist``: the ``torch.distributed`` API (default the real one; tests pass a fake)."""
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        self._dist = dist
        self.module = None
        self.backend = None
        self.device = None
        self.group_backend = ""

    @property
    def engine(self) -> str:
        return f"torch DistributedDataParallel over {self.group_backend or 'torch.distributed'}"

    def dist(self):
        if self._dist is None:
            import torch.distributed

            return torch.distributed
        return self._dist

    def _start(self, backend) -> None:
        """Join the process group on the device the backend was built for
        (the rank's own: its launcher gave it ``device_index=LOCAL_RANK``)."""
        import torch

        dist = self.dist()
        self.device = torch.device(backend.torch_device())
        if self.device.type == "xla":
            import torch_xla.distributed.xla_backend  # noqa: F401  registers the "xla" process group

            dist.init_process_group("xla", init_method="xla://")
        elif self.device.type == "cuda":
            # device_id binds the process group to this rank's GPU (NCCL forms its
            # communicator on it at once); torch docs, init_process_group(device_id=...).
            dist.init_process_group(dist.get_default_backend_for_device(self.device), device_id=self.device)
        else:
            dist.init_process_group(dist.get_default_backend_for_device(self.device))
        self.group_backend = dist.get_backend()

    def _install_wrap(self, backend) -> None:
        """Compose DDP under the backend's own wrap (torch.compile wraps the DDP module,
        as the DDP + compile docs recommend)."""
        from torch.nn.parallel import DistributedDataParallel

        outer = backend.wrap

        def ddp(module):
            import torch

            if not isinstance(module, torch.nn.Module):
                raise TypeError(f"data parallelism needs a torch.nn.Module from the lowering, got {type(module).__name__}")
            self.module = module
            extra = {"device_ids": [self.device.index]} if self.device.type == "cuda" else {}
            if self.device.type == "xla":
                extra["gradient_as_bucket_view"] = True  # as PyTorch/XLA's DDP guide does
            wrapped = DistributedDataParallel(module, **extra)
            then = outer()
            return then(wrapped) if then else wrapped

        backend.wrap = lambda: ddp  # this backend instance only: its prepare() calls self.wrap()

    def prepare(self, backend, kernel, cfg, state) -> PreparedStep:
        self.backend = backend
        self._start(backend)
        self._install_wrap(backend)
        local_cfg, local_state = shard_rows(kernel, cfg, state, self.rank, self.world_size)
        prepared = backend.prepare(kernel, local_cfg, local_state)
        if self.module is None:
            raise RuntimeError(f"kernel '{kernel.name}': its torch lowering never called wrap(), so DDP could not wrap it")
        prepared.step = _injected_fault(prepared.step, self.rank)
        prepared.info["process_group"] = self.group_backend
        return prepared

    def loss(self, backend, outputs) -> float | None:
        """The global loss: the mean of the ranks' shard losses (a collective: every rank calls it)."""
        if not isinstance(outputs, dict) or "loss" not in outputs:
            return None
        dist = self.dist()

        total = outputs["loss"].detach().float().clone()
        dist.all_reduce(total)  # SUM: gloo has no AVG
        return backend.to_scalar(total) / self.world_size

    def grad_allreduce(self) -> dict[str, Any]:
        """Time a separate all-reduce of the gradients' bytes, cut into DDP's
        25 MiB buckets. In the step, DDP overlaps these with backward, so this
        is the communication's cost, not the part of the step it adds."""
        import torch
        dist = self.dist()

        if self.group_backend == "xla":
            return {"measured": False, "reason": "not measured on the xla process group"}
        params = [p for p in self.module.parameters() if p.requires_grad]
        dtype = params[0].dtype
        elements = sum(p.numel() for p in params)
        per_bucket = max(1, DDP_BUCKET_BYTES // params[0].element_size())
        buffers = [torch.zeros(min(per_bucket, elements - start), dtype=dtype, device=self.device)
                   for start in range(0, elements, per_bucket)]

        def run():
            for buf in buffers:
                dist.all_reduce(buf)

        dist.barrier()
        median = _median_time(run, lambda: self.backend.fence({"buffers": buffers}))
        return {"measured": True, "median_s": median, "bytes": elements * params[0].element_size(),
                "buckets": len(buffers), "repeats": ALLREDUCE_REPEATS, "on_rank": self.rank,
                "method": f"torch.distributed.all_reduce over {self.group_backend} of the gradients' size in "
                          f"{DDP_BUCKET_BYTES // 2**20} MiB buckets, timed apart from the step (DDP overlaps it with backward)"}

    def close(self) -> None:
        dist = self.dist()

        if dist.is_initialized():
            dist.barrier()  # no rank tears down its connections while a peer still uses them
            dist.destroy_process_group()


class JaxMesh:
    """Data parallelism in one JAX process per host over a mesh of devices."""

    engine = "jax.jit over a Mesh('data') (XLA SPMD all-reduce)"

    def __init__(self, devices_per_host: int, hosts: int = 1, host_index: int = 0, coordinator: str = ""):
        self.devices_per_host, self.hosts, self.host_index = devices_per_host, hosts, host_index
        self.coordinator = coordinator
        self.mesh = None
        self.backend = None
        self.weights = (0, 0)

    @property
    def rank(self) -> int:
        return self.host_index

    def start(self, platform: str) -> None:
        """Join the other hosts (before anything asks JAX for its devices)."""
        if self.hosts == 1:
            return
        import jax

        if platform == "cpu":  # XLA:CPU has cross-process collectives through gloo (or MPI) only
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(self.coordinator, num_processes=self.hosts, process_id=self.host_index)

    def _devices(self, backend):
        chosen = []
        for host in range(self.hosts):
            own = [d for d in backend.devices() if d.process_index == host]
            if len(own) < self.devices_per_host:
                raise RuntimeError(f"--nproc {self.devices_per_host}: {backend.name} sees {len(own)} "
                                   f"device(s) on host {host}")
            chosen.extend(own[:self.devices_per_host])
        return chosen

    def prepare(self, backend, kernel, cfg, state) -> PreparedStep:
        import jax
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        self.backend = backend
        self.mesh = Mesh(np.array(self._devices(backend)), ("data",))
        self.weights = weight_elements(kernel, state)
        split, whole = NamedSharding(self.mesh, PartitionSpec("data")), NamedSharding(self.mesh, PartitionSpec())
        names = set(batch_inputs(kernel))
        program = kernel.jax_program(cfg, backend.precision)
        host_state = jax.tree.map(np.asarray, program.init(state))

        def sharding_of(path, leaf):
            last = path[-1] if path else None
            is_batch = getattr(last, "key", None) in names and leaf.ndim >= 1 and leaf.shape[0] == cfg.batch
            return split if is_batch else whole

        shardings = jax.tree_util.tree_map_with_path(sharding_of, host_state)
        placed = jax.tree.map(lambda a, s: jax.make_array_from_callback(a.shape, s, lambda i, a=a: a[i]),
                              host_state, shardings)
        out_shardings = jax.tree.map(lambda _: whole, jax.eval_shape(program.step, placed)[1])
        current = {"state": placed, "outputs": None}
        t0 = time.perf_counter()
        compiled = jax.jit(program.step, in_shardings=(shardings,), out_shardings=(shardings, out_shardings),
                           donate_argnums=0).lower(placed).compile()
        compile_s = time.perf_counter() - t0
        hlo = compiled.as_text() or ""

        def step():
            current["state"], current["outputs"] = compiled(current["state"])
            return current["outputs"]

        def observe():
            local = jax.tree.map(lambda a: a.addressable_data(0) if a.is_fully_replicated else a, current["state"])
            return program.observe(local, current["outputs"])

        info = {"jax_platform": backend.platform, "mesh": {"data": len(self.mesh.devices)},
                "hlo_all_reduce_ops": hlo.count(" all-reduce(") + hlo.count(" all-reduce-start(")}
        return PreparedStep(step=step, observe=observe, compile_s=compile_s, info=info)

    def loss(self, backend, outputs) -> float | None:
        """The loss is already the global mean (a replicated scalar): read this host's copy."""
        if not isinstance(outputs, dict) or "loss" not in outputs:
            return None
        return float(np.asarray(outputs["loss"].addressable_data(0)))

    def grad_allreduce(self) -> dict[str, Any]:
        """Time a separate jitted sum over the data axis of one gradient-sized
        fp32 row per device (XLA emits an all-reduce), apart from the step."""
        import jax
        from jax.sharding import NamedSharding, PartitionSpec

        count = len(self.mesh.devices)
        elements = self.weights[0]
        split, whole = NamedSharding(self.mesh, PartitionSpec("data")), NamedSharding(self.mesh, PartitionSpec())
        rows = jax.make_array_from_callback((count, elements), split,
                                            lambda i: np.zeros((1, elements), np.float32))
        reduce = jax.jit(lambda x: x.sum(0), in_shardings=split, out_shardings=whole).lower(rows).compile()
        if " all-reduce" not in (reduce.as_text() or ""):
            return {"measured": False, "reason": "XLA did not lower the reduction to an all-reduce here"}
        box = {}
        median = _median_time(lambda: box.update(out=reduce(rows)), lambda: jax.block_until_ready(box["out"]))
        return {"measured": True, "median_s": median, "bytes": 4 * elements, "buckets": 1,
                "repeats": ALLREDUCE_REPEATS, "on_rank": self.host_index,
                "method": "jit(sum over the 'data' mesh axis) of an fp32 [devices, gradient elements] array, "
                          "one all-reduce, timed apart from the step (XLA schedules the step's own all-reduces)"}

    def close(self) -> None:
        import jax

        if self.hosts > 1 and jax.distributed.is_initialized():
            jax.distributed.shutdown()
