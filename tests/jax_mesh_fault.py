"""Test helper (not collected): the JAX half of "one data-parallel rank skips
the gradient all-reduce". GPT-2 tiny over a 2-device XLA:CPU mesh
(``JaxMesh``), its step written with ``jax.shard_map`` so the gradient
mean is an explicit ``lax.pmean``; with the fault, device 1 steps with its
own shard's gradient. Prints one JSON line per variant: the numerics result
the harness computes (``numerics.check_prepared``, every replica judged).

    XLA_FLAGS=--xla_force_host_platform_device_count=2 python tests/jax_mesh_fault.py PRECISION

Variants: ``gspmd`` (the harness's own mesh step), ``shard_map`` (the same
step written by hand, every device all-reducing: must pass, so a failure of
the next is the fault's) and ``device 1 skips the all-reduce``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys

import numpy as np

from accelbench.kernels.gpt2 import GPT2

VARIANTS = ("gspmd", "shard_map", "device 1 skips the all-reduce")


def gpt2_loss(cfg, lowering):
    """GPT-2's JAX loss built from the public pieces (``jax_models``: the forward and cross-entropy), for
    a step rebuilt by hand (here and in tests/harness/test_numerics_update.py)."""
    from accelbench.kernels import jax_models

    def loss_fn(params, consts, idx, targets):
        logits = jax_models.gpt2_forward(params, consts, idx, cfg, lowering)
        return jax_models.cross_entropy(logits.astype(lowering.master), targets)

    return loss_fn


class ShardMapGPT2(GPT2):
    """GPT-2 whose JAX step averages gradients with an explicit ``pmean`` over
    ``mesh``'s ``data`` axis; ``skip_device`` keeps its local gradient."""

    def __init__(self, mesh, skip_device: int | None):
        self.mesh, self.skip_device = mesh, skip_device

    def jax_program(self, cfg, precision, attention=None):
        import jax
        import jax.numpy as jnp
        from jax.sharding import PartitionSpec as P

        from accelbench.kernels import jax_models

        program = super().jax_program(cfg, precision, attention)
        loss_fn = gpt2_loss(cfg, jax_models.Lowering(precision, attention, False))

        def local_step(state):  # this device's batch shard; equal shards, so the mean of means is the mean
            loss, grads = jax.value_and_grad(loss_fn)(state["params"], state["consts"], state["idx"], state["targets"])
            mean = jax.lax.pmean(grads, "data")
            if self.skip_device is not None:
                mine = jax.lax.axis_index("data") == self.skip_device
                mean = jax.tree.map(lambda g, m: jnp.where(mine, g, m), grads, mean)
            params, opt = jax_models.adamw_update(state["params"], mean, state["opt"], cfg)
            return {**state, "params": params, "opt": opt}, {"loss": jax.lax.pmean(loss, "data")}

        def step(state):
            specs = {k: P("data") if k in ("idx", "targets") else P() for k in state}
            # check_vma off: with the fault the "replicated" parameters differ per device, which is the point.
            return jax.shard_map(local_step, mesh=self.mesh, in_specs=(specs,), out_specs=(specs, P()),
                                 check_vma=False)(state)

        return dataclasses.replace(program, step=step)


def run(precision: str, variant: str) -> dict:
    from jax.sharding import Mesh

    from accelbench.backends.jax_backend import JaxCpuBackend
    from accelbench.backends.jax_mesh import JaxMesh
    from accelbench.harness import numerics

    correct = GPT2()
    cfg = correct.config("tiny")
    state = correct.make_state(cfg)
    backend = JaxCpuBackend(JaxCpuBackend.settings_cls(precision=precision))
    engine = JaxMesh(2)
    mesh = Mesh(np.array(backend.devices()[:2]), ("data",))  # the devices JaxMesh picks, in its order
    kernel = correct if variant == "gspmd" else ShardMapGPT2(mesh, 1 if "skips" in variant else None)
    prepared = engine.prepare(backend, kernel, cfg, state)
    outputs = prepared.step()
    backend.fence(outputs)
    _, result = numerics.check_prepared(correct, cfg, state, "tiny", prepared, backend.fence, outputs, precision,
                                        lambda out: engine.loss(backend, out))
    return {"variant": variant, "precision": precision, **dataclasses.asdict(result)}


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    for name in VARIANTS:
        print(json.dumps(run(sys.argv[1], name)), flush=True)
