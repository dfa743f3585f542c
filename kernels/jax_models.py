"""JAX building blocks shared by the model kernels (imported only by a JAX
lowering). They mirror ``torch_models`` op for op; parameter names match the
flat dicts of ``make_state`` and the torch ``state_dict``.

``language_model_program`` is the one training-step builder of gpt2 and
llama (torch's counterpart: ``torch_models.language_model_program``): the
state pytree, fp32 master weights, the loss, ``value_and_grad``, AdamW, and
the two lowering options a backend or setting asks for: the attention
implementation and activation checkpointing (remat) per block.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from accelbench.kernels.base import ATTENTION_IMPLEMENTATIONS, jax_matmul_precision
from accelbench.kernels.precision import jax_dtype

CUDNN_ATTENTION_CALL = "__cudnn$fmha"
"""Prefix of the custom-call targets of cuDNN's fused attention in compiled HLO
(``jax/_src/cudnn/fused_attention_stablehlo.py``: ``__cudnn$fmhaSoftmax`` ...):
its presence says cuDNN attention actually ran."""


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


def attention_that_ran(compiled_hlo: str) -> str:
    """Which attention implementation a compiled step holds: "cudnn" when
    cuDNN's fused attention custom call is in its HLO, else "xla"."""
    return "cudnn" if CUDNN_ATTENTION_CALL in (compiled_hlo or "") else "xla"


def causal_attention(q, k, v, implementation: str | None = None):
    """q, k, v: [B, T, H, D] (k, v may have fewer heads: grouped-query).
    ``jax.nn.dot_product_attention`` with the given ``implementation``
    (None: JAX's default, XLA), except in float64, which it does not take:
    softmax spelled out, K/V heads repeated to the query heads."""
    if q.dtype == jnp.float64:
        n_rep = q.shape[2] // k.shape[2]
        k, v = jnp.repeat(k, n_rep, axis=2), jnp.repeat(v, n_rep, axis=2)
        d = q.shape[-1]
        s = jnp.einsum("bqhd,bkhd->bhqk", q, k, precision=jax.lax.Precision.HIGHEST) / jnp.sqrt(d).astype(q.dtype)
        t = q.shape[1]
        s = jnp.where(jnp.tril(jnp.ones((t, t), bool)), s, -jnp.inf)
        return jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(s, axis=-1), v, precision=jax.lax.Precision.HIGHEST)
    return jax.nn.dot_product_attention(q, k, v, is_causal=True, implementation=implementation)


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


# ------------------------------------------------------- the training step
class Lowering:
    """What a model's forward needs besides parameters and tokens: the dtypes
    of the precision policy, the attention implementation, and ``block``,
    which applies one transformer block (under ``jax.checkpoint`` with remat,
    so its activations are recomputed in the backward instead of kept)."""

    def __init__(self, precision: str, attention: str | None, remat: bool):
        if attention is not None and attention not in ATTENTION_IMPLEMENTATIONS:
            raise ValueError(f"attention implementation '{attention}'; accepted: {', '.join(ATTENTION_IMPLEMENTATIONS)}")
        self.master = jax_dtype(precision, "master")
        self.compute = jax_dtype(precision, "compute")
        self.mm_precision = jax_matmul_precision(precision)
        self.attention = attention
        self.remat = remat

    def linear(self, x, w, b=None):
        return linear(x, w, b, self.compute, self.mm_precision)

    def attend(self, q, k, v):
        return causal_attention(q, k, v, self.attention)

    def block(self, fn: Callable, *args):
        """``fn(*args)``; with remat, ``jax.checkpoint(fn)(*args)`` (the JAX
        docs' "gradient checkpointing": nothing inside is saved for backward)."""
        return jax.checkpoint(fn)(*args) if self.remat else fn(*args)


def language_model_program(forward: Callable, cfg, precision: str, attention: str | None = None,
                           constants: Callable[[Any], dict] | None = None):
    """A language model's training step as a ``JaxProgram``.

    ``forward(params, consts, idx, lowering) -> logits``; ``constants(master
    dtype)`` gives arrays the forward reads but does not train (llama's RoPE
    tables). The step: loss = mean cross-entropy in fp32 (fp64 for the
    reference), ``value_and_grad``, AdamW on fp32 master weights. The state
    pytree is ``{"params", "opt": {"m", "v", "t"}, "consts", "idx", "targets"}``.
    ``cfg.remat`` checkpoints each block (``Lowering.block``)."""
    from accelbench.kernels.base import JaxProgram

    lowering = Lowering(precision, attention, bool(getattr(cfg, "remat", False)))
    master = lowering.master

    def init(arrays):
        params = {k: jnp.asarray(v, master) for k, v in arrays.items() if k not in ("idx", "targets")}
        return {
            "params": params,
            "opt": adamw_init(params),
            "consts": constants(master) if constants else {},
            "idx": jnp.asarray(arrays["idx"]),
            "targets": jnp.asarray(arrays["targets"]),
        }

    def loss_fn(params, consts, idx, targets):
        logits = forward(params, consts, idx, lowering)
        return cross_entropy(logits.astype(master), targets)

    def step(state):
        loss, grads = jax.value_and_grad(loss_fn)(state["params"], state["consts"], state["idx"], state["targets"])
        params, opt = adamw_update(state["params"], grads, state["opt"], cfg)
        return {**state, "params": params, "opt": opt}, {"loss": loss}

    def observe(state, outputs):
        return {"param/" + k: np.asarray(v, np.float32) for k, v in state["params"].items()}

    return JaxProgram(init=init, step=step, observe=observe)


def gpt2_forward(params, consts, idx, cfg, lowering: Lowering):
    B, T = idx.shape
    H = cfg.n_head
    x = params["wte.weight"][idx] + params["wpe.weight"][:T]

    def block(x, p):
        h = layer_norm(x, p["ln_1.weight"], p["ln_1.bias"])
        qkv = lowering.linear(h, p["attn.c_attn.weight"], p["attn.c_attn.bias"])
        q, k, v = (t.reshape(B, T, H, -1) for t in jnp.split(qkv, 3, axis=-1))
        y = lowering.attend(q, k, v).reshape(B, T, -1)
        x = x + lowering.linear(y, p["attn.c_proj.weight"], p["attn.c_proj.bias"])
        h = layer_norm(x, p["ln_2.weight"], p["ln_2.bias"])
        h = jax.nn.gelu(lowering.linear(h, p["mlp.c_fc.weight"], p["mlp.c_fc.bias"]), approximate=True)
        return x + lowering.linear(h, p["mlp.c_proj.weight"], p["mlp.c_proj.bias"])

    for i in range(cfg.n_layer):
        x = lowering.block(block, x, block_params(params, f"h.{i}."))
    h = layer_norm(x, params["ln_f.weight"], params["ln_f.bias"])
    return lowering.linear(h, params["wte.weight"])


def block_params(params: dict, prefix: str) -> dict:
    """The parameters of one block, keyed without its prefix."""
    return {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}
