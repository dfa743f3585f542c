"""The precision policies: every fact about ``fp64``, ``fp32``, ``tf32`` and
``bf16`` in one table, which kernels, backends, numerics and metrics read.

A policy is what a backend asks a lowering for (``--set precision=...``):

* ``fp64``: everything in float64; the numerics reference on the CPU.
* ``fp32``: everything in float32, matmuls in full fp32.
* ``tf32``: float32 storage, matmuls allowed to use TF32 tensor cores.
* ``bf16``: model kernels run under bf16 autocast with fp32 master weights and
  fp32 optimizer state; micro kernels take bf16 inputs and produce bf16 outputs.

Framework dtypes are named, not imported: importing this module imports
neither torch nor JAX.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Precision:
    name: str
    storage: str
    """dtype of a micro kernel's inputs and outputs (``torch.<storage>``, ``jnp.<storage>``)."""
    master: str
    """dtype of a model's weights, gradients and optimizer state."""
    compute: str
    """dtype a model's matmuls run in (bf16 autocast: bfloat16; otherwise ``master``)."""
    full_precision_matmuls: bool
    """Ask the compiler for full-precision matmuls (XLA may otherwise take
    bf16 passes on TPUs or TF32 on GPUs)."""
    tolerance: float
    """Relative-norm error against the float64 reference that the numerics check allows."""
    change_tolerance: float
    """The same for what a training step changed (the update, the loss change:
    ``harness.numerics.CHANGE_GROUPS``), whose reference norm is small."""
    peak: str | None
    """The device catalog's dense peak this policy is measured against for MFU
    (a key of ``peak_tflops`` in ``facts/data/devices.toml``); None: no MFU."""

    @property
    def autocast(self) -> bool:
        """Matmuls run in a narrower dtype than the master weights (bf16: autocast / mixed precision)."""
        return self.compute != self.master

    @property
    def element_bytes(self) -> int:
        """Bytes of one stored element (tf32 stores fp32)."""
        return DTYPE_BYTES[self.storage]


DTYPE_BYTES = {"float64": 8, "float32": 4, "bfloat16": 2}

# Tolerances: fp32 seen <= 1e-6 on the tiny presets; tf32 keeps a 10-bit
# mantissa (2^-11 ~ 5e-4 per product, summed); bf16 keeps 8 bits (2^-9 ~ 2e-3
# per rounding, a few roundings deep). Change tolerances: seen on the tiny gpt2
# and llama presets, torch-cpu and jax-cpu, 3 steps (2026-11-30): update
# <= 4.3e-5 in fp32 and <= 4.1e-2 in bf16, loss change <= 3.5e-6 and <= 1.4e-3;
# the faults they must catch sit far above the bf16 bound: no update 1.0, half
# the learning rate 0.5, the gradient's sign flipped ~2
# (tests/harness/test_numerics_update.py). Peaks: fp32 runs against the fp32
# (non-tensor-core) peak, tf32 against the TF32 tensor peak, bf16 (autocast,
# fp32 master weights) against the bf16 peak; fp64 is the reference only.
POLICIES: dict[str, Precision] = {p.name: p for p in (
    Precision("fp64", "float64", "float64", "float64", True, 1e-9, 1e-9, None),
    Precision("fp32", "float32", "float32", "float32", True, 1e-5, 1e-3, "fp32"),
    Precision("tf32", "float32", "float32", "float32", False, 5e-3, 0.1, "tf32"),
    Precision("bf16", "bfloat16", "float32", "bfloat16", False, 2e-2, 0.2, "bf16"),
)}

PRECISIONS = tuple(POLICIES)
"""The policy names, in the order they are listed to users."""


def policy(name: str) -> Precision:
    """The policy called ``name``; ValueError naming the accepted ones."""
    try:
        return POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown precision '{name}'; accepted: {', '.join(PRECISIONS)}") from None


def element_bytes(name: str) -> int:
    return policy(name).element_bytes


def torch_dtype(name: str, role: str = "storage"):
    """``torch.float32`` etc. for the policy's ``role`` (storage, master or compute)."""
    import torch

    return getattr(torch, getattr(policy(name), role))


def jax_dtype(name: str, role: str = "storage"):
    """``jnp.float32`` etc. for the policy's ``role`` (storage, master or compute)."""
    import jax.numpy as jnp

    return getattr(jnp, getattr(policy(name), role))
