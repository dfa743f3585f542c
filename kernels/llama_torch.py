"""The PyTorch lowering of ``kernels.llama`` (imported only by that lowering).

Mirrors ``kernels/llama_jax.py`` op for op; parameter names are those of
``llama.param_shapes``, so ``load_state_dict`` takes ``make_state``'s arrays.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from accelbench.kernels import torch_models
from accelbench.kernels.base import TorchProgram
from accelbench.kernels.llama_config import LlamaConfig, rope_tables


class RMSNorm(nn.Module):
    """x / √(mean(x²) + eps) · gain, computed in fp32 at least (as autocast
    would for a norm) and returned in fp32; the next matmul casts."""

    def __init__(self, d_model: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        xf = x.to(torch.promote_types(x.dtype, torch.float32))
        return xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def apply_rope(x, cos, sin):
    """x: [B, T, H, head_dim]; cos, sin: [T, head_dim/2]. Rotates the two
    halves of each head in the tables' dtype, returns x's dtype."""
    x1, x2 = x.to(cos.dtype).chunk(2, dim=-1)
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.cat((x1 * c - x2 * s, x2 * c + x1 * s), dim=-1).to(x.dtype)


def repeat_kv(x, n_rep: int):
    """[B, T, KV, D] -> [B, T, KV·n_rep, D]; query head j reads kv head j // n_rep."""
    if n_rep == 1:
        return x
    B, T, KV, D = x.shape
    return x[:, :, :, None, :].expand(B, T, KV, n_rep, D).reshape(B, T, KV * n_rep, D)


class GroupedQueryAttention(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.n_head, self.n_kv_head, self.head_dim = cfg.n_head, cfg.n_kv_head, cfg.head_dim
        self.wq = nn.Linear(cfg.d_model, cfg.n_head * cfg.head_dim, bias=False)
        self.wk = nn.Linear(cfg.d_model, cfg.kv_dim, bias=False)
        self.wv = nn.Linear(cfg.d_model, cfg.kv_dim, bias=False)
        self.wo = nn.Linear(cfg.n_head * cfg.head_dim, cfg.d_model, bias=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q = apply_rope(self.wq(x).view(B, T, self.n_head, self.head_dim), cos, sin)
        k = apply_rope(self.wk(x).view(B, T, self.n_kv_head, self.head_dim), cos, sin)
        v = self.wv(x).view(B, T, self.n_kv_head, self.head_dim)
        # K/V repeated to every query head (as torchtitan does), so any SDPA
        # implementation and torch-xla take it; the math is GQA's.
        n_rep = self.n_head // self.n_kv_head
        q, k, v = (t.transpose(1, 2) for t in (q, repeat_kv(k, n_rep), repeat_kv(v, n_rep)))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.wo(y.transpose(1, 2).reshape(B, T, -1))


class SwiGLU(nn.Module):
    def __init__(self, d_model: int, hidden: int):
        super().__init__()
        self.w1 = nn.Linear(d_model, hidden, bias=False)
        self.w2 = nn.Linear(hidden, d_model, bias=False)
        self.w3 = nn.Linear(d_model, hidden, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class LlamaBlock(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.attention_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attention = GroupedQueryAttention(cfg)
        self.ffn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.feed_forward = SwiGLU(cfg.d_model, cfg.ffn_hidden)

    def forward(self, x, cos, sin):
        x = x + self.attention(self.attention_norm(x), cos, sin)
        return x + self.feed_forward(self.ffn_norm(x))


class LlamaModel(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(LlamaBlock(cfg) for _ in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.output = None if cfg.tie_embeddings else nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        cos, sin = rope_tables(cfg)
        # float64 until .to(device, dtype) casts them with the weights; kept out of state_dict.
        self.register_buffer("rope_cos", torch.from_numpy(cos), persistent=False)
        self.register_buffer("rope_sin", torch.from_numpy(sin), persistent=False)
        self.remat = cfg.remat

    @property
    def blocks(self) -> nn.ModuleList:
        """The transformer blocks: the unit of FSDP sharding and of remat."""
        return self.layers

    def forward(self, idx):
        T = idx.shape[1]
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        x = self.tok_embeddings(idx)
        for layer in self.layers:
            x = torch_models.run_block(layer, self.remat, x, cos, sin)
        h = self.norm(x)
        return self.output(h) if self.output is not None else F.linear(h, self.tok_embeddings.weight)


def program(cfg: LlamaConfig, state: dict[str, np.ndarray], device, precision: str, wrap=None) -> TorchProgram:
    """One Llama training step on ``device`` (see ``torch_models.language_model_program``)."""
    return torch_models.language_model_program(LlamaModel(cfg), cfg, state, device, precision, wrap)
