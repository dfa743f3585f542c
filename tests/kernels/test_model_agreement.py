"""The torch and JAX lowerings of each model kernel compute the same training
step: same first loss, same weights after AdamW, from the same numpy state.

fp32: loss within 1e-5 relative, weights within 1e-5 relative norm (the
harness's fp32 tolerance; seen ≤ 2e-7 and ≤ 8e-7). The weight *update*
(after − before) is held to 1e-3 (seen ≤ 4e-5): AdamW's first step is about
lr·g/|g|, which amplifies rounding where a gradient is near zero. bf16
(autocast in torch, the same casts in JAX; the ``slow`` tier): loss and
weights within 1e-2, a few bf16 roundings (2⁻⁸ each) deep (seen ≤ 2e-5 and
≤ 1.2e-3); bf16 updates are not compared, the sign of near-zero gradients
flips.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from accelbench import kernels
TOLERANCE = {"fp32": 1e-5, "bf16": 1e-2}
UPDATE_TOLERANCE = {"fp32": 1e-3, "bf16": None}
STEPS = 2


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _flat(params: dict[str, np.ndarray], keys) -> np.ndarray:
    return np.concatenate([np.asarray(params[k], np.float64).ravel() for k in keys])


def _run_torch(kernel, cfg, state, precision):
    program = kernel.torch_program(cfg, state, "cpu", precision)
    losses = [float(program.step()["loss"]) for _ in range(STEPS)]
    return losses, program.observe()


def _run_jax(kernel, cfg, state, precision):
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    program = kernel.jax_program(cfg, precision)
    step = jax.jit(program.step)
    current, losses = program.init(state), []
    for _ in range(STEPS):
        current, outputs = step(current)
        losses.append(float(outputs["loss"]))
    return losses, program.observe(current, outputs)


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", pytest.param("bf16", marks=pytest.mark.slow)])
@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_torch_and_jax_training_steps_agree(name, precision):
    kernel = kernels.get(name)
    cfg = kernel.config("tiny")
    state = kernel.make_state(cfg)
    torch_losses, torch_obs = _run_torch(kernel, cfg, state, precision)
    jax_losses, jax_obs = _run_jax(kernel, cfg, state, precision)
    tol = TOLERANCE[precision]

    assert sorted(torch_obs) == sorted(jax_obs)
    for i, (t, j) in enumerate(zip(torch_losses, jax_losses)):
        assert abs(t - j) / abs(t) <= tol, f"loss of step {i + 1}: torch {t!r}, jax {j!r}"
    assert jax_losses[-1] < jax_losses[0], "the step does not train"

    keys = sorted(torch_obs)
    weights = _rel(_flat(jax_obs, keys), _flat(torch_obs, keys))
    assert weights <= tol, f"updated weights differ by {weights:.3g} (relative norm)"
    if UPDATE_TOLERANCE[precision] is not None:
        before = _flat({"param/" + k: v for k, v in state.items()}, keys)
        update = _rel(_flat(jax_obs, keys) - before, _flat(torch_obs, keys) - before)
        assert update <= UPDATE_TOLERANCE[precision], f"weight updates differ by {update:.3g} (relative norm)"


@pytest.mark.slow
def test_llama_grouped_attention_reads_the_right_kv_head():
    """Query head j reads K/V head j // (H/KV) in JAX's native grouped
    attention, as in torch's ``repeat_kv``: checked against numpy."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax.numpy as jnp

    from accelbench.kernels import jax_models

    rng = np.random.default_rng(0)
    B, T, H, KV, D = 2, 8, 4, 2, 16
    q, k, v = rng.standard_normal((B, T, H, D)), rng.standard_normal((B, T, KV, D)), rng.standard_normal((B, T, KV, D))
    got = jax_models.causal_attention(*(jnp.asarray(a, jnp.float32) for a in (q, k, v)))
    kv_of = np.arange(H) // (H // KV)
    scores = np.einsum("bqhd,bkhd->bhqk", q, k[:, :, kv_of]) / np.sqrt(D)
    scores = np.where(np.tril(np.ones((T, T), bool)), scores, -np.inf)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    expected = np.einsum("bhqk,bkhd->bqhd", probs, v[:, :, kv_of])
    assert _rel(got, expected) < 1e-5
