"""Causal scaled-dot-product attention, forward and backward.

out = softmax(Q·Kᵀ/√D + causal mask)·V over q, k, v [B, H, T, D] (batch,
heads, sequence, head dimension), then dq, dk, dv from a fixed upstream
gradient d_out [B, H, T, D].

* PyTorch: ``F.scaled_dot_product_attention(is_causal=True)``, which takes the
  fused flash / memory-efficient kernels on CUDA and the math path on the CPU.
* JAX: ``jax.nn.dot_product_attention(is_causal=True)`` through
  ``accelbench.kernels.jax_models.causal_attention``, with the implementation the JAX
  backend chose and passed as ``attention`` (its ``jax_attention`` setting:
  cuDNN's fused flash kernel for bf16 on GPUs by default, the counterpart of
  torch's flash SDPA; XLA elsewhere, which JAX 0.10 also picks by itself). ``causal_attention`` spells
  softmax out for float64, a dtype the library call does not take. JAX wants
  [B, T, H, D], so ``init`` transposes the inputs once, outside the timed
  step, and ``observe`` transposes the results back.

FLOPs, with S = B·H·T²·D: one matmul over the whole T×T score square of
every head (T·T·D multiply-accumulates per head) costs 2·S FLOPs.

* forward: Q·Kᵀ and P·V, 2 matmuls × 2·S = 4·S;
* backward: dV = Pᵀ·dO, dP = dO·Vᵀ, dQ = dS·K, dK = dSᵀ·Q: 4 × 2·S = 8·S;
* total ``attention-full-square``: 12·B·H·T²·D, the attention term of PaLM's
  12·L·d·T per token (d = H·D, B·T tokens) and what torch's FlopCounterMode
  reports for SDPA's math path (for the fused flash / efficient / cuDNN
  kernels it reports 14·B·H·T²·D: its backward formula adds the recomputed
  Q·Kᵀ);
* ``attention-causal-half`` (this kernel's ``flops_per_step``): 6·B·H·T²·D,
  only the unmasked half of the square, which is what a causal flash kernel
  computes; FlashAttention's benchmarks and MaxText count it this way, so
  TFLOP/s here are comparable with theirs and do not count skipped work.

Neither count includes softmax (about 5 FLOPs per score), the 1/√D scale, or
the recomputation of Q·Kᵀ that flash backward kernels do.

Bytes: q, k, v, d_out read once, out, dq, dk, dv written once: 8·B·H·T·D
elements (the flash kernels' per-row log-sum-exp, B·H·T floats, is left out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelbench.kernels.base import JaxProgram, Kernel, Preset, TorchProgram, jax_dtype, rng_normal, torch_dtype
from accelbench.kernels.micro import ELEMENT_BYTES, jax_vjp_program, torch_vjp_program

FULL_SQUARE = "attention-full-square"
"""12·B·H·T²·D for forward + backward: every matmul over the whole T×T
score square, masked half included (PaLM appendix B; FlopCounterMode on SDPA's
math path)."""
CAUSAL_HALF = "attention-causal-half"
"""6·B·H·T²·D for forward + backward: the causal (lower) half of the square
only, as FlashAttention's benchmark scripts and MaxText count causal attention."""


@dataclass(frozen=True)
class AttentionConfig:
    batch: int = 2
    heads: int = 2
    seq_len: int = 64
    head_dim: int = 16


class Attention(Kernel):
    name = "attention"
    description = "causal scaled-dot-product attention [B, H, T, D], forward + backward (dq, dk, dv)"
    config_cls = AttentionConfig
    flop_convention = CAUSAL_HALF
    uses_attention = True
    presets = {
        "tiny": Preset("tiny", {}, "[2, 2, 64, 16]: CPU CI size"),
        "gpt2": Preset("gpt2", {"batch": 8, "heads": 12, "seq_len": 1024, "head_dim": 64}, "GPT-2 small, batch 8"),
        "2k": Preset(
            "2k", {"batch": 8, "heads": 16, "seq_len": 2048, "head_dim": 64}, "[8, 16, 2048, 64]: the design anchor"
        ),
        "8k-d128": Preset(
            "8k-d128", {"batch": 1, "heads": 32, "seq_len": 8192, "head_dim": 128}, "Llama-3-8B heads, T = 8192"
        ),
    }

    def flops_by_convention(self, cfg: AttentionConfig) -> dict[str, float]:
        square = float(cfg.batch * cfg.heads * cfg.seq_len**2 * cfg.head_dim)
        return {CAUSAL_HALF: 6.0 * square, FULL_SQUARE: 12.0 * square}

    def flops_per_step(self, cfg: AttentionConfig) -> float:
        return self.flops_by_convention(cfg)[CAUSAL_HALF]

    def _elements(self, cfg: AttentionConfig) -> int:
        return cfg.batch * cfg.heads * cfg.seq_len * cfg.head_dim

    def bytes_per_step(self, cfg: AttentionConfig, precision: str = "fp32") -> float:
        return 8.0 * self._elements(cfg) * ELEMENT_BYTES[precision]

    def memory_estimate_bytes(self, cfg: AttentionConfig, precision: str) -> float:
        """The 8 tensors of ``bytes_per_step`` plus, for an unfused (math)
        path, the T×T probabilities and their gradient per head."""
        scores = 2.0 * cfg.batch * cfg.heads * cfg.seq_len**2 * ELEMENT_BYTES[precision]
        return self.bytes_per_step(cfg, precision) + scores

    def make_state(self, cfg: AttentionConfig, seed: int = 0) -> dict[str, np.ndarray]:
        shape = (cfg.batch, cfg.heads, cfg.seq_len, cfg.head_dim)
        return {name: rng_normal(seed + i, shape) for i, name in enumerate(("q", "k", "v", "d_out"))}

    # ------------------------------------------------------------------ torch
    def torch_program(self, cfg, state, device, precision, wrap=None) -> TorchProgram:
        import torch
        import torch.nn.functional as F

        dtype = torch_dtype(precision)
        put = lambda a: torch.from_numpy(a).to(device=device, dtype=dtype)  # noqa: E731

        def forward(q, k, v):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)

        inputs = {name: put(state[name]) for name in ("q", "k", "v")}
        return torch_vjp_program(forward, inputs, put(state["d_out"]), "out", wrap)

    # -------------------------------------------------------------------- jax
    def jax_program(self, cfg, precision, attention=None) -> JaxProgram:
        import jax.numpy as jnp

        from accelbench.kernels.jax_models import causal_attention

        dtype = jax_dtype(precision)

        def init(arrays):
            # [B, H, T, D] -> [B, T, H, D], the layout jax.nn.dot_product_attention takes.
            return {name: jnp.asarray(value, dtype).swapaxes(1, 2) for name, value in arrays.items()}

        def forward(v):
            return causal_attention(v["q"], v["k"], v["v"], attention)

        def to_reference_layout(name, array):
            return array.swapaxes(1, 2)

        return jax_vjp_program(init, forward, ["q", "k", "v"], "d_out", "out", precision, to_reference_layout)
