"""LayerNorm and RMSNorm over the last axis, forward and backward.

x [R, d] (R rows, e.g. tokens; d features), weight w [d] (and bias b [d] for
LayerNorm), upstream gradient dy [R, d]; the step returns y and dx, dw (db).

* LayerNorm (Ba et al. 2016): y = (x − μ)·rstd·w + b, μ and σ² the row mean
  and (biased) variance, rstd = 1/√(σ² + eps). torch ``F.layer_norm``.
* RMSNorm (Zhang & Sennrich 2019): y = x·rstd·w, rstd = 1/√(mean(x²) + eps).
  torch ``F.rms_norm``.

Both are memory-bound: the metric that matters is bandwidth against
``bytes_per_step``. FLOPs (``elementwise``) count the arithmetic per element
of x listed on each class; per-row work (the 1/d, +eps, rsqrt) is O(R) and not
counted. FlopCounterMode counts 0 for these ops (it counts matmuls only);
XLA's cost_analysis counts every elementwise op of the program it compiled.

Precision: ``bf16`` takes bf16 x, w, b, dy and writes bf16 results; both
lowerings compute the statistics in fp32 (PyTorch's kernels accumulate in
fp32 for bf16 inputs; the JAX lowering upcasts inside the fused computation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelbench.kernels.base import ELEMENTWISE, JaxProgram, Kernel, Preset, TorchProgram, rng_normal
from accelbench.kernels.micro import jax_vjp_program, torch_state_vjp_program
from accelbench.kernels.precision import element_bytes

@dataclass(frozen=True)
class NormConfig:
    rows: int = 64
    dim: int = 96
    eps: float = 1e-5


NORM_PRESETS = {
    "tiny": Preset("tiny", {}, "[64 × 96]: CPU CI size"),
    "gpt2": Preset("gpt2", {"rows": 16384, "dim": 768}, "GPT-2 small width over 16 × 1024 tokens"),
    "4k": Preset("4k", {"rows": 8192, "dim": 4096}, "Llama-3-8B width over 8192 tokens"),
    "8k": Preset("8k", {"rows": 8192, "dim": 8192}, "8192 wide over 8192 tokens"),
}


class _Norm(Kernel):
    config_cls = NormConfig
    flop_convention = ELEMENTWISE
    presets = NORM_PRESETS
    flops_per_element: int
    has_bias: bool

    def flops_per_step(self, cfg: NormConfig) -> float:
        return float(self.flops_per_element * cfg.rows * cfg.dim)

    def bytes_per_step(self, cfg: NormConfig, precision: str = "fp32") -> float:
        """x and dy read, y and dx written (4·R·d); w (and b) read and their
        gradients written (2·d each)."""
        params = 2 if self.has_bias else 1
        return float(4 * cfg.rows * cfg.dim + 2 * params * cfg.dim) * element_bytes(precision)

    def memory_estimate_bytes(self, cfg: NormConfig, precision: str) -> float:
        """The tensors of ``bytes_per_step`` plus fp32 intermediates the size of x."""
        return self.bytes_per_step(cfg, precision) + 2.0 * cfg.rows * cfg.dim * 4

    def _param_names(self) -> list[str]:
        return ["w", "b"] if self.has_bias else ["w"]

    def make_state(self, cfg: NormConfig, seed: int = 0) -> dict[str, np.ndarray]:
        state = {
            "x": rng_normal(seed, (cfg.rows, cfg.dim), 2.0) + np.float32(0.5),
            # A weight near 1 but not 1, so dx depends on it and dw is not trivial.
            "w": np.float32(1.0) + rng_normal(seed + 1, (cfg.dim,), 0.1),
            "dy": rng_normal(seed + 3, (cfg.rows, cfg.dim)),
        }
        if self.has_bias:
            state["b"] = rng_normal(seed + 2, (cfg.dim,), 0.1)
        return state

    def torch_forward(self, cfg: NormConfig):
        raise NotImplementedError

    def jax_forward(self, cfg: NormConfig):
        raise NotImplementedError

    def torch_program(self, cfg, state, device, precision, wrap=None) -> TorchProgram:
        return torch_state_vjp_program(self.torch_forward(cfg), state, ["x", *self._param_names()], "dy", "y", device,
                                       precision, wrap)

    def jax_program(self, cfg, precision) -> JaxProgram:
        return jax_vjp_program(None, self.jax_forward(cfg), ["x", *self._param_names()], "dy", "y", precision)


def _jax_statistics_dtype(dtype):
    """fp32 for 16-bit inputs (as PyTorch accumulates), the input's own otherwise."""
    import jax.numpy as jnp

    return jnp.promote_types(dtype, jnp.float32)


class LayerNorm(_Norm):
    """FLOPs per element of x, 18:

    * forward 7: row sum for μ (1), x − μ (1), square (1), row sum for σ² (1),
      ·rstd (1), ·w (1), +b (1);
    * backward 11: g = dy·w (1); db += dy (1); dw += dy·x̂ (2); row sums of g
      and of g·x̂ (1 + 2); dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) (x̂·c 1,
      two subtractions 2, ·rstd 1).
    """

    name = "layernorm"
    description = "LayerNorm over the last axis (weight and bias), forward + backward"
    flops_per_element = 18
    has_bias = True

    def torch_forward(self, cfg):
        import torch.nn.functional as F

        def forward(x, w, b):
            return F.layer_norm(x, (cfg.dim,), w, b, cfg.eps)

        return forward

    def jax_forward(self, cfg):
        import jax
        import jax.numpy as jnp

        def forward(v):
            x = v["x"]
            xf = x.astype(_jax_statistics_dtype(x.dtype))
            mean = xf.mean(-1, keepdims=True)
            var = jnp.square(xf - mean).mean(-1, keepdims=True)
            y = (xf - mean) * jax.lax.rsqrt(var + cfg.eps) * v["w"] + v["b"]
            return y.astype(x.dtype)

        return forward


class RMSNorm(_Norm):
    """FLOPs per element of x, 12:

    * forward 4: square (1), row sum (1), ·rstd (1), ·w (1);
    * backward 8: g = dy·w (1); dw += dy·x̂ (2); row sum of g·x̂ (2);
      dx = rstd·(g − x̂·mean(g·x̂)) (x̂·c 1, subtraction 1, ·rstd 1).
    """

    name = "rmsnorm"
    description = "RMSNorm over the last axis (weight, no bias), forward + backward"
    flops_per_element = 12
    has_bias = False

    def torch_forward(self, cfg):
        import torch.nn.functional as F

        def forward(x, w):
            return F.rms_norm(x, (cfg.dim,), w, cfg.eps)

        return forward

    def jax_forward(self, cfg):
        import jax

        def forward(v):
            x = v["x"]
            xf = x.astype(_jax_statistics_dtype(x.dtype))
            rstd = jax.lax.rsqrt((xf * xf).mean(-1, keepdims=True) + cfg.eps)
            return (xf * rstd * v["w"]).astype(x.dtype)

        return forward
