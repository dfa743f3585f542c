"""GEMM: C = A·B, the roofline anchor of every chip.

FLOPs: 2·M·N·K (one multiply and one add per multiply-accumulate).
Bytes: A and B read once, C written once: (M·K + K·N + M·N) × element size.
Precision: ``fp32`` asks for full fp32 (``torch.backends.cuda.matmul.allow_tf32``
off, JAX ``Precision.HIGHEST``); ``tf32`` allows TF32 tensor cores and the
record says so; ``bf16`` feeds bf16 inputs and writes a bf16 output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelbench.kernels.base import (
    EXACT_MATMUL,
    JaxProgram,
    Kernel,
    Preset,
    TorchProgram,
    jax_dtype,
    jax_matmul_precision,
    rng_normal,
    torch_dtype,
)
from accelbench.kernels.precision import element_bytes


@dataclass(frozen=True)
class GemmConfig:
    m: int = 64
    n: int = 64
    k: int = 64


class Gemm(Kernel):
    name = "gemm"
    description = (
        "C = A·B (matrix multiply), forward only; fp32 is full fp32 (TF32 off), "
        "precision=tf32 allows TF32 tensor cores and the record's precision says tf32"
    )
    config_cls = GemmConfig
    flop_convention = EXACT_MATMUL
    presets = {
        "tiny": Preset("tiny", {"m": 64, "n": 64, "k": 64}, "CPU CI size"),
        "1k": Preset("1k", {"m": 1024, "n": 1024, "k": 1024}, "1024³, the harness-overhead benchmark size"),
        "4k": Preset("4k", {"m": 4096, "n": 4096, "k": 4096}, "4096³"),
        "8k": Preset("8k", {"m": 8192, "n": 8192, "k": 8192}, "8192³, near-peak on H100/H200/Trainium"),
    }

    def flops_per_step(self, cfg: GemmConfig) -> float:
        return 2.0 * cfg.m * cfg.n * cfg.k

    def bytes_per_step(self, cfg: GemmConfig, precision: str = "fp32") -> float:
        return float(cfg.m * cfg.k + cfg.k * cfg.n + cfg.m * cfg.n) * element_bytes(precision)

    def memory_estimate_bytes(self, cfg: GemmConfig, precision: str) -> float:
        return self.bytes_per_step(cfg, precision)

    def make_state(self, cfg: GemmConfig, seed: int = 0) -> dict[str, np.ndarray]:
        return {
            "a": rng_normal(seed, (cfg.m, cfg.k), 1.0 / np.sqrt(cfg.k)),
            "b": rng_normal(seed + 1, (cfg.k, cfg.n)),
        }

    def torch_program(self, cfg, state, device, precision, wrap=None) -> TorchProgram:
        import torch

        dtype = torch_dtype(precision)
        a = torch.from_numpy(state["a"]).to(device=device, dtype=dtype)
        b = torch.from_numpy(state["b"]).to(device=device, dtype=dtype)
        matmul = (wrap or (lambda f: f))(torch.matmul)
        last = {}

        def step():
            last["c"] = matmul(a, b)
            return last

        def observe():
            return {"c": last["c"].detach().float().cpu().numpy()}

        return TorchProgram(step=step, observe=observe)

    def jax_program(self, cfg, precision) -> JaxProgram:
        import jax.numpy as jnp

        dtype = jax_dtype(precision)
        mm_precision = jax_matmul_precision(precision)

        def init(arrays):
            return {"a": jnp.asarray(arrays["a"], dtype), "b": jnp.asarray(arrays["b"], dtype)}

        def step(state):
            return state, {"c": jnp.matmul(state["a"], state["b"], precision=mm_precision)}

        def observe(state, outputs):
            return {"c": np.asarray(outputs["c"], dtype=np.float32)}

        return JaxProgram(init=init, step=step, observe=observe)
