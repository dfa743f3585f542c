"""The quick side of sharding (default tier, no distributed run): the
plan-time refusals of ``--set shard``, the per-device memory estimate behind
the fit check, remat computing the same step in both lowerings, the FSDP
partition of a JAX array, and the attention implementation reaching llama's
JAX lowering (the mesh path builds its program through the same backend call).
"""

from __future__ import annotations

import os

import pytest
from conftest import assert_one_line_error

from accelbench import kernels
from accelbench.harness import numerics, sharding
from accelbench.harness.layout import Layout
from accelbench.harness.plan import Case
from accelbench.kernels.precision import policy

FP32 = policy("fp32").tolerance


@pytest.mark.parametrize("args, needle", [
    (["--kernel", "llama:tiny", "--set", "shard=fsdp"], "--set shard=fsdp shards the training state over the devices"),
    (["--kernel", "llama:tiny", "--set", "shard=zero3", "--nproc", "2"], "unknown shard 'zero3'"),
    (["--kernel", "llama:tiny", "--backend", "torch-xla", "--set", "shard=fsdp", "--nproc", "2"],
     "shard=fsdp is not supported on torch-xla: FSDP2"),
])
def test_bad_shard_settings_are_one_line_and_exit_2(cli, tmp_path, args, needle):
    out_dir = tmp_path / "out"
    proc = cli("run", *args, "--out", out_dir)
    assert_one_line_error(proc.returncode, proc.stderr, needle)
    assert not out_dir.exists()


def _case(nproc: int, shard: str, **kernel_settings) -> Case:
    return Case("llama", "8b", "torch-cuda", kernel_settings=kernel_settings,
                backend_settings={"precision": "bf16", "shard": shard}, layout=Layout(nproc=nproc))


def test_fsdp_divides_the_state_and_keeps_the_per_device_activations():
    kernel = kernels.get("llama")
    none = sharding.case_device_memory(_case(8, "none", batch=8))
    fsdp = sharding.case_device_memory(_case(8, "fsdp", batch=8))
    parts = kernel.memory_parts(kernel.config("8b", {"batch": 1}), "bf16")  # one device's batch
    assert none.state_bytes == parts.state_bytes == 18.0 * parts.parameters
    assert fsdp.state_bytes == pytest.approx(parts.state_bytes / 8)
    assert fsdp.activation_bytes == none.activation_bytes == parts.activation_bytes
    # gathered at once: the root's parameters and two blocks', in bf16
    assert fsdp.gathered_bytes == 2 * (parts.root_parameters + 2 * parts.block_parameters)
    assert parts.root_parameters + 32 * parts.block_parameters == parts.parameters
    assert none.total_bytes - fsdp.total_bytes == pytest.approx(parts.state_bytes * 7 / 8 - fsdp.gathered_bytes)


def test_remat_keeps_only_block_inputs_plus_one_block():
    kernel = kernels.get("llama")
    cfg = kernel.config("8b")
    plain, remat = kernel.memory_parts(cfg, "bf16"), kernel.memory_parts(kernel.config("8b", {"remat": True}), "bf16")
    tokens, per_layer = 8192, kernel.activation_bytes_per_token_layer(cfg, "bf16")
    logits = tokens * 12 * cfg.vocab_size
    assert plain.activation_bytes == tokens * 32 * per_layer + logits
    assert remat.activation_bytes == tokens * (32 * 4 * 4096 + per_layer) + logits
    assert remat.state_bytes == plain.state_bytes


def test_host_memory_counts_every_local_rank():
    replicas, shards = _case(4, "none", batch=4), _case(4, "fsdp", batch=4)
    assert sharding.host_memory_bytes(replicas) == 4 * sharding.case_device_memory(replicas).total_bytes
    assert sharding.host_memory_bytes(shards) < sharding.host_memory_bytes(replicas)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_remat_computes_the_same_step_in_both_lowerings(name):
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    kernel = kernels.get(name)
    observed = {}
    for remat in (False, True):
        cfg = kernel.config("tiny", {"remat": remat})
        state = kernel.make_state(cfg)
        torch_program = kernel.torch_program(cfg, state, "cpu", "fp32")
        for _ in range(2):
            torch_program.step()
        program = kernel.jax_program(cfg, "fp32")
        current = program.init(state)
        for _ in range(2):
            current, outputs = jax.jit(program.step)(current)
        observed[("torch", remat)] = torch_program.observe()
        observed[("jax", remat)] = program.observe(current, outputs)
    for framework in ("torch", "jax"):  # relative L2 over all parameters (observe: param/... only)
        assert numerics.group_errors(observed[(framework, True)], observed[(framework, False)])["param"] <= FP32, framework


def test_jax_remat_checkpoints_each_block():
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    kernel = kernels.get("llama")
    cfg = kernel.config("tiny", {"remat": True})
    program = kernel.jax_program(cfg, "fp32")
    text = str(jax.make_jaxpr(program.step)(program.init(kernel.make_state(cfg))))
    assert text.count("checkpoint[") + text.count("remat") >= cfg.n_layer, "no jax.checkpoint in the traced step"


def test_fsdp_partition_is_the_largest_divisible_axis():
    from jax.sharding import PartitionSpec

    from accelbench.backends.jax_mesh import fsdp_spec

    assert fsdp_spec((256, 64), 4) == PartitionSpec("data", None)
    assert fsdp_spec((64, 192), 4) == PartitionSpec(None, "data")
    assert fsdp_spec((6, 8), 4) == PartitionSpec(None, "data")  # 6 does not divide by 4
    assert fsdp_spec((3,), 4) == PartitionSpec() and fsdp_spec((), 4) == PartitionSpec()


@pytest.mark.slow
def test_llama_jax_lowering_takes_the_attention_implementation():
    """cuDNN asked for on a CPU fails in the compile: the choice reaches the
    call (before, llama passed no implementation= at all)."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    kernel = kernels.get("llama")
    cfg = kernel.config("tiny")
    state = kernel.make_state(cfg)
    xla = kernel.jax_program(cfg, "bf16", attention="xla")
    jax.jit(xla.step).lower(xla.init(state)).compile()
    cudnn = kernel.jax_program(cfg, "bf16", attention="cudnn")
    with pytest.raises(Exception, match="(?i)cudnn"):
        jax.jit(cudnn.step).lower(cudnn.init(state)).compile()


@pytest.mark.slow
def test_jax_record_says_which_attention_ran():
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    from accelbench.backends.jax_backend import JaxCpuBackend

    kernel = kernels.get("gpt2")
    cfg = kernel.config("tiny")
    prepared = JaxCpuBackend().prepare(kernel, cfg, kernel.make_state(cfg))
    assert prepared.info["jax_attention"] == "xla" and prepared.info["jax_attention_requested"] == "default (xla)"
    gemm = kernels.get("gemm")
    info = JaxCpuBackend().prepare(gemm, gemm.config("tiny"), gemm.make_state(gemm.config("tiny"))).info
    assert "jax_attention" not in info  # no attention in a GEMM: nothing to say


def test_cudnn_attention_call_names_match_the_installed_jax():
    """The record's "jax_attention: cudnn" rests on the custom-call targets of
    cuDNN fused attention starting with ``__cudnn$fmha``: checked against the
    installed JAX's own table (jax/_src/cudnn/fused_attention_stablehlo.py)."""
    import importlib.util
    import re

    from accelbench.kernels import jax_models

    spec = importlib.util.find_spec("jax._src.cudnn.fused_attention_stablehlo")
    if spec is None or spec.origin is None:
        pytest.skip("this JAX has no cuDNN fused-attention module")
    targets = set(re.findall(r'"(__cudnn\$[A-Za-z0-9]+)"', open(spec.origin).read()))
    assert targets and all(t.startswith(jax_models.CUDNN_ATTENTION_CALL) for t in targets if "fmha" in t), targets
    hlo = 'custom-call(...), custom_call_target="__cudnn$fmhaSoftmax"'
    assert jax_models.attention_that_ran(hlo) == "cudnn"
    assert jax_models.attention_that_ran("fusion(...) dot(...)") == "xla"
