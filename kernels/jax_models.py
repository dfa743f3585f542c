"""JAX building blocks shared by the model kernels (imported only by a JAX
lowering). They mirror ``torch_models`` op for op; parameter names match the
flat dicts of ``make_state`` and the torch ``state_dict``."""

from __future__ import annotations

import jax
import jax.numpy as jnp

ATTENTION_IMPLEMENTATION: str | None = None
"""``implementation`` passed to ``jax.nn.dot_product_attention``: None lets
JAX choose (XLA's fused attention); "cudnn" asks for cuDNN's fused flash
attention (GPUs, fp16/bf16 inputs only). A backend sets it before tracing
(``backends.jax_backend.JaxGpuBackend``)."""


def matmul_precision(precision: str):
    return jax.lax.Precision.HIGHEST if precision in ("fp32", "fp64") else jax.lax.Precision.DEFAULT


def linear(x, w, b, compute, mm_precision):
    """torch.nn.Linear: y = x·wᵀ + b, in the compute dtype (as autocast does)."""
    y = jnp.matmul(x.astype(compute), w.astype(compute).T, precision=mm_precision)
    return y + b.astype(compute) if b is not None else y


def layer_norm(x, w, b, eps=1e-5):
    """LayerNorm in fp32 at least (autocast runs it in fp32), returned in fp32."""
    xf = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    mean = xf.mean(-1, keepdims=True)
    var = ((xf - mean) ** 2).mean(-1, keepdims=True)
    return (xf - mean) * jax.lax.rsqrt(var + eps) * w + b


def causal_attention(q, k, v):
    """q, k, v: [B, T, H, D]. The fused library path (cuDNN on GPUs where it
    applies, XLA elsewhere) except in float64, which it does not take."""
    if q.dtype == jnp.float64:
        d = q.shape[-1]
        s = jnp.einsum("bqhd,bkhd->bhqk", q, k, precision=jax.lax.Precision.HIGHEST) / jnp.sqrt(d).astype(q.dtype)
        t = q.shape[1]
        s = jnp.where(jnp.tril(jnp.ones((t, t), bool)), s, -jnp.inf)
        return jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(s, axis=-1), v, precision=jax.lax.Precision.HIGHEST)
    return jax.nn.dot_product_attention(q, k, v, is_causal=True, implementation=ATTENTION_IMPLEMENTATION)


def gpt2_forward(params, idx, cfg, compute, mm_precision):
    B, T = idx.shape
    H = cfg.n_head
    x = params["wte.weight"][idx] + params["wpe.weight"][:T]
    for i in range(cfg.n_layer):
        p = lambda n: params[f"h.{i}.{n}"]  # noqa: E731
        h = layer_norm(x, p("ln_1.weight"), p("ln_1.bias"))
        qkv = linear(h, p("attn.c_attn.weight"), p("attn.c_attn.bias"), compute, mm_precision)
        q, k, v = (t.reshape(B, T, H, -1) for t in jnp.split(qkv, 3, axis=-1))
        y = causal_attention(q, k, v).reshape(B, T, -1)
        x = x + linear(y, p("attn.c_proj.weight"), p("attn.c_proj.bias"), compute, mm_precision)
        h = layer_norm(x, p("ln_2.weight"), p("ln_2.bias"))
        h = jax.nn.gelu(linear(h, p("mlp.c_fc.weight"), p("mlp.c_fc.bias"), compute, mm_precision), approximate=True)
        x = x + linear(h, p("mlp.c_proj.weight"), p("mlp.c_proj.bias"), compute, mm_precision)
    h = layer_norm(x, params["ln_f.weight"], params["ln_f.bias"])
    return linear(h, params["wte.weight"], None, compute, mm_precision)


def cross_entropy(logits, targets):
    """Mean token cross-entropy, as torch.nn.functional.cross_entropy."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.take_along_axis(logp, targets[..., None].astype(jnp.int32), axis=-1).mean()


def adamw_init(params):
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    return {"m": zeros, "v": jax.tree_util.tree_map(jnp.zeros_like, params), "t": jnp.zeros((), jnp.int32)}


def adamw_update(params, grads, opt, cfg):
    """torch.optim.AdamW, step for step: decoupled weight decay on matrices
    only, bias-corrected moments, eps added after the square root."""
    t = opt["t"] + 1

    def one(p, g, m, v):
        tf = t.astype(p.dtype)
        bc1, bc2 = 1 - cfg.beta1**tf, 1 - cfg.beta2**tf
        wd = cfg.weight_decay if p.ndim >= 2 else 0.0
        p = p * (1 - cfg.lr * wd)
        m = cfg.beta1 * m + (1 - cfg.beta1) * g
        v = cfg.beta2 * v + (1 - cfg.beta2) * g * g
        denom = jnp.sqrt(v) / jnp.sqrt(bc2) + cfg.eps
        return p - (cfg.lr / bc1) * m / denom, m, v

    out = {k: one(params[k], grads[k], opt["m"][k], opt["v"][k]) for k in params}
    new_params = {k: o[0] for k, o in out.items()}
    return new_params, {"m": {k: o[1] for k, o in out.items()}, "v": {k: o[2] for k, o in out.items()}, "t": t}
