"""What the whole-training-step kernels (``gpt2``, ``llama``) share: tokens,
the FLOP accounting of a transformer training step, and synthetic batches."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from accelbench.kernels.base import CAUSAL_HALVED, PALM, Kernel
from accelbench.kernels.precision import DTYPE_BYTES, policy


@dataclass(frozen=True)
class MemoryParts:
    """A training step's rough peak memory on one device, by what holds it,
    so that a sharded run can divide the parts that shard."""

    state_bytes: float
    """Weights, gradients and the two AdamW moments (fp32: 16 B per parameter),
    plus autocast's cached bf16 weight copies (2 B more) under bf16."""
    activation_bytes: float
    """What autograd keeps for the backward at this config's batch (with
    remat: each block's input, plus one block's activations while it is recomputed)."""
    parameters: int
    block_parameters: int
    """Parameters of one transformer block: FSDP gathers a block at a time."""
    root_parameters: int
    """Parameters outside the blocks (embeddings, head, final norm)."""

    @property
    def total_bytes(self) -> float:
        return self.state_bytes + self.activation_bytes


class LanguageModel(Kernel):
    """A decoder-only transformer trained for one step on a synthetic batch.
    Subclasses give ``count_params``, ``param_shapes`` with ``block_prefix``
    and, where the attention's query width is not ``d_model``, ``attention_width``."""

    is_training_step = True
    flop_convention = PALM
    uses_attention = True
    block_prefix: ClassVar[str]
    """How the names of block 0's parameters in ``param_shapes`` begin ("h.0.", "layers.0.")."""

    def count_params(self, cfg, non_embedding: bool = True) -> int:
        raise NotImplementedError

    # ---- memory (the fit check; sharded runs divide the parts, harness.sharding)
    def param_shapes(self, cfg) -> dict[str, tuple[int, ...]]:
        """Every parameter's name and shape, as ``make_state`` and the torch ``state_dict`` have them."""
        raise NotImplementedError

    def block_parameter_count(self, cfg) -> int:
        """Block 0's parameters (every block has the same), counted from ``param_shapes``."""
        return sum(math.prod(shape) for name, shape in self.param_shapes(cfg).items()
                   if name.startswith(self.block_prefix))

    def activation_bytes_per_token_layer(self, cfg, precision: str) -> float:
        """Bytes one block keeps for the backward per token, without remat."""
        raise NotImplementedError

    def memory_parts(self, cfg, precision: str) -> MemoryParts:
        """State: 16 B per parameter (fp32 weights, gradients, two AdamW
        moments), 18 under bf16 autocast (its cached bf16 weight copies).
        Activations per token: L × the block's own (or, with remat, L × its
        fp32 input plus one block's own while it is recomputed), plus the
        logits in fp32, their gradient and a bf16 copy (≈ 12 B × vocab)."""
        n = self.count_params(cfg, non_embedding=False)
        dtypes = policy(precision)
        block = self.block_parameter_count(cfg)
        per_layer = self.activation_bytes_per_token_layer(cfg, precision)
        if getattr(cfg, "remat", False):
            residual = DTYPE_BYTES[dtypes.master] * cfg.d_model  # the block's input, fp32 (fp64)
            kept = cfg.n_layer * residual + per_layer
        else:
            kept = cfg.n_layer * per_layer
        activations = self.tokens_per_step(cfg) * (kept + 12 * cfg.vocab_size)
        return MemoryParts(state_bytes=(18.0 if dtypes.autocast else 16.0) * n, activation_bytes=float(activations),
                           parameters=n, block_parameters=block, root_parameters=n - cfg.n_layer * block)

    def memory_estimate_bytes(self, cfg, precision: str) -> float:
        return self.memory_parts(cfg, precision).total_bytes

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
