"""Data parallelism on each framework's own engine, for training-step kernels.

Two engines, one contract (what ``harness.context.DataParallelContext`` calls):

* ``TorchDataParallel``: one process per device (started by torchrun), a
  ``torch.distributed`` process group (the backend's ``process_group``: gloo
  on CPU, NCCL on CUDA, ``neuron`` on TorchNeuron, ``xla`` on PyTorch/XLA), and the kernel's forward module
  wrapped through the lowering's ``wrap`` hook, in one of two ways:
  ``shard=none``: ``DistributedDataParallel``, whose autograd hooks all-reduce
  the gradients in buckets during ``backward`` and divide by the world size
  (torch docs, "DistributedDataParallel"); ``shard=fsdp``: FSDP2
  ``fully_shard`` per transformer block and for the root, which all-gathers a
  unit's parameters before its forward/backward and reduce-scatters its
  gradients, averaged over the world, so each rank's AdamW updates its shard
  (torch docs, ``torch.distributed.fsdp.fully_shard``). Either way every
  parameter is updated with the mean gradient over the global batch.
* ``JaxMesh`` (``backends.jax_mesh``): one process per host, a mesh of its
  devices, replicated or FSDP-sharded training state.

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
LOCAL_GRADIENT_VAR = "ACCELBENCH_TEST_LOCAL_GRAD_RANK"
"""Test-only: the rank named here joins DDP's gradient all-reduce (so no peer
waits forever) but steps with its own shard's gradient, as a rank that skipped
the all-reduce would; the numerics check must catch it."""


def keep_local_gradient(state, bucket):
    """A DDP communication hook (torch docs, "DDP Communication Hooks"): run the
    bucket's all-reduce like every rank, then hand back the local gradient."""
    import torch.distributed as dist

    local = bucket.buffer().clone()
    return dist.all_reduce(bucket.buffer(), async_op=True).get_future().then(lambda _: local)


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


def shard_counts(ways: list[int], elements: int, local_elements: int, local_key: str) -> dict[str, int]:
    """The record's count of how parameters are held, from the ways each is split (1: whole)."""
    return {"parameter_shards": max(ways), "parameters_sharded": sum(w > 1 for w in ways),
            "parameters_whole": sum(w == 1 for w in ways), "parameter_elements": elements, local_key: local_elements}


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



def fsdp_mixed_precision(precision: str):
    """FSDP2's MixedPrecisionPolicy matching the kernel's precision: under
    bf16, parameters gathered in bf16 for the forward/backward and gradients
    reduced in fp32 (torchtitan's default; the fp32 master weights and AdamW
    state stay sharded in fp32, as the one-device autocast step keeps them);
    otherwise everything stays in the parameters' own dtype."""
    from torch.distributed.fsdp import MixedPrecisionPolicy

    from accelbench.kernels.precision import policy, torch_dtype

    if policy(precision).autocast:
        return MixedPrecisionPolicy(param_dtype=torch_dtype(precision, "compute"),
                                    reduce_dtype=torch_dtype(precision, "master"))
    return MixedPrecisionPolicy()


class TorchDataParallel:
    """One torch rank of a data-parallel run (environment from torchrun):
    DistributedDataParallel replicas (``shard=none``) or FSDP2 shards (``shard=fsdp``)."""

    def __init__(self, rank: int, world_size: int, local_rank: int, strategy: str = "none", dist=None):
        """``dist``: the ``torch.distributed`` API (default the real one; tests pass a fake)."""
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        self.strategy = strategy
        self._dist = dist
        self.module = None
        self.backend = None
        self.device = None
        self.group_backend = ""
        self.fsdp_units = 0

    @property
    def engine(self) -> str:
        what = ("torch FSDP2 fully_shard per block and root" if self.strategy == "fsdp"
                else "torch DistributedDataParallel")
        return f"{what} over {self.group_backend or 'torch.distributed'}"

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

            dist.init_process_group(backend.process_group, init_method="xla://")
        elif self.device.type == "cuda":
            # device_id binds the process group to this rank's GPU (NCCL forms its
            # communicator on it at once); torch docs, init_process_group(device_id=...).
            dist.init_process_group(backend.process_group, device_id=self.device)
        else:  # the backend's own group (TorchBackend.process_group), else torch's default for the device
            group = backend.process_group or dist.get_default_backend_for_device(self.device)
            dist.init_process_group(group)
        self.group_backend = dist.get_backend()

    def _replicate(self, module):
        from torch.nn.parallel import DistributedDataParallel

        extra = {"device_ids": [self.device.index]} if self.device.type == "cuda" else {}  # this rank's GPU
        if self.device.type == "xla":
            extra["gradient_as_bucket_view"] = True  # as PyTorch/XLA's DDP guide does
        wrapped = DistributedDataParallel(module, **extra)
        if os.environ.get(LOCAL_GRADIENT_VAR) == str(self.rank):
            wrapped.register_comm_hook(None, keep_local_gradient)
        return wrapped

    def _shard(self, module, precision: str):
        """FSDP2 as torchtitan applies it: ``fully_shard`` on each transformer
        block (the last one not resharded after forward: the backward needs it
        at once), then on the root for the rest (embeddings, head, norms). The
        parameters become DTensors sharded on dim 0 over the world; the
        optimizer is made afterwards on them (the lowering does so). FSDP2
        runs on CUDA and CPU (gloo) per the torch docs, and on TorchNeuron's
        ``neuron`` device (Neuron docs, "How to use torch.distributed on
        Neuron": DDP, FSDP2, DTensor)."""
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        blocks = getattr(module, "blocks", None)
        if blocks is None:
            raise TypeError(f"shard=fsdp needs the lowering's module to expose its transformer blocks "
                            f"(a 'blocks' attribute); {type(module).__name__} has none")
        mesh = init_device_mesh(self.device.type, (self.world_size,))
        policy = fsdp_mixed_precision(precision)
        for i, block in enumerate(blocks):
            fully_shard(block, mesh=mesh, mp_policy=policy, reshard_after_forward=i < len(blocks) - 1)
        fully_shard(module, mesh=mesh, mp_policy=policy)
        self.fsdp_units = len(blocks) + 1
        return module

    def _install_wrap(self, backend) -> None:
        """Make the backend's ``wrap`` apply DDP or FSDP2 first, then its own
        wrap (torch.compile wraps the DDP module, as the DDP + compile docs
        recommend). Set on this backend instance only, so its own ``prepare``
        (device set-up, fences, XLA syncs) runs unchanged around it."""
        outer = backend.wrap

        def wrap(module):
            import torch

            if not isinstance(module, torch.nn.Module):
                raise TypeError(f"data parallelism needs a torch.nn.Module from the lowering, got {type(module).__name__}")
            self.module = module
            parallel = self._shard(module, backend.precision) if self.strategy == "fsdp" else self._replicate(module)
            then = outer()
            return then(parallel) if then else parallel

        backend.wrap = lambda: wrap

    def prepare(self, backend, kernel, cfg, state) -> PreparedStep:
        self.backend = backend
        self._start(backend)
        self._install_wrap(backend)
        local_cfg, local_state = shard_rows(kernel, cfg, state, self.rank, self.world_size)
        prepared = backend.prepare(kernel, local_cfg, local_state)
        if self.module is None:
            raise RuntimeError(f"kernel '{kernel.name}': its torch lowering never called wrap(), so "
                               f"{'FSDP' if self.strategy == 'fsdp' else 'DDP'} could not wrap it")
        prepared.step = _injected_fault(prepared.step, self.rank)
        prepared.read_local = self._read_local
        prepared.info["process_group"] = self.group_backend
        return prepared

    def _read_local(self) -> None:
        """Every parameter this rank holds (its FSDP shard, or its DDP replica) copied to the host."""
        for value in self.module.state_dict().values():
            local = getattr(value, "to_local", None)
            (local() if callable(local) else value).detach().float().cpu()

    def shard_info(self) -> dict[str, Any]:
        """How the parameters are held: the ways each is split (DTensor mesh
        size of a sharded placement; 1 for a replica)."""
        from torch.distributed.tensor import DTensor, Shard

        params = list(self.module.parameters())
        ways = [p.device_mesh.size() if isinstance(p, DTensor) and any(isinstance(pl, Shard) for pl in p.placements)
                else 1 for p in params]
        local = sum(p.to_local().numel() if isinstance(p, DTensor) else p.numel() for p in params)
        info = shard_counts(ways, sum(p.numel() for p in params), local, "parameter_elements_on_this_rank")
        if self.strategy == "fsdp":
            policy = fsdp_mixed_precision(self.backend.precision)
            info.update(engine_call="torch.distributed.fsdp.fully_shard", fsdp_units=self.fsdp_units,
                        mixed_precision={"param_dtype": str(policy.param_dtype), "reduce_dtype": str(policy.reduce_dtype)},
                        gradients="reduce-scattered: each rank keeps its shard",
                        optimizer_state="AdamW moments made on the sharded parameters: each rank keeps its shard")
        else:
            info.update(engine_call="torch.nn.parallel.DistributedDataParallel",
                        gradients="all-reduced: each rank keeps all", optimizer_state="a full replica per rank")
        return info

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
        if self.strategy == "fsdp":
            return {"measured": False, "reason": "FSDP reduce-scatters gradients and all-gathers parameters per "
                                                 "block; an all-reduce of the gradients is not what it runs"}
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
