"""Kernel registry: name -> Kernel instance.

To add a kernel, write a module with a ``Kernel`` subclass (see ``gemm.py``
for the smallest complete one) and add it to ``_MODULES``. Importing this
package imports numpy only; torch and JAX load inside the lowerings.
"""

from __future__ import annotations

import importlib

from accelbench.kernels.base import Kernel, KernelError

_MODULES = {
    "gemm": ("accelbench.kernels.gemm", "Gemm"),
    "linear": ("accelbench.kernels.linear", "Linear"),
    "attention": ("accelbench.kernels.attention", "Attention"),
    "layernorm": ("accelbench.kernels.norms", "LayerNorm"),
    "rmsnorm": ("accelbench.kernels.norms", "RMSNorm"),
    "cross_entropy": ("accelbench.kernels.cross_entropy", "CrossEntropy"),
    "adamw": ("accelbench.kernels.adamw", "AdamW"),
    "mlp": ("accelbench.kernels.mlp", "MLP"),
    "gpt2": ("accelbench.kernels.gpt2", "GPT2"),
    "llama": ("accelbench.kernels.llama", "Llama"),
}

_cache: dict[str, Kernel] = {}


def names() -> list[str]:
    return list(_MODULES)


def get(name: str) -> Kernel:
    if name not in _MODULES:
        from accelbench.suggest import did_you_mean

        raise KernelError(f"unknown kernel '{name}'{did_you_mean(name, _MODULES)}; accepted: {', '.join(_MODULES)}")
    if name not in _cache:
        module, cls = _MODULES[name]
        _cache[name] = getattr(importlib.import_module(module), cls)()
    return _cache[name]


def parse_spec(spec: str) -> tuple[Kernel, str]:
    """'gpt2:124m' -> (GPT2 kernel, '124m'); a bare name means the 'tiny' preset."""
    name, _, preset = spec.partition(":")
    kernel = get(name.strip())
    preset = preset.strip() or "tiny"
    kernel.config(preset)  # validates the preset
    return kernel, preset


__all__ = ["Kernel", "KernelError", "get", "names", "parse_spec"]
