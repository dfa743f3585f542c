"""The kernel seam: what a workload is, independent of any framework.

A kernel declares its presets and config dataclass, its analytic work per step
(FLOPs, bytes, tokens), deterministic numpy-made initial state, and two
lowerings of the same math: one for PyTorch and one for JAX. A micro kernel
writes both side by side in its own module, so a reader sees that they match;
the model kernels (gpt2, llama) call models built in modules of their own
(``torch_models``, ``jax_models``, ``llama_torch``, ``llama_jax``), which load
only with their framework.

The contract a lowering fulfils (see ``TorchProgram`` and ``JaxProgram``):

* it starts from ``Kernel.make_state(cfg, seed)``: a flat ``dict`` of numpy
  arrays (inputs and initial weights), identical for every backend;
* one *step* is the unit that is timed: a training step (forward, loss,
  backward, optimizer update) for the model kernels, or one forward(+backward)
  of an operator for the micro kernels;
* after a step, ``observe`` gives a flat ``dict`` of numpy arrays (the loss,
  outputs, gradients or updated weights) that the harness compares against a
  float64 reference and across frameworks.

Framework imports (torch, jax) happen only inside the lowering functions, so
importing ``kernels`` never imports either.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

# The precision vocabulary, re-exported: kernels import it with the rest of the seam.
from accelbench.kernels.precision import PRECISIONS, jax_dtype, policy, torch_dtype  # noqa: F401

# FLOP conventions. Every result records the one its ``flops_per_step`` used
# (``kernel.flop_convention``); ``FLOP_CONVENTIONS`` says what each counts, in
# the words the report's methodology section prints.
EXACT_MATMUL = "matmul-exact"
ELEMENTWISE = "elementwise"
PALM = "palm-6N+12LdT"
CAUSAL_HALVED = "causal-6N+6LdT"
ATTENTION_FULL_SQUARE = "attention-full-square"
ATTENTION_CAUSAL_HALF = "attention-causal-half"

ATTENTION_IMPLEMENTATIONS = ("xla", "cudnn")
"""What ``jax.nn.dot_product_attention(implementation=...)`` takes (JAX 0.10);
None "currently falls back to xla" (its docstring). Here, not in
``jax_models``, so that the JAX backends check their setting without importing JAX."""

FLOP_CONVENTIONS: dict[str, str] = {
    EXACT_MATMUL: "2 FLOP per multiply-accumulate of every matmul (2·m·n·k for an m×k by k×n product), plus the "
                  "elementwise work the kernel's docstring lists; no approximation",
    ELEMENTWISE: "kernels without matmuls (norms, cross-entropy, AdamW): the arithmetic per element the kernel's "
                 "docstring lists, each add, multiply, divide, compare, exp, log or sqrt counted as 1 FLOP",
    PALM: "6·N + 12·L·d·T FLOP per token for a training step (forward + backward): 6 per dense parameter "
          "(2 forward, 4 backward) plus the attention score and value matmuls over the full T×T square; "
          "N parameters, L layers, d model width, T sequence length; PaLM (Chowdhery et al. 2022) appendix B, "
          "as nanoGPT's estimate_mfu and torchtitan count",
    CAUSAL_HALVED: "6·N + 6·L·d·T FLOP per token: the PaLM count with only the causal half of the attention "
                   "square (MaxText since 2025)",
    ATTENTION_FULL_SQUARE: "12·B·H·T²·D FLOP for attention forward + backward: every matmul over the whole T×T "
                           "score square, masked half included (PaLM appendix B; torch's FlopCounterMode on "
                           "SDPA's math path)",
    ATTENTION_CAUSAL_HALF: "6·B·H·T²·D FLOP for attention forward + backward: only the causal (lower) half of the "
                           "score square, what a causal flash kernel computes, as FlashAttention's benchmarks and "
                           "MaxText count it",
}


class KernelError(ValueError):
    """A user asked for something a kernel does not have (preset, setting)."""


@dataclass(frozen=True)
class Preset:
    name: str
    overrides: Mapping[str, Any]
    description: str = ""
    timeout_s: float | None = None
    """Wall-clock limit of one case of this preset, compile included. None
    takes the harness default (``accelbench.harness.plan.default_timeout``); set it for
    presets that need longer, e.g. a model whose first compile takes minutes."""


@dataclass
class TorchProgram:
    """A kernel lowered to PyTorch on one device.

    ``step()`` runs one step and returns its outputs as tensors *without*
    synchronizing: the backend's fence decides when work is complete.
    ``observe()`` copies what the numerics check compares to numpy (it syncs).
    """

    step: Callable[[], Any]
    observe: Callable[[], dict[str, np.ndarray]]
    modules: list[Any] = field(default_factory=list)
    """Torch modules/optimizers the step uses, for backends that wrap them (DDP, compile)."""


@dataclass
class JaxProgram:
    """A kernel lowered to JAX as pure functions.

    ``init(arrays)`` builds the state pytree from numpy arrays (placed by the
    backend afterwards); ``step(state) -> (state, outputs)`` is pure and is
    what the backend jits (donating ``state``); ``observe(state, outputs)``
    turns them into the flat numpy dict the numerics check compares.
    """

    init: Callable[[dict[str, np.ndarray]], Any]
    step: Callable[[Any], tuple[Any, Any]]
    observe: Callable[[Any, Any], dict[str, np.ndarray]]


class Kernel:
    """Base class of every kernel. Subclasses set the class attributes and
    implement the analytic counts, ``make_state`` and the lowerings."""

    name: ClassVar[str]
    description: ClassVar[str]
    config_cls: ClassVar[type]
    presets: ClassVar[dict[str, Preset]]
    is_training_step: ClassVar[bool] = False
    flop_convention: ClassVar[str] = EXACT_MATMUL
    """A key of ``FLOP_CONVENTIONS``; so is every key of ``flops_by_convention``."""
    uses_attention: ClassVar[bool] = False
    """True for kernels whose JAX lowering calls ``jax.nn.dot_product_attention``:
    their ``jax_program`` takes ``attention=`` (the implementation a backend asks for)."""

    # ---- configuration -------------------------------------------------
    def config(self, preset: str = "tiny", overrides: Mapping[str, Any] | None = None):
        if preset not in self.presets:
            from accelbench.suggest import did_you_mean

            raise KernelError(
                f"unknown preset '{preset}' for kernel '{self.name}'{did_you_mean(preset, self.presets)}; "
                f"accepted: {', '.join(self.presets)}"
            )
        values = dict(self.presets[preset].overrides)
        values.update(overrides or {})
        known = {f.name for f in dataclasses.fields(self.config_cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise KernelError(
                f"unknown setting '{unknown[0]}' for kernel '{self.name}'; "
                f"accepted: {', '.join(sorted(known))}"
            )
        cfg = self.config_cls(**values)
        self.validate(cfg)
        return cfg

    zero_allowed_settings: ClassVar[frozenset[str]] = frozenset({"seed"})
    """Integer settings for which 0 is meaningful; every other integer setting
    is a size or a count and must be at least 1."""

    def validate(self, cfg) -> None:
        """Reject a config no lowering could run, with a ``KernelError`` naming
        the setting: integer settings must be whole numbers >= 1 (>= 0 for
        ``zero_allowed_settings``), float settings finite. Subclasses extend
        this for constraints between settings (call ``super().validate``)."""
        hints = typing.get_type_hints(type(cfg))
        for f in dataclasses.fields(cfg):
            value, kind = getattr(cfg, f.name), hints.get(f.name)
            optional = [a for a in typing.get_args(kind) if a is not type(None)]
            if optional and len(optional) < len(typing.get_args(kind)):  # X | None
                if value is None:
                    continue
                kind = optional[0]
            if kind is int:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise KernelError(f"setting '{f.name}' of kernel '{self.name}' must be an integer, got {value!r}")
                lowest = 0 if f.name in self.zero_allowed_settings else 1
                if value < lowest:
                    raise KernelError(
                        f"setting '{f.name}' of kernel '{self.name}' must be >= {lowest}, got {value}"
                    )
            elif kind is float:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise KernelError(
                        f"setting '{f.name}' of kernel '{self.name}' must be a finite number, got {value!r}"
                    )
            elif kind is bool and not isinstance(value, bool):  # "false" in a hand-edited plan is truthy
                raise KernelError(f"setting '{f.name}' of kernel '{self.name}' must be true or false, got {value!r}")
            elif kind is str and not isinstance(value, str):
                raise KernelError(f"setting '{f.name}' of kernel '{self.name}' must be a string, got {value!r}")

    def setting_names(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self.config_cls)]

    def lowerings(self) -> dict[str, bool]:
        """Which frameworks this kernel has a lowering for."""
        return {
            "torch": type(self).torch_program is not Kernel.torch_program,
            "jax": type(self).jax_program is not Kernel.jax_program,
        }

    # ---- analytic work per step ----------------------------------------
    def flops_per_step(self, cfg) -> float:
        raise NotImplementedError

    def flops_by_convention(self, cfg) -> dict[str, float]:
        """Every FLOP count this kernel can state, keyed by convention."""
        return {self.flop_convention: float(self.flops_per_step(cfg))}

    def bytes_per_step(self, cfg, precision: str = "fp32") -> float | None:
        """The fewest bytes a step must move: each input read once, each
        output written once (None where that is not meaningful)."""
        return None

    def tokens_per_step(self, cfg) -> int | None:
        return None

    def memory_estimate_bytes(self, cfg, precision: str) -> float | None:
        """Rough peak device memory of one step, for refusing cases that cannot fit."""
        return None

    # ---- state and lowerings -------------------------------------------
    def make_state(self, cfg, seed: int = 0) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def torch_program(
        self, cfg, state: dict[str, np.ndarray], device, precision: str, wrap: Callable | None = None
    ) -> TorchProgram:
        """Lower to PyTorch on ``device``. ``wrap`` (identity when None) is
        applied to the module or function that does the forward math, so a
        backend can add ``torch.compile`` or DistributedDataParallel."""
        raise NotImplementedError(f"kernel '{self.name}' has no torch lowering")

    def jax_program(self, cfg, precision: str) -> JaxProgram:
        """Lower to JAX. Kernels with ``uses_attention`` also take
        ``attention: str | None`` ("xla", "cudnn"; None: JAX's default)."""
        raise NotImplementedError(f"kernel '{self.name}' has no jax lowering")

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "training_step": self.is_training_step,
            "flop_convention": self.flop_convention,
            "presets": {
                name: {"description": p.description, "config": dataclasses.asdict(self.config(name))}
                for name, p in self.presets.items()
            },
            "settings": self.setting_names(),
            "lowerings": self.lowerings(),
        }


def rng_normal(seed: int, shape, scale: float = 1.0, dtype=np.float32) -> np.ndarray:
    """Deterministic N(0, scale²) values: the same on every machine."""
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def jax_matmul_precision(precision: str):
    """fp32/fp64 ask XLA for full-precision matmuls (it may otherwise use
    bf16 passes on TPUs or TF32 on GPUs); tf32/bf16 take the default: None,
    not ``Precision.DEFAULT``, because JAX reads ``jax.default_matmul_precision``
    (a backend's matmul scope, e.g. 'high' for tf32 on a TPU) only for a dot
    given no precision, and an explicit DEFAULT would override that scope."""
    import jax

    return jax.lax.Precision.HIGHEST if policy(precision).full_precision_matmuls else None
