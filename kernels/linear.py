"""Linear layer, forward and backward: y = x·Wᵀ + b, then dx, dW, db from a
fixed upstream gradient dy.

Shapes: x [M, K] (M tokens, K input features), W [N, K], b [N], dy [M, N].
The backward is three quantities: dx = dy·W [M, K], dW = dyᵀ·x [N, K],
db = Σ_tokens dy [N].

FLOPs (``matmul-exact``): 6·M·N·K = three matmuls of 2·M·N·K each (the
forward x·Wᵀ, and dy·W and dyᵀ·x in the backward), 2 FLOPs per
multiply-accumulate. The bias add and the bias-gradient sum (M·N each, under
1/K of the total) are not counted, as torch's FlopCounterMode does not count
them either.

Bytes: x, W, b, dy read once and y, dx, dW, db written once:
2·(M·K + N·K + M·N + N) elements of the precision's size.

Precision: ``fp32`` full fp32 matmuls; ``tf32`` lets matmuls use TF32 tensor
cores (the record's precision says so); ``bf16`` takes bf16 inputs and writes
bf16 outputs and gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelbench.kernels.base import EXACT_MATMUL, JaxProgram, Kernel, Preset, TorchProgram, rng_normal
from accelbench.kernels.micro import jax_vjp_program, torch_state_vjp_program
from accelbench.kernels.precision import element_bytes


@dataclass(frozen=True)
class LinearConfig:
    tokens: int = 64
    in_features: int = 64
    out_features: int = 96
    bias: bool = True


class Linear(Kernel):
    name = "linear"
    description = "linear layer y = x·Wᵀ + b, forward + backward (dx, dW, db)"
    config_cls = LinearConfig
    flop_convention = EXACT_MATMUL
    presets = {
        "tiny": Preset("tiny", {}, "64 tokens, 64 -> 96: CPU CI size"),
        "gpt2-fc": Preset(
            "gpt2-fc",
            {"tokens": 8192, "in_features": 768, "out_features": 3072},
            "GPT-2 small MLP c_fc, 8 × 1024 tokens",
        ),
        "4k": Preset(
            "4k", {"tokens": 8192, "in_features": 4096, "out_features": 4096}, "4096 -> 4096 over 8192 tokens"
        ),
        "8k": Preset(
            "8k", {"tokens": 16384, "in_features": 8192, "out_features": 8192}, "8192 -> 8192 over 16384 tokens"
        ),
    }

    def flops_per_step(self, cfg: LinearConfig) -> float:
        return 6.0 * cfg.tokens * cfg.in_features * cfg.out_features

    def bytes_per_step(self, cfg: LinearConfig, precision: str = "fp32") -> float:
        m, k, n = cfg.tokens, cfg.in_features, cfg.out_features
        elements = m * k + n * k + m * n + (n if cfg.bias else 0)
        return 2.0 * elements * element_bytes(precision)

    def memory_estimate_bytes(self, cfg: LinearConfig, precision: str) -> float:
        return self.bytes_per_step(cfg, precision)

    def make_state(self, cfg: LinearConfig, seed: int = 0) -> dict[str, np.ndarray]:
        m, k, n = cfg.tokens, cfg.in_features, cfg.out_features
        state = {
            "x": rng_normal(seed, (m, k)),
            "w": rng_normal(seed + 1, (n, k), 1.0 / np.sqrt(k)),
            "dy": rng_normal(seed + 3, (m, n)),
        }
        if cfg.bias:
            state["b"] = rng_normal(seed + 2, (n,), 0.1)
        return state

    def _differentiated(self, cfg: LinearConfig) -> list[str]:
        return ["x", "w", "b"] if cfg.bias else ["x", "w"]

    # ------------------------------------------------------------------ torch
    def torch_program(self, cfg, state, device, precision, wrap=None) -> TorchProgram:
        import torch.nn.functional as F

        def forward(x, w, b=None):
            return F.linear(x, w, b)

        return torch_state_vjp_program(forward, state, self._differentiated(cfg), "dy", "y", device, precision, wrap)

    # -------------------------------------------------------------------- jax
    def jax_program(self, cfg, precision) -> JaxProgram:
        import jax.numpy as jnp

        def forward(v):
            y = jnp.matmul(v["x"], v["w"].T)
            return y + v["b"] if cfg.bias else y

        return jax_vjp_program(None, forward, self._differentiated(cfg), "dy", "y", precision)
