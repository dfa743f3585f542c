"""Data parallelism in JAX: one process per host, a ``jax.sharding.Mesh``
with one ``data`` axis over its devices (see ``backends.data_parallel`` for
the batch semantics shared with torch).

The batch inputs are split on the data axis. ``shard=none``: everything else
replicated; XLA's SPMD partitioner inserts the gradient all-reduce.
``shard=fsdp``: each parameter and AdamW moment split along its largest axis
that the device count divides (FSDP on the data axis, as MaxText's ``fsdp``
mesh axis does); XLA inserts the parameter all-gathers and the gradient
reduction (JAX docs, "Distributed arrays and automatic parallelization").
Framework imports happen inside functions only.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from accelbench.backends.base import PreparedStep
from accelbench.backends.data_parallel import (ALLREDUCE_REPEATS, _median_time, batch_inputs, shard_counts,
                                               weight_elements)


def fsdp_spec(shape: tuple[int, ...], devices: int, axis_name: str = "data"):
    """The PartitionSpec of an FSDP-sharded array: split along its largest
    axis that ``devices`` divides (ties: the first), whole (replicated) when
    none does, e.g. a scalar or a norm gain shorter than the device count."""
    from jax.sharding import PartitionSpec

    axes = [i for i, n in enumerate(shape) if n % devices == 0 and n >= devices]
    if not axes:
        return PartitionSpec()
    axis = max(axes, key=lambda i: (shape[i], -i))
    return PartitionSpec(*[axis_name if i == axis else None for i in range(len(shape))])


def _is_training_state(path) -> bool:
    """Parameters and AdamW moments: ``params/...``, ``opt/m/...``, ``opt/v/...`` (the step count stays whole)."""
    keys = [getattr(k, "key", None) for k in path]
    return bool(keys) and (keys[0] == "params" or (keys[0] == "opt" and len(keys) > 1 and keys[1] in ("m", "v")))


class JaxMesh:
    """Data parallelism in one JAX process per host over a mesh of devices:
    replicated training state (``shard=none``) or FSDP-sharded (``shard=fsdp``)."""

    def __init__(self, devices_per_host: int, hosts: int = 1, host_index: int = 0, coordinator: str = "",
                 strategy: str = "none"):
        self.devices_per_host, self.hosts, self.host_index = devices_per_host, hosts, host_index
        self.coordinator = coordinator
        self.strategy = strategy
        self.mesh = None
        self.backend = None
        self.weights = (0, 0)

    @property
    def engine(self) -> str:
        if self.strategy == "fsdp":
            return "jax.jit over a Mesh('data'), parameters and AdamW moments sharded on it (XLA SPMD all-gather / reduce-scatter)"
        return "jax.jit over a Mesh('data') (XLA SPMD all-reduce)"

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

    def _shardings(self, host_state, batch: int, names: set[str]):
        import jax
        from jax.sharding import NamedSharding, PartitionSpec

        count = len(self.mesh.devices)
        split, whole = NamedSharding(self.mesh, PartitionSpec("data")), NamedSharding(self.mesh, PartitionSpec())

        def sharding_of(path, leaf):
            last = path[-1] if path else None
            if getattr(last, "key", None) in names and leaf.ndim >= 1 and leaf.shape[0] == batch:
                return split
            if self.strategy == "fsdp" and _is_training_state(path):
                return NamedSharding(self.mesh, fsdp_spec(leaf.shape, count))
            return whole

        return jax.tree_util.tree_map_with_path(sharding_of, host_state), whole

    def prepare(self, backend, kernel, cfg, state) -> PreparedStep:
        import jax

        self.backend = backend
        backend.select_platform()
        self.mesh = jax.sharding.Mesh(np.array(self._devices(backend)), ("data",))
        self.weights = weight_elements(kernel, state)
        program = backend.jax_program(kernel, cfg)  # the attention implementation the backend asks for
        host_state = jax.tree.map(np.asarray, program.init(state))
        shardings, whole = self._shardings(host_state, cfg.batch, set(batch_inputs(kernel)))
        placed = jax.tree.map(lambda a, s: jax.make_array_from_callback(a.shape, s, lambda i, a=a: a[i]),
                              host_state, shardings)
        out_shardings = jax.tree.map(lambda _: whole, jax.eval_shape(program.step, placed)[1])
        current = {"state": placed, "outputs": None}
        t0 = time.perf_counter()
        with backend.matmul_scope():  # the backend's matmul precision, as its own prepare
            compiled = jax.jit(program.step, in_shardings=(shardings,), out_shardings=(shardings, out_shardings),
                               donate_argnums=0).lower(placed).compile()
        compile_s = time.perf_counter() - t0
        hlo = compiled.as_text() or ""

        def step():
            current["state"], current["outputs"] = compiled(current["state"])
            return current["outputs"]

        backend.fence_covers(current)  # the fence waits on the new state too, not the loss only

        mine = [d for d in self.mesh.devices.flat if d.process_index == jax.process_index()]

        def held_by(device):
            # The state as ``device`` holds it: its own copy of each replicated array; np.asarray
            # (in program.observe) gathers a sharded one from this host's devices.
            return jax.tree.map(lambda a: next(s.data for s in a.addressable_shards if s.device == device)
                                if a.is_fully_replicated else a, current["state"])

        def observe():
            return program.observe(held_by(mine[0]), current["outputs"])

        def replicas():  # every copy is judged: a device that skipped the all-reduce holds its own
            return {f"device {d.id} ({d})": program.observe(held_by(d), current["outputs"])
                    for d in mine}

        info = {"jax_platform": backend.platform, "mesh": {"data": len(self.mesh.devices)},
                "hlo_collectives": {op: hlo.count(f" {op}(") + hlo.count(f" {op}-start(")
                                    for op in ("all-reduce", "all-gather", "reduce-scatter")},
                **backend.attention_info(kernel, compiled)}
        info["hlo_all_reduce_ops"] = info["hlo_collectives"]["all-reduce"]
        if hasattr(backend, "matmul_plan"):
            info["matmul_precision"] = backend.matmul_plan.to_dict()
        return PreparedStep(step=step, observe=observe, compile_s=compile_s, info=info, replicas=replicas)

    def shard_info(self) -> dict[str, Any]:
        """How the parameters are held: ways each is split (its elements ÷ the
        elements of one device's shard), read from the arrays' shardings."""
        params = self.backend.live_state["params"]  # the state the fence covers: the last step's
        shard = [math.prod(a.sharding.shard_shape(a.shape)) for a in params.values()]
        ways = [a.size // max(1, n) for a, n in zip(params.values(), shard)]
        info = shard_counts(ways, sum(a.size for a in params.values()), sum(shard), "parameter_elements_per_device")
        if self.strategy == "fsdp":
            info.update(engine_call="jax.sharding.NamedSharding(mesh, PartitionSpec(... 'data' on the largest divisible axis))",
                        gradients="reduced over the data axis for the sharded AdamW update; the collectives XLA "
                                  "chose are counted in hlo_collectives",
                        optimizer_state="AdamW moments sharded as their parameters")
        else:
            info.update(engine_call="jax.sharding.NamedSharding(mesh, PartitionSpec())",
                        gradients="all-reduced: every device keeps all", optimizer_state="a full replica per device")
        return info

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
