"""Transformer MLP block, forward and backward, in its two common forms.

x [N, d] (N tokens, model width d), upstream gradient dy [N, d]; the step
returns y [N, d], dx and the gradient of every weight.

* ``kind="gelu"`` (GPT-2's MLP, the ``mlp.c_fc``/``mlp.c_proj`` pair of the
  gpt2 kernel's blocks, written out here as plain functions):
  y = W_proj·gelu_tanh(W_fc·x + b_fc) + b_proj, hidden width h = 4·d by default.
* ``kind="swiglu"`` (Shazeer 2020; Llama): y = W_down·(silu(W_gate·x) ⊙ W_up·x),
  no biases, h = 8·d/3 rounded up to a multiple of 256 by default (Llama's
  rule with ``multiple_of=256``; Llama-3-8B sets h = 14,336 explicitly).

FLOPs (``matmul-exact``), 2 per multiply-accumulate of every matmul:

* gelu: two N×d×h matmuls forward (4·N·d·h) and, for each, the input and
  weight gradients backward (8·N·d·h): 12·N·d·h;
* swiglu: three N×d×h matmuls forward (6·N·d·h), twice that backward:
  18·N·d·h.

The activation, the gate product and the biases (a few tens of FLOPs per
hidden element against 12·d or 18·d of matmul work: about 0.3% at d = 768)
are not counted, as torch's FlopCounterMode does not count them.

Bytes: x and dy read, y and dx written (4·N·d), every weight read once and its
gradient written once; intermediates [N, h] are not counted (a fused kernel
need not store them).

Precision: ``bf16`` takes bf16 inputs and weights and writes bf16 results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from accelbench.kernels.base import EXACT_MATMUL, JaxProgram, Kernel, KernelError, Preset, TorchProgram, rng_normal
from accelbench.kernels.micro import jax_vjp_program, torch_state_vjp_program
from accelbench.kernels.precision import element_bytes

KINDS = ("gelu", "swiglu")
MATMULS = {"gelu": 2, "swiglu": 3}
"""N×d×h matmuls in the forward pass of each kind."""


@dataclass(frozen=True)
class MLPConfig:
    tokens: int = 64
    d_model: int = 64
    hidden: int = 0
    """Hidden width; 0 takes the kind's default (see ``hidden_width``)."""
    kind: str = "gelu"


def hidden_width(cfg: MLPConfig) -> int:
    if cfg.hidden:
        return cfg.hidden
    if cfg.kind == "swiglu":
        return 256 * math.ceil(8 * cfg.d_model / 3 / 256)
    return 4 * cfg.d_model


def weight_shapes(cfg: MLPConfig) -> dict[str, tuple[int, ...]]:
    d, h = cfg.d_model, hidden_width(cfg)
    if cfg.kind == "swiglu":
        return {"w_gate": (h, d), "w_up": (h, d), "w_down": (d, h)}
    return {"w_fc": (h, d), "b_fc": (h,), "w_proj": (d, h), "b_proj": (d,)}


class MLP(Kernel):
    name = "mlp"
    description = (
        "transformer MLP (kind=gelu: d -> 4d -> d, tanh GELU; kind=swiglu: gate/up -> down), forward + backward"
    )
    config_cls = MLPConfig
    flop_convention = EXACT_MATMUL
    zero_allowed_settings = frozenset({"seed", "hidden"})
    presets = {
        "tiny": Preset("tiny", {}, "64 tokens, d=64 (gelu; --set kind=swiglu for the other): CPU CI size"),
        "gpt2": Preset("gpt2", {"tokens": 8192, "d_model": 768, "kind": "gelu"}, "GPT-2 small MLP, 8 × 1024 tokens"),
        "gpt2-350m": Preset("gpt2-350m", {"tokens": 8192, "d_model": 1024, "kind": "gelu"}, "GPT-2 medium MLP"),
        "llama3-8b": Preset(
            "llama3-8b",
            {"tokens": 8192, "d_model": 4096, "hidden": 14336, "kind": "swiglu"},
            "Llama-3-8B SwiGLU MLP, 8 × 1024 tokens",
        ),
    }

    def validate(self, cfg: MLPConfig) -> None:
        super().validate(cfg)
        if cfg.kind not in KINDS:
            raise KernelError(f"unknown kind '{cfg.kind}' for kernel 'mlp'; accepted: {', '.join(KINDS)}")

    def flops_per_step(self, cfg: MLPConfig) -> float:
        return 3 * MATMULS[cfg.kind] * 2.0 * cfg.tokens * cfg.d_model * hidden_width(cfg)

    def bytes_per_step(self, cfg: MLPConfig, precision: str = "fp32") -> float:
        weights = sum(math.prod(s) for s in weight_shapes(cfg).values())
        return float(4 * cfg.tokens * cfg.d_model + 2 * weights) * element_bytes(precision)

    def memory_estimate_bytes(self, cfg: MLPConfig, precision: str) -> float:
        """``bytes_per_step`` plus the [N, h] activations autograd keeps and
        their gradients: about 2 per forward matmul."""
        activations = 2 * MATMULS[cfg.kind] * cfg.tokens * hidden_width(cfg)
        return self.bytes_per_step(cfg, precision) + activations * element_bytes(precision)

    def make_state(self, cfg: MLPConfig, seed: int = 0) -> dict[str, np.ndarray]:
        state = {"x": rng_normal(seed, (cfg.tokens, cfg.d_model))}
        for i, (name, shape) in enumerate(weight_shapes(cfg).items()):
            scale = 0.02 if name.startswith("b_") else 1.0 / np.sqrt(shape[-1])
            state[name] = rng_normal(seed + 1 + i, shape, scale)
        state["dy"] = rng_normal(seed + 100, (cfg.tokens, cfg.d_model))
        return state

    def _differentiated(self, cfg: MLPConfig) -> list[str]:
        return ["x", *weight_shapes(cfg)]

    # ------------------------------------------------------------------ torch
    def torch_program(self, cfg, state, device, precision, wrap=None) -> TorchProgram:
        import torch.nn.functional as F

        def gelu_mlp(x, w_fc, b_fc, w_proj, b_proj):
            return F.linear(F.gelu(F.linear(x, w_fc, b_fc), approximate="tanh"), w_proj, b_proj)

        def swiglu_mlp(x, w_gate, w_up, w_down):
            return F.linear(F.silu(F.linear(x, w_gate)) * F.linear(x, w_up), w_down)

        forward = swiglu_mlp if cfg.kind == "swiglu" else gelu_mlp
        return torch_state_vjp_program(forward, state, self._differentiated(cfg), "dy", "y", device, precision, wrap)

    # -------------------------------------------------------------------- jax
    def jax_program(self, cfg, precision) -> JaxProgram:
        import jax

        def gelu_mlp(v):
            h = jax.nn.gelu(v["x"] @ v["w_fc"].T + v["b_fc"], approximate=True)
            return h @ v["w_proj"].T + v["b_proj"]

        def swiglu_mlp(v):
            x = v["x"]
            return (jax.nn.silu(x @ v["w_gate"].T) * (x @ v["w_up"].T)) @ v["w_down"].T

        forward = swiglu_mlp if cfg.kind == "swiglu" else gelu_mlp
        return jax_vjp_program(None, forward, self._differentiated(cfg), "dy", "y", precision)
