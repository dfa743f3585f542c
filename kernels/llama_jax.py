"""The JAX lowering of ``kernels.llama`` (imported only by that lowering).

Mirrors ``kernels/llama_torch.py`` op for op; the parameters are a flat dict
keyed as the torch ``state_dict``. Linear layers, the loss and AdamW are the
shared ones of ``kernels.jax_models``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from accelbench.kernels import jax_models
from accelbench.kernels.base import JaxProgram
from accelbench.kernels.llama import LlamaConfig, rope_tables


def rms_norm(x, w, eps):
    """x / √(mean(x²) + eps) · gain in fp32 at least, returned in fp32."""
    xf = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    return xf * jax.lax.rsqrt((xf * xf).mean(-1, keepdims=True) + eps) * w


def apply_rope(x, cos, sin):
    """x: [B, T, H, head_dim]; cos, sin: [T, head_dim/2]. As torch's ``apply_rope``."""
    x1, x2 = jnp.split(x.astype(cos.dtype), 2, axis=-1)
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return jnp.concatenate((x1 * c - x2 * s, x2 * c + x1 * s), axis=-1).astype(x.dtype)


def grouped_query_attention(q, k, v):
    """q: [B, T, H, D]; k, v: [B, T, KV, D], query head j reading kv head
    j // (H/KV). ``jax.nn.dot_product_attention`` takes the grouping natively;
    float64 (the reference) repeats K/V for ``jax_models.causal_attention``."""
    if q.dtype == jnp.float64:
        n_rep = q.shape[2] // k.shape[2]
        return jax_models.causal_attention(q, jnp.repeat(k, n_rep, axis=2), jnp.repeat(v, n_rep, axis=2))
    return jax.nn.dot_product_attention(q, k, v, is_causal=True)


def llama_forward(params, rope, idx, cfg: LlamaConfig, compute, mm_precision):
    B, T = idx.shape
    cos, sin = rope["cos"][:T], rope["sin"][:T]

    def linear(x, name):
        return jax_models.linear(x, params[name], None, compute, mm_precision)

    x = params["tok_embeddings.weight"][idx]
    for i in range(cfg.n_layer):
        p = f"layers.{i}."
        h = rms_norm(x, params[p + "attention_norm.weight"], cfg.norm_eps)
        q = apply_rope(linear(h, p + "attention.wq.weight").reshape(B, T, cfg.n_head, cfg.head_dim), cos, sin)
        k = apply_rope(linear(h, p + "attention.wk.weight").reshape(B, T, cfg.n_kv_head, cfg.head_dim), cos, sin)
        v = linear(h, p + "attention.wv.weight").reshape(B, T, cfg.n_kv_head, cfg.head_dim)
        y = grouped_query_attention(q, k, v).reshape(B, T, -1)
        x = x + linear(y, p + "attention.wo.weight")
        h = rms_norm(x, params[p + "ffn_norm.weight"], cfg.norm_eps)
        gated = jax.nn.silu(linear(h, p + "feed_forward.w1.weight")) * linear(h, p + "feed_forward.w3.weight")
        x = x + linear(gated, p + "feed_forward.w2.weight")
    h = rms_norm(x, params["norm.weight"], cfg.norm_eps)
    return linear(h, "tok_embeddings.weight" if cfg.tie_embeddings else "output.weight")


def program(cfg: LlamaConfig, precision: str) -> JaxProgram:
    """One training step as a pure function of the state pytree (params,
    AdamW moments, RoPE tables, tokens)."""
    master = jnp.float64 if precision == "fp64" else jnp.float32
    compute = jnp.bfloat16 if precision == "bf16" else master
    mm_precision = jax_models.matmul_precision(precision)

    def init(arrays):
        params = {k: jnp.asarray(v, master) for k, v in arrays.items() if k not in ("idx", "targets")}
        cos, sin = rope_tables(cfg)
        return {
            "params": params,
            "opt": jax_models.adamw_init(params),
            "rope": {"cos": jnp.asarray(cos, master), "sin": jnp.asarray(sin, master)},
            "idx": jnp.asarray(arrays["idx"]),
            "targets": jnp.asarray(arrays["targets"]),
        }

    def loss_fn(params, rope, idx, targets):
        logits = llama_forward(params, rope, idx, cfg, compute, mm_precision)
        return jax_models.cross_entropy(logits.astype(master), targets)

    def step(state):
        loss, grads = jax.value_and_grad(loss_fn)(state["params"], state["rope"], state["idx"], state["targets"])
        params, opt = jax_models.adamw_update(state["params"], grads, state["opt"], cfg)
        return {**state, "params": params, "opt": opt}, {"loss": loss}

    def observe(state, outputs):
        return {"param/" + k: np.asarray(v, np.float32) for k, v in state["params"].items()}

    return JaxProgram(init=init, step=step, observe=observe)
