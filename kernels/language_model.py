"""What the whole-training-step kernels (``gpt2``, ``llama``) share: tokens,
the FLOP accounting of a transformer training step, and synthetic batches."""

from __future__ import annotations

import numpy as np

from accelbench.kernels.base import CAUSAL_HALVED, PALM, Kernel


class LanguageModel(Kernel):
    """A decoder-only transformer trained for one step on a synthetic batch.
    Subclasses give ``count_params`` and, where the attention's query width
    is not ``d_model``, ``attention_width``."""

    is_training_step = True
    flop_convention = PALM
    uses_attention = True

    def count_params(self, cfg, non_embedding: bool = True) -> int:
        raise NotImplementedError

    def attention_width(self, cfg) -> int:
        """The query width d in the 12·L·d·T attention term (n_head·head_dim)."""
        return cfg.d_model

    def tokens_per_step(self, cfg) -> int:
        return cfg.batch * cfg.seq_len

    def flops_by_convention(self, cfg) -> dict[str, float]:
        """Training FLOPs per step = tokens × (6·N + 12·L·d·T) (PaLM, Chowdhery
        et al. 2022, appendix B; nanoGPT's ``estimate_mfu``, torchtitan).

        * 6·N: each of the N weights (``count_params``: every matmul weight,
          the output head included whether tied or not, position-embedding
          lookups excluded, norm gains and biases included as nanoGPT and
          torchtitan count them) does one multiply-accumulate per token forward
          (2 FLOPs) and two backward, one for the input gradient and one for
          the weight gradient (4 FLOPs).
        * 12·L·d·T: per layer, the scores Q·Kᵀ and the weighted sum P·V are
          each a T×d by d×T product per sequence: 2·T·d FLOPs per token each
          forward, 4·T·d together, ×3 with backward. d is the *query* width
          (``attention_width``): grouped-query attention shares K and V between
          heads, but every query head still scores all T keys, so GQA shrinks
          the K/V projections (already in N), not this term.
        * ``CAUSAL_HALVED`` counts only the causal half of the T×T square,
          6·L·d·T (MaxText since 2025).
        """
        tokens = self.tokens_per_step(cfg)
        n = self.count_params(cfg)
        attn = cfg.n_layer * self.attention_width(cfg) * cfg.seq_len
        return {PALM: tokens * (6.0 * n + 12.0 * attn), CAUSAL_HALVED: tokens * (6.0 * n + 6.0 * attn)}

    def flops_per_step(self, cfg) -> float:
        return self.flops_by_convention(cfg)[PALM]

    def bytes_per_step(self, cfg, precision: str = "fp32") -> float:
        """Weights, gradients and the two AdamW moments each read once and
        the updated weights and moments written once: 4 bytes × N × 7."""
        return 4.0 * 7 * self.count_params(cfg, non_embedding=False)


def synthetic_batch(cfg, seed: int) -> dict[str, np.ndarray]:
    """Uniform random tokens: inputs ``idx`` [batch, seq_len] and next-token ``targets``."""
    tokens = np.random.default_rng(seed + 7).integers(0, cfg.vocab_size, (cfg.batch, cfg.seq_len + 1))
    return {"idx": tokens[:, :-1].astype(np.int32), "targets": tokens[:, 1:].astype(np.int32)}
