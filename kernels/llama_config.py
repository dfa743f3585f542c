"""The Llama config and its RoPE tables: what ``kernels.llama`` and both of its
lowerings (``llama_torch``, ``llama_jax``) share, in a module below all three
so the lowerings need not import the kernel that imports them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LlamaConfig:
    n_layer: int = 2
    n_head: int = 4
    n_kv_head: int = 2
    d_model: int = 64
    ffn_hidden: int = 192
    vocab_size: int = 256
    seq_len: int = 32
    batch: int = 2
    tie_embeddings: bool = False
    rope_theta: float = 10000.0
    rope_scaling: float = 8.0
    """Llama 3 RoPE frequency scaling factor (8 in Llama 3.1, 32 in Llama 3.2); 0 for none."""
    norm_eps: float = 1e-5
    lr: float = 3e-4
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    weight_decay: float = 0.1
    seed: int = 0
    remat: bool = False
    """Activation checkpointing per block (torch.utils.checkpoint / jax.checkpoint)."""

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def kv_dim(self) -> int:
        return self.n_kv_head * self.head_dim


def rope_frequencies(cfg: LlamaConfig) -> np.ndarray:
    """Rotation frequency of each of the head_dim/2 pairs: θ^(−2i/head_dim),
    then Llama 3's scaling (``apply_scaling`` in Meta's llama-models): pairs
    with wavelength under 8192/4 tokens keep their frequency, over 8192/1 are
    divided by ``rope_scaling``, and in between blend linearly in 8192/wavelength."""
    freqs = cfg.rope_theta ** (-np.arange(0, cfg.head_dim, 2, dtype=np.float64) / cfg.head_dim)
    if not cfg.rope_scaling:
        return freqs
    old_context, low_factor, high_factor = 8192.0, 1.0, 4.0
    wavelen = 2 * np.pi / freqs
    smooth = np.clip((old_context / wavelen - low_factor) / (high_factor - low_factor), 0.0, 1.0)
    return (1 - smooth) * freqs / cfg.rope_scaling + smooth * freqs


def rope_tables(cfg: LlamaConfig) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of position × frequency, each [seq_len, head_dim/2], float64."""
    angles = np.arange(cfg.seq_len, dtype=np.float64)[:, None] * rope_frequencies(cfg)[None, :]
    return np.cos(angles), np.sin(angles)
