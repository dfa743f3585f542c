"""Test helper (not collected): run STEPS training steps of a tiny model
sharded over several devices and on one device, from the same state, and
print the relative L2 difference of every parameter group and of the last
loss as one JSON line (rank 0 / the JAX process).

    torchrun --standalone --nproc-per-node 2 tests/sharded_steps.py torch KERNEL STRATEGY STEPS
    XLA_FLAGS=--xla_force_host_platform_device_count=4 python tests/sharded_steps.py jax KERNEL STRATEGY STEPS BATCH

Used by tests/harness/test_sharding.py: the sharded step must compute what the
one-device step computes (fp32: within 1e-5).
"""

from __future__ import annotations

import json
import os
import sys

from accelbench.harness import numerics


def torch_main(kernel_name: str, strategy: str, steps: int) -> None:
    from accelbench import kernels
    from accelbench.backends.data_parallel import TorchDataParallel
    from accelbench.backends.torch_cpu import TorchCpuBackend

    kernel = kernels.get(kernel_name)
    cfg = kernel.config("tiny", {"batch": 4})
    state = kernel.make_state(cfg)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    engine = TorchDataParallel(rank, world, int(os.environ["LOCAL_RANK"]), strategy)
    backend = TorchCpuBackend()
    prepared = engine.prepare(backend, kernel, cfg, state)
    for _ in range(steps):
        outputs = prepared.step()
    loss = engine.loss(backend, outputs)
    sharded = prepared.observe()  # a collective under FSDP: every rank calls it
    info = engine.shard_info()
    engine.close()
    if rank != 0:
        return
    single = TorchCpuBackend().prepare(kernel, cfg, state)
    for _ in range(steps):
        single_out = single.step()
    result = {"params": numerics.group_errors(sharded, single.observe())["param"]}  # observe: param/... only
    single_loss = backend.to_scalar(single_out["loss"])
    print(json.dumps({**result, "loss": loss, "single_loss": single_loss, "loss_rel": abs(loss - single_loss) / abs(single_loss),
                      "parameter_shards": info["parameter_shards"]}))


def jax_main(kernel_name: str, strategy: str, steps: int, batch: int) -> None:
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    from accelbench import kernels
    from accelbench.backends.jax_mesh import JaxMesh
    from accelbench.backends.jax_backend import JaxCpuBackend

    kernel = kernels.get(kernel_name)
    cfg = kernel.config("tiny", {"batch": batch})
    state = kernel.make_state(cfg)
    backend = JaxCpuBackend()
    devices = len(backend.devices())
    engine = JaxMesh(devices, strategy=strategy)
    prepared = engine.prepare(backend, kernel, cfg, state)
    for _ in range(steps):
        outputs = prepared.step()
    loss = engine.loss(backend, outputs)
    sharded = prepared.observe()
    single = JaxCpuBackend().prepare(kernel, cfg, state)
    for _ in range(steps):
        single_out = single.step()
    single_loss = backend.to_scalar(single_out["loss"])
    result = {"params": numerics.group_errors(sharded, single.observe())["param"]}  # observe: param/... only
    print(json.dumps({**result, "loss": loss, "single_loss": single_loss, "loss_rel": abs(loss - single_loss) / abs(single_loss),
                      "parameter_shards": engine.shard_info()["parameter_shards"], "devices": devices}))


if __name__ == "__main__":
    framework, name, strategy, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if framework == "torch":
        from accelbench.harness.launch.process import exit_without_teardown

        torch_main(name, strategy, n)
        exit_without_teardown(0)  # as a torchrun rank does: no gloo teardown at interpreter exit
    else:
        jax_main(name, strategy, n, int(sys.argv[5]))
