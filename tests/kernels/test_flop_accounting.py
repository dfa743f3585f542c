"""Analytic FLOP counts against torch's FlopCounterMode and XLA's cost analysis.

Every registered kernel's ``tiny`` preset is counted by both tools and checked
against the expectation ``kernels.flops.EXPECTED`` states for it, or else the
default of its FLOP convention (``kernels.flops.BY_CONVENTION``); that
module's docstring explains why each counter differs from the formulas.
"""

from __future__ import annotations

import math

import pytest

from accelbench import kernels
from accelbench.kernels import flops
from accelbench.kernels.base import CAUSAL_HALVED, EXACT_MATMUL, PALM
from accelbench.kernels.llama import count_params


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in ("gpt2", "llama") else n
                                  for n in kernels.names()])  # the whole models: over ~6 s each on 2 cores
def test_tiny_preset_flops_agree_with_both_counters(name):
    kernel = kernels.get(name)
    cfg = kernel.config("tiny")
    counted = flops.count(kernel, cfg)
    assert counted.torch is not None or counted.xla is not None, f"{name} has neither a torch nor a jax lowering"
    # Its own expectation, and its convention's default too: that default is
    # what a kernel added without an EXPECTED entry is held to, so it must
    # hold for every kernel of that convention we have.
    expectations = {"expected": flops.expectation(kernel)}
    if kernel.flop_convention in flops.BY_CONVENTION:
        expectations["convention default"] = flops.BY_CONVENTION[kernel.flop_convention]
    problems = []
    for which, expected in expectations.items():
        for counter, value, check in (("FlopCounterMode", counted.torch, expected.torch),
                                      ("XLA cost_analysis", counted.xla, expected.xla)):
            if value is not None and (problem := check.problem(kernel, cfg, value)):
                problems.append(f"{counter} ({which}): {problem}")
    analytic = kernel.flops_per_step(cfg)
    assert not problems, f"{name}:tiny, analytic {analytic:,.0f} FLOPs: " + "; ".join(problems)


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_training_step_matmul_count_is_exact(name):
    """The matmul part of the step, attention included, read exactly; this
    also checks that the math SDPA path was the one counted."""
    kernel = kernels.get(name)
    cfg = kernel.config("tiny")
    total, by_op = flops.torch_counted_flops(kernel, cfg)
    assert total == flops.training_matmul_flops(kernel, cfg)
    attention = 12.0 * cfg.n_layer * cfg.d_model * cfg.seq_len * kernel.tokens_per_step(cfg)
    assert by_op.get("aten.bmm") == attention, by_op


def test_counter_check_rejects_a_wrong_count():
    kernel = kernels.get("gemm")
    cfg = kernel.config("tiny")
    check = flops.expectation(kernel).torch
    assert check.problem(kernel, cfg, kernel.flops_per_step(cfg)) is None
    assert "expected" in check.problem(kernel, cfg, 1.01 * kernel.flops_per_step(cfg))
    assert flops.BY_CONVENTION[EXACT_MATMUL].torch.problem(kernel, cfg, 0.0) is not None


def test_a_convention_without_a_default_needs_an_entry():
    attention = kernels.get("attention")
    assert attention.flop_convention not in flops.BY_CONVENTION
    assert flops.expectation(attention) is flops.EXPECTED["attention"]
    renamed = type("Unlisted", (type(attention),), {"name": "unlisted"})()
    with pytest.raises(KeyError, match="add an entry for it to EXPECTED"):
        flops.expectation(renamed)


@pytest.mark.parametrize(
    "preset, params",
    [
        # Published sizes: Llama 3.2 1B 1.24B and 3B 3.21B (tied), Llama 3.1 8B 8.03B.
        ("1b", 1_235_814_400),
        ("3b", 3_212_749_824),
        ("8b", 8_030_261_248),
    ],
)
def test_llama_presets_have_the_published_parameter_counts(preset, params):
    cfg = kernels.get("llama").config(preset)
    assert count_params(cfg, non_embedding=False) == params


def test_llama_flops_formula_terms():
    kernel = kernels.get("llama")
    cfg = kernel.config("8b")
    tokens = cfg.batch * cfg.seq_len
    by = kernel.flops_by_convention(cfg)
    n = count_params(cfg)
    assert n == 8_030_261_248 - 128256 * 4096  # untied: the input lookup is not a matmul
    attention = 6.0 * cfg.n_layer * cfg.n_head * cfg.head_dim * cfg.seq_len * tokens
    assert by[PALM] == 6.0 * n * tokens + 2 * attention
    assert by[CAUSAL_HALVED] == by[PALM] - attention
    # Tied 1B: the embedding is the head, counted once.
    cfg1 = kernel.config("1b")
    assert count_params(cfg1) == count_params(cfg1, non_embedding=False)


def test_llama_gqa_shrinks_kv_weights_not_the_attention_term():
    kernel = kernels.get("llama")
    mha, gqa = kernel.config("tiny", {"n_kv_head": 4}), kernel.config("tiny", {"n_kv_head": 1})
    tokens = kernel.tokens_per_step(mha)
    saved_weights = 2 * mha.n_layer * mha.d_model * (mha.kv_dim - gqa.kv_dim)
    assert count_params(mha) - count_params(gqa) == saved_weights
    diff = kernel.flops_per_step(mha) - kernel.flops_per_step(gqa)
    assert math.isclose(diff, 6.0 * tokens * saved_weights)


@pytest.mark.parametrize("overrides, needle", [({"n_kv_head": 3}, "multiple of n_kv_head"),
                                               ({"n_head": 5}, "head_dim")])
def test_llama_rejects_inconsistent_heads(overrides, needle):
    with pytest.raises(kernels.KernelError, match=needle):
        kernels.get("llama").config("tiny", overrides)
