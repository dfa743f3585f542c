"""The JAX lowering of ``kernels.llama`` (imported only by that lowering).

Mirrors ``kernels/llama_torch.py`` op for op; the parameters are a flat dict
keyed as the torch ``state_dict``. The training step (loss, AdamW, remat,
the attention implementation) is ``jax_models.language_model_program``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from accelbench.kernels import jax_models
from accelbench.kernels.base import JaxProgram
from accelbench.kernels.llama_config import LlamaConfig, rope_tables


def rms_norm(x, w, eps):
    """x / √(mean(x²) + eps) · gain in fp32 at least, returned in fp32."""
    xf = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    return xf * jax.lax.rsqrt((xf * xf).mean(-1, keepdims=True) + eps) * w


def apply_rope(x, cos, sin):
    """x: [B, T, H, head_dim]; cos, sin: [T, head_dim/2]. As torch's ``apply_rope``."""
    x1, x2 = jnp.split(x.astype(cos.dtype), 2, axis=-1)
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return jnp.concatenate((x1 * c - x2 * s, x2 * c + x1 * s), axis=-1).astype(x.dtype)


def llama_forward(params, consts, idx, cfg: LlamaConfig, lowering: jax_models.Lowering):
    """Logits of ``idx``; ``consts`` holds the RoPE tables. Grouped-query
    attention goes to ``jax.nn.dot_product_attention`` as is (it takes fewer
    K/V heads natively, query head j reading K/V head j // (H/KV))."""
    B, T = idx.shape
    cos, sin = consts["rope_cos"][:T], consts["rope_sin"][:T]

    def block(x, p):
        h = rms_norm(x, p["attention_norm.weight"], cfg.norm_eps)
        q = apply_rope(lowering.linear(h, p["attention.wq.weight"]).reshape(B, T, cfg.n_head, cfg.head_dim), cos, sin)
        k = apply_rope(lowering.linear(h, p["attention.wk.weight"]).reshape(B, T, cfg.n_kv_head, cfg.head_dim), cos, sin)
        v = lowering.linear(h, p["attention.wv.weight"]).reshape(B, T, cfg.n_kv_head, cfg.head_dim)
        x = x + lowering.linear(lowering.attend(q, k, v).reshape(B, T, -1), p["attention.wo.weight"])
        h = rms_norm(x, p["ffn_norm.weight"], cfg.norm_eps)
        gated = jax.nn.silu(lowering.linear(h, p["feed_forward.w1.weight"])) * lowering.linear(h, p["feed_forward.w3.weight"])
        return x + lowering.linear(gated, p["feed_forward.w2.weight"])

    x = params["tok_embeddings.weight"][idx]
    for i in range(cfg.n_layer):
        x = lowering.block(block, x, jax_models.block_params(params, f"layers.{i}."))
    h = rms_norm(x, params["norm.weight"], cfg.norm_eps)
    return lowering.linear(h, params["tok_embeddings.weight" if cfg.tie_embeddings else "output.weight"])


def program(cfg: LlamaConfig, precision: str, attention: str | None = None) -> JaxProgram:
    """One training step (``jax_models.language_model_program``); the RoPE
    tables are constants of the state, in the master dtype."""

    def constants(master):
        cos, sin = rope_tables(cfg)
        return {"rope_cos": jnp.asarray(cos, master), "rope_sin": jnp.asarray(sin, master)}

    def forward(params, consts, idx, lowering):
        return llama_forward(params, consts, idx, cfg, lowering)

    return jax_models.language_model_program(forward, cfg, precision, attention, constants)
