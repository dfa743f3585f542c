"""Backend and kernel seams: the JAX mesh fence covers the
training state, the default matmul precision follows the backend's scope, and
the shared helpers (Neuron device view, the fp32 NEURON_CC_FLAGS export, one
block's parameters, the autocast flag) say what the code they replaced said."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from accelbench import kernels
from accelbench.backends import chip_share, discovery, matmul_precision
from accelbench.harness import fit
from accelbench.kernels.precision import POLICIES

NEURON = Path(__file__).parents[1] / "fixtures" / "neuron"


def _jax():
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    return pytest.importorskip("jax")


# ------------------------------------------------------------ the JAX fence
@pytest.mark.slow
def test_the_mesh_fence_waits_on_the_state_each_step_leaves():
    """Before: JaxMesh.prepare never told the backend its state, so the fence
    waited on the loss only (the AdamW update could still be running)."""
    jax = _jax()
    from accelbench.backends.jax_backend import JaxCpuBackend
    from accelbench.backends.jax_mesh import JaxMesh

    kernel = kernels.get("gpt2")
    cfg = kernel.config("tiny")
    backend, engine = JaxCpuBackend(), JaxMesh(1)
    assert backend.live_state is None  # nothing prepared: the fence has only the outputs
    prepared = engine.prepare(backend, kernel, cfg, kernel.make_state(cfg))
    before = jax.tree.leaves(backend.live_state)
    outputs = prepared.step()
    after = jax.tree.leaves(backend.live_state)
    assert len(after) == len(before) > len(jax.tree.leaves(outputs))  # params, moments, step count, batch
    assert all(a is not b for a, b in zip(after, before))  # the step's new state, not the donated one
    assert all(getattr(a.sharding, "mesh", None) == engine.mesh for a in after)  # the mesh's own arrays
    assert set(backend.live_state) >= {"params", "opt"}
    backend.fence(outputs)
    assert not any(a.is_deleted() for a in after)
    assert engine.shard_info()["parameter_shards"]  # read from the same state


@pytest.mark.slow
def test_the_one_device_fence_covers_its_state_too():
    jax = _jax()
    from accelbench.backends.jax_backend import JaxCpuBackend

    kernel = kernels.get("gpt2")
    cfg = kernel.config("tiny")
    backend = JaxCpuBackend()
    prepared = backend.prepare(kernel, cfg, kernel.make_state(cfg))
    prepared.step()
    assert {"params", "opt"} <= set(backend.live_state)
    assert all(isinstance(a, jax.Array) for a in jax.tree.leaves(backend.live_state))


# ------------------------------------------------- matmul precision scope
def _dot_precisions(text: str) -> list[str]:
    return [line.split("precision = [", 1)[1].split("]", 1)[0] for line in text.splitlines()
            if "dot_general" in line and "precision = [" in line]


def test_a_default_precision_dot_follows_the_backends_matmul_scope():
    """tf32 on a TPU asks XLA for 'high' (3-pass bf16) and records bf16_3x: the
    kernels' dots must leave the precision to that scope (None), not pin DEFAULT."""
    jax = _jax()
    from accelbench.backends.jax_backend import JaxAccelSettings, JaxTpuBackend

    tpu = JaxTpuBackend(JaxAccelSettings(precision="tf32"))
    assert tpu.matmul_plan.effective == "bf16_3x"
    gemm = kernels.get("gemm")
    cfg = gemm.config("tiny")
    program = gemm.jax_program(cfg, "tf32")
    state = program.init(gemm.make_state(cfg))
    with tpu.matmul_scope():  # lowered on the CPU: the scope, not the chip, is what is checked
        scoped = _dot_precisions(jax.jit(program.step).lower(state).as_text())
    plain = _dot_precisions(jax.jit(program.step).lower(state).as_text())
    assert scoped == ["HIGH, HIGH"] and plain == ["DEFAULT, DEFAULT"]
    fp32 = gemm.jax_program(cfg, "fp32")  # fp32 still asks for HIGHEST itself
    assert _dot_precisions(jax.jit(fp32.step).lower(fp32.init(gemm.make_state(cfg))).as_text()) == ["HIGHEST, HIGHEST"]


def test_the_model_lowering_leaves_tf32_dots_to_the_scope():
    jax = _jax()
    from accelbench.kernels import jax_models

    assert jax_models.Lowering("tf32", None, False).mm_precision is None
    kernel = kernels.get("gpt2")
    cfg = kernel.config("tiny")
    program = kernel.jax_program(cfg, "tf32")
    state = program.init(kernel.make_state(cfg))
    with jax.default_matmul_precision("high"):
        scoped = _dot_precisions(jax.jit(program.step).lower(state).as_text())
    assert scoped and all(p == "HIGH, HIGH" for p in scoped)


# ------------------------------------------------------ shared helpers
@pytest.mark.parametrize("fixture, instance_type", [
    ("neuron-ls-trn1.2xlarge.json", "trn1.32xlarge"),
    ("neuron-ls-trn2n.48xlarge-lnc2.json", "trn2.48xlarge"),
    ("neuron-ls-trn2n.48xlarge-lnc1.json", None),
])
def test_the_neuron_device_view_is_what_each_backend_computed(fixture, instance_type):
    dev = discovery.parse_neuron_ls_json((NEURON / fixture).read_text(), instance_type=instance_type)[0]
    view = chip_share.for_neuron_device(dev, "1")
    share = chip_share.for_neuron(dev.catalog_key, dev.core_count, dev.logical_core_config, "1")
    assert view.share == share and view.catalog_key == dev.catalog_key
    assert view.memory_bytes == chip_share.visible_device_bytes(dev.memory_bytes, share.share)
    assert view.kind == f"AWS Neuron ({dev.instance_type or 'unknown instance'})"
    none = chip_share.for_neuron_device(None, None)
    assert (none.kind, none.catalog_key, none.memory_bytes) == ("AWS Neuron", None, None)
    assert none.share == chip_share.for_neuron(None, None, None, None)


def test_the_fp32_neuron_flag_is_exported_only_when_the_plan_has_one():
    environ: dict[str, str] = {}
    matmul_precision.export_neuron_flag(matmul_precision.plan("neuron", "bf16"), environ)
    assert environ == {}  # an unset NEURON_CC_FLAGS stays unset
    environ["NEURON_CC_FLAGS"] = "--auto-cast=matmult -O1"
    matmul_precision.export_neuron_flag(matmul_precision.plan("neuron", "fp32"), environ)
    assert environ == {"NEURON_CC_FLAGS": "-O1 --auto-cast=none"}


def test_one_blocks_parameters_are_block_zeros_entries():
    """The hand formulas the generic count replaced, for every preset."""
    gpt2, llama = kernels.get("gpt2"), kernels.get("llama")
    for name in gpt2.presets:
        cfg = gpt2.config(name)
        assert gpt2.block_parameter_count(cfg) == 12 * cfg.d_model**2 + 13 * cfg.d_model, name
    for name in llama.presets:
        cfg = llama.config(name)
        d, q, kv, f = cfg.d_model, cfg.n_head * cfg.head_dim, cfg.kv_dim, cfg.ffn_hidden
        assert llama.block_parameter_count(cfg) == 2 * d * q + 2 * d * kv + 3 * d * f + 2 * d, name
        parts = llama.memory_parts(cfg, "bf16")
        assert parts.root_parameters == parts.parameters - cfg.n_layer * parts.block_parameters
        assert math.isclose(parts.state_bytes, 18.0 * parts.parameters)  # bf16: autocast's weight copies


def test_autocast_is_bf16_only_and_the_attention_vocabulary_is_one():
    assert [p.name for p in POLICIES.values() if p.autocast] == ["bf16"]
    from accelbench.backends.jax_backend import ATTENTION_CHOICES
    from accelbench.kernels.base import ATTENTION_IMPLEMENTATIONS

    assert ATTENTION_CHOICES == ("auto", "cudnn", "xla") and set(ATTENTION_CHOICES[1:]) == set(ATTENTION_IMPLEMENTATIONS)
