"""Llama training step: forward, cross-entropy, backward, AdamW update.

The model follows Llama 3 (Grattafiori et al. 2024, "The Llama 3 Herd of
Models") as Meta's reference code and torchtitan write it: pre-RMSNorm blocks,
no biases anywhere, rotary position embeddings (RoPE) on queries and keys,
grouped-query attention (``n_kv_head`` key/value heads shared by
``n_head // n_kv_head`` query heads each), a SwiGLU MLP
``w2(silu(w1·x) ⊙ w3·x)`` of width ``ffn_hidden``, a final RMSNorm and an
output head. The head is untied except where the real model ties it
(Llama 3.2 1B and 3B: ``tie_word_embeddings`` true in their configs).

RoPE rotates the two halves of each head (``x1·cos − x2·sin, x2·cos + x1·sin``,
the Hugging Face layout); Meta's code rotates interleaved pairs, which is the
same map up to a fixed permutation of the rows of ``wq`` and ``wk``. The
frequency table, with Llama 3's long-context scaling, is computed once here in
numpy (``llama_config.rope_tables``) so both lowerings use the same numbers.

Parameter names are torchtitan's (``tok_embeddings``, ``layers.{i}.attention.wq``,
``feed_forward.w1``…, ``norm``, ``output``). The config and the RoPE tables
live in ``kernels/llama_config.py`` (below both lowerings), the torch module in
``kernels/llama_torch.py`` and the JAX functions in ``kernels/llama_jax.py``.

Mixed precision (``bf16``) is gpt2's: fp32 master weights, gradients and AdamW
moments; matmuls and attention in bf16; RMSNorm, RoPE and the loss in fp32.
"""

from __future__ import annotations

import math
import numpy as np

from accelbench.kernels.adamw import check_adamw_hyperparameters
from accelbench.kernels.base import JaxProgram, KernelError, Preset, TorchProgram, rng_normal
from accelbench.kernels.language_model import LanguageModel, synthetic_batch
from accelbench.kernels.llama_config import LlamaConfig
from accelbench.kernels.precision import DTYPE_BYTES, policy

LLAMA3_VOCAB = 128256
"""Llama 3 tokenizer vocabulary (config.json ``vocab_size`` of Llama 3.1/3.2, checked 2026-11-26)."""


def _llama3_preset(name, n_layer, n_head, d_model, ffn_hidden, seq_len, batch, tie, scaling, desc, timeout_s=None):
    """Shapes from the models' config.json files on Hugging Face (meta-llama/Llama-3.2-1B, -3B,
    Llama-3.1-8B, -70B; checked 2026-11-26): 8 key/value heads, head_dim 128 except 1B's 64,
    rope_theta 500000, rms_norm_eps 1e-5."""
    return Preset(
        name,
        {"n_layer": n_layer, "n_head": n_head, "n_kv_head": 8, "d_model": d_model, "ffn_hidden": ffn_hidden,
         "vocab_size": LLAMA3_VOCAB, "seq_len": seq_len, "batch": batch, "tie_embeddings": tie,
         "rope_theta": 500000.0, "rope_scaling": scaling},
        desc,
        timeout_s,
    )


def param_shapes(cfg: LlamaConfig) -> dict[str, tuple[int, ...]]:
    d, f, q, kv = cfg.d_model, cfg.ffn_hidden, cfg.n_head * cfg.head_dim, cfg.kv_dim
    shapes: dict[str, tuple[int, ...]] = {"tok_embeddings.weight": (cfg.vocab_size, d)}
    for i in range(cfg.n_layer):
        p = f"layers.{i}."
        shapes.update({
            p + "attention_norm.weight": (d,),
            p + "attention.wq.weight": (q, d), p + "attention.wk.weight": (kv, d),
            p + "attention.wv.weight": (kv, d), p + "attention.wo.weight": (d, q),
            p + "ffn_norm.weight": (d,),
            p + "feed_forward.w1.weight": (f, d), p + "feed_forward.w3.weight": (f, d),
            p + "feed_forward.w2.weight": (d, f),
        })
    shapes["norm.weight"] = (d,)
    if not cfg.tie_embeddings:
        shapes["output.weight"] = (cfg.vocab_size, d)
    return shapes


def count_params(cfg: LlamaConfig, non_embedding: bool = True) -> int:
    """Parameters. With ``non_embedding`` the input embedding is left out when
    it is only a lookup (untied head); a tied embedding is counted once, as the
    output head, which is a real matmul. The output head is always in."""
    n = sum(math.prod(s) for s in param_shapes(cfg).values())
    lookup_only = non_embedding and not cfg.tie_embeddings
    return n - cfg.vocab_size * cfg.d_model if lookup_only else n


class Llama(LanguageModel):
    name = "llama"
    description = "Llama 3 training step (RMSNorm, RoPE, grouped-query attention, SwiGLU, AdamW)"
    config_cls = LlamaConfig
    block_prefix = "layers.0."
    presets = {
        "tiny": Preset("tiny", {}, "2 layers, d=64, 4 heads / 2 kv heads, vocab 256, T=32, batch 2: CPU CI size"),
        "1b": _llama3_preset("1b", 16, 32, 2048, 8192, 2048, 4, True, 32.0, "Llama 3.2 1B (tied head)"),
        "3b": _llama3_preset("3b", 28, 24, 3072, 8192, 2048, 1, True, 32.0, "Llama 3.2 3B (tied head)"),
        "8b": _llama3_preset("8b", 32, 32, 4096, 14336, 8192, 1, False, 8.0,
                             "Llama 3.1 8B: ~145 GB of fp32 weights and AdamW state, more than one chip"),
        "8b-1layer": _llama3_preset("8b-1layer", 1, 32, 4096, 14336, 8192, 1, False, 8.0,
                                    "one layer of Llama 3.1 8B with its full embedding and head"),
        "70b-1layer": _llama3_preset("70b-1layer", 1, 64, 8192, 28672, 4096, 1, False, 8.0,
                                     "one layer of Llama 3.1 70B with its full embedding and head, T=4096"),
    }

    def validate(self, cfg: LlamaConfig) -> None:
        super().validate(cfg)
        if cfg.d_model % cfg.n_head or cfg.head_dim % 2:
            accepted = [h for h in range(1, cfg.d_model + 1) if cfg.d_model % h == 0 and (cfg.d_model // h) % 2 == 0]
            raise KernelError(
                f"kernel 'llama': d_model ({cfg.d_model}) must be n_head ({cfg.n_head}) × an even head_dim; "
                f"accepted n_head: {', '.join(map(str, accepted))}"
            )
        if cfg.n_head % cfg.n_kv_head:
            accepted = [k for k in range(1, cfg.n_head + 1) if cfg.n_head % k == 0]
            raise KernelError(
                f"kernel 'llama': n_head ({cfg.n_head}) must be a multiple of n_kv_head ({cfg.n_kv_head}); "
                f"accepted n_kv_head: {', '.join(map(str, accepted))}"
            )
        check_adamw_hyperparameters(self.name, cfg)

    def count_params(self, cfg: LlamaConfig, non_embedding: bool = True) -> int:
        return count_params(cfg, non_embedding)

    def attention_width(self, cfg: LlamaConfig) -> int:
        return cfg.n_head * cfg.head_dim

    def param_shapes(self, cfg: LlamaConfig) -> dict[str, tuple[int, ...]]:
        return param_shapes(cfg)

    def activation_bytes_per_token_layer(self, cfg: LlamaConfig, precision: str) -> float:
        """Counted tensor by tensor in the manner of Korthikanti et al. 2022
        §4.1: the two RMSNorm inputs in fp32 (8·d bytes) and, in the
        activation dtype, the two normed inputs (2·d), rotated q, k and v
        (d + 2·kv), the attention output (d), the attention probabilities of a
        non-fused kernel (H·T), w1 and w3 outputs, silu(w1) and the product (4·f)."""
        act = DTYPE_BYTES[policy(precision).compute]
        d, kv, f = cfg.d_model, cfg.kv_dim, cfg.ffn_hidden
        return 8 * d + act * (4 * d + 2 * kv + 4 * f + cfg.n_head * cfg.seq_len)

    def make_state(self, cfg: LlamaConfig, seed: int = 0) -> dict[str, np.ndarray]:
        """N(0, 0.02²) matrices, the residual-stream outputs (wo, w2) scaled by
        1/√(2·L) as GPT-2 does, RMSNorm gains of one; random tokens."""
        state = {}
        proj_std = 0.02 / math.sqrt(2 * cfg.n_layer)
        for i, (name, shape) in enumerate(param_shapes(cfg).items()):
            if name.endswith("norm.weight"):
                state[name] = np.ones(shape, np.float32)
            else:
                std = proj_std if name.endswith(("wo.weight", "w2.weight")) else 0.02
                state[name] = rng_normal(seed * 1000 + i, shape, std)
        return state | synthetic_batch(cfg, seed)

    def torch_program(self, cfg, state, device, precision, wrap=None) -> TorchProgram:
        from accelbench.kernels import llama_torch

        return llama_torch.program(cfg, state, device, precision, wrap)

    def jax_program(self, cfg, precision, attention=None) -> JaxProgram:
        from accelbench.kernels import llama_jax

        return llama_jax.program(cfg, precision, attention)
