"""Cross-entropy over a large vocabulary, forward and backward.

logits [N, V] (N tokens, V vocabulary entries), integer targets [N]; the
step computes the mean loss L = −(1/N)·Σ log softmax(logits)[target] and its
gradient dL/dlogits = (softmax(logits) − onehot(target))/N [N, V]. This is
the last operation of every language-model step and, at V = 50,304 (GPT-2
padded) or 128,256 (Llama 3), one of the largest tensors of the step.

* PyTorch: ``F.cross_entropy(logits, targets)`` and autograd.
* JAX: ``jax.nn.log_softmax`` and ``take_along_axis``, as
  ``accelbench.kernels.jax_models.cross_entropy``, differentiated with ``jax.vjp``.

FLOPs (``elementwise``), 6 per logit: forward row max (1), subtract the max
(1), exp (1), row sum (1); backward softmax = exp·(1/sum) (1) and the 1/N of
the mean (1). Per-row work (log of the sum, the target gather, subtracting 1
at the target) is O(N) and not counted; FlopCounterMode counts 0 here.

Bytes: logits read once, gradient written once (2·N·V elements), targets read
as int32 (4·N bytes), the scalar loss written.

Precision: ``bf16`` takes bf16 logits and writes a bf16 gradient and loss;
both lowerings compute the softmax and the mean in fp32, as ``torch.autocast``
runs cross-entropy (XLA fuses the upcast; eager PyTorch materializes an fp32
copy of the logits, which ``--set compile=true`` lets inductor fuse away).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelbench.kernels.base import ELEMENTWISE, JaxProgram, Kernel, Preset, TorchProgram, jax_dtype, torch_dtype
from accelbench.kernels.micro import jax_vjp_program, rng_normal_float32, torch_vjp_program
from accelbench.kernels.precision import element_bytes

TARGET_BYTES = 4
"""Targets are counted as int32, the narrowest type that holds any vocabulary index here."""


@dataclass(frozen=True)
class CrossEntropyConfig:
    tokens: int = 64
    vocab: int = 512


class CrossEntropy(Kernel):
    name = "cross_entropy"
    description = "mean cross-entropy over [tokens × vocab] logits, forward + backward (dlogits)"
    config_cls = CrossEntropyConfig
    flop_convention = ELEMENTWISE
    presets = {
        "tiny": Preset("tiny", {}, "[64 × 512]: CPU CI size"),
        "gpt2": Preset(
            "gpt2", {"tokens": 16384, "vocab": 50304}, "[16384 × 50304]: GPT-2's padded vocabulary, 16 × 1024 tokens"
        ),
        "llama3": Preset(
            "llama3", {"tokens": 8192, "vocab": 128256}, "[8192 × 128256]: Llama 3's vocabulary, 8 × 1024 tokens"
        ),
    }

    def flops_per_step(self, cfg: CrossEntropyConfig) -> float:
        return 6.0 * cfg.tokens * cfg.vocab

    def bytes_per_step(self, cfg: CrossEntropyConfig, precision: str = "fp32") -> float:
        element = element_bytes(precision)
        return float(2 * cfg.tokens * cfg.vocab * element + TARGET_BYTES * cfg.tokens + element)

    def memory_estimate_bytes(self, cfg: CrossEntropyConfig, precision: str) -> float:
        """Logits, gradient and the saved log-probabilities, each at least fp32 wide."""
        return 3.0 * cfg.tokens * cfg.vocab * max(element_bytes(precision), 4)

    def make_state(self, cfg: CrossEntropyConfig, seed: int = 0) -> dict[str, np.ndarray]:
        return {
            "logits": rng_normal_float32(seed, (cfg.tokens, cfg.vocab), 2.0),
            "targets": np.random.default_rng(seed + 1).integers(0, cfg.vocab, cfg.tokens).astype(np.int32),
        }

    # ------------------------------------------------------------------ torch
    def torch_program(self, cfg, state, device, precision, wrap=None) -> TorchProgram:
        import torch
        import torch.nn.functional as F

        logits = torch.from_numpy(state["logits"]).to(device=device, dtype=torch_dtype(precision))
        targets = torch.from_numpy(state["targets"]).to(device=device, dtype=torch.long)

        def forward(logits):
            # fp32 math for 16-bit logits, as autocast runs cross_entropy; no-op for fp32/fp64.
            wide = logits.to(torch.promote_types(logits.dtype, torch.float32))
            return F.cross_entropy(wide, targets).to(logits.dtype)

        return torch_vjp_program(forward, {"logits": logits}, None, "loss", wrap)

    # -------------------------------------------------------------------- jax
    def jax_program(self, cfg, precision) -> JaxProgram:
        import jax.numpy as jnp

        from accelbench.kernels.jax_models import cross_entropy

        dtype = jax_dtype(precision)

        def init(arrays):
            return {
                "logits": jnp.asarray(arrays["logits"], dtype),
                "targets": jnp.asarray(arrays["targets"], jnp.int32),
            }

        def forward(v):
            logits = v["logits"]
            wide = logits.astype(jnp.promote_types(logits.dtype, jnp.float32))
            return cross_entropy(wide, v["targets"]).astype(logits.dtype)

        return jax_vjp_program(init, forward, ["logits"], None, "loss", precision)
