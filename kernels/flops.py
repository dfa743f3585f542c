"""Cross-checks of every kernel's analytic FLOP count against two counters.

A kernel states its FLOPs per step by formula (``Kernel.flops_per_step``).
Two independent tools count the FLOPs of the step its lowerings really run:

* **torch** ``torch.utils.flop_counter.FlopCounterMode`` around one eager
  step of the torch lowering. It counts only the ops in its registry, matmul
  and convolution family (``mm``, ``addmm``, ``bmm``, ``baddbmm``, the fused
  CUDA attention kernels), at 2 FLOPs per multiply-accumulate. Elementwise
  ops, reductions, norms, softmax, the loss and the optimizer count zero.
  The CPU's fused attention (``_scaled_dot_product_flash_attention_for_cpu``)
  is not in the registry (torch 2.13) and would count zero, so the step runs
  under ``sdpa_kernel(SDPBackend.MATH)``: SDPA decomposes into two ``bmm``
  over the *full* T×T square (the causal mask is applied to the product).
* **xla** ``jax.jit(step).lower(state).compile().cost_analysis()['flops']``
  (a dict; a one-element list of dicts in older JAX) for the JAX lowering on
  the CPU. XLA counts every HLO op after optimization: 2·M·N·K per dot, one
  FLOP per output element of each elementwise add/mul/sub/div/max/compare/
  select, about one per input element of a reduction; exp, log, sqrt,
  rsqrt, tanh and pow go to a separate ``transcendentals`` figure. Its attention (the XLA
  path of ``jax.nn.dot_product_attention``) is also the full masked square.

Why they differ from the formula, systematically:

* Training steps (gpt2, llama; PaLM's ``6N + 12·L·d·T``): 6·N counts *every*
  parameter, and nanoGPT/torchtitan's N includes the vector parameters
  (LayerNorm/RMSNorm gains, biases) that multiply elementwise. FlopCounterMode
  sees every matmul (weights 6 FLOPs per token, attention's 12·L·d·T full
  square) and none of the vector work, so it must read exactly
  ``analytic − 6·tokens·N_vector`` (``training_matmul_flops``). XLA reads
  *more* than the formula: all of the above plus every elementwise op
  (AdamW's ~15 FLOPs per parameter, softmax and loss over the logits, norms,
  activations, residual adds, RoPE). At the tiny presets (d = 64) that extra
  is several percent (AdamW alone: 15 per parameter against 6·64 per
  parameter for the matmuls, ~4%); it shrinks roughly as 1/d at real sizes.
* Matmul micro kernels (``matmul-exact``): both counters should agree with
  the formula; XLA adds the elementwise ops the formula leaves out (a bias).
* Elementwise micro kernels (norms, cross-entropy, AdamW): FlopCounterMode
  reads zero by construction, so only XLA is checked, against a band that
  the kernel's entry in ``EXPECTED`` states and explains.

A kernel with no entry in ``EXPECTED`` is checked against the default of its
FLOP convention (``BY_CONVENTION``), which follows from what the convention
counts; an entry narrows the band and says why. A convention with no default
(attention's) needs an entry.

Imports torch and JAX inside the counting functions only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from accelbench.kernels.base import ATTENTION_FULL_SQUARE, ELEMENTWISE, EXACT_MATMUL, PALM, Kernel

Reference = Callable[[Kernel, Any], float]


def analytic(kernel: Kernel, cfg) -> float:
    """The kernel's own ``flops_per_step``."""
    return float(kernel.flops_per_step(cfg))


def convention(name: str) -> Reference:
    """The kernel's count under one named FLOP convention (``flops_by_convention``)."""
    return lambda kernel, cfg: float(kernel.flops_by_convention(cfg)[name])


def vector_params(state: dict[str, np.ndarray]) -> int:
    """Elements of the 1-D floating-point arrays of a training step's state:
    the norm gains and biases, which multiply elementwise, not in a matmul."""
    return sum(int(v.size) for v in state.values() if v.ndim == 1 and v.dtype.kind == "f")


def training_matmul_flops(kernel: Kernel, cfg) -> float:
    """PaLM's count less 6 FLOPs per token for each vector parameter: the
    matmul work of a training step, what FlopCounterMode must read."""
    tokens = kernel.tokens_per_step(cfg)
    return kernel.flops_by_convention(cfg)[PALM] - 6.0 * tokens * vector_params(kernel.make_state(cfg))


@dataclass(frozen=True)
class CounterCheck:
    """Where one counter's reading must fall: within [low, high] × ``reference``.
    ``reference`` None means the counter is not checked, for the reason in ``why``."""

    reference: Reference | None
    low: float = 1.0
    high: float = 1.0
    why: str = ""
    rtol: float = 1e-9
    """Slack on an exact expectation (low == high), for float rounding only."""

    def bounds(self, kernel: Kernel, cfg) -> tuple[float, float] | None:
        if self.reference is None:
            return None
        ref = self.reference(kernel, cfg)
        return ref * self.low * (1 - self.rtol), ref * self.high * (1 + self.rtol)

    def problem(self, kernel: Kernel, cfg, counted: float) -> str | None:
        """None when ``counted`` is where it should be; otherwise why not."""
        bounds = self.bounds(kernel, cfg)
        if bounds is None or bounds[0] <= counted <= bounds[1]:
            return None
        return f"counted {counted:,.0f}, expected {bounds[0]:,.0f} .. {bounds[1]:,.0f} ({self.why})"


@dataclass(frozen=True)
class FlopExpectation:
    torch: CounterCheck
    xla: CounterCheck
    notes: str = ""


def _zero(kernel: Kernel, cfg) -> float:
    return 0.0


_NO_MATMUL = "no matmul: FlopCounterMode counts none of its elementwise ops, so it must read 0"
_EXACT = "every FLOP is a matmul multiply-accumulate; both count 2 per MAC"

EXPECTED: dict[str, FlopExpectation] = {
    "gemm": FlopExpectation(
        torch=CounterCheck(analytic, why=_EXACT),
        xla=CounterCheck(analytic, why=_EXACT, rtol=1e-6),
    ),
    "linear": FlopExpectation(
        torch=CounterCheck(analytic, why="three matmuls, bias add and bias-gradient sum uncounted on both sides"),
        xla=CounterCheck(analytic, 1.0, 1.02,
                         why="plus the bias add and the bias-gradient sum, 2·M·N = 1/(3K) of it"),
    ),
    "attention": FlopExpectation(
        torch=CounterCheck(convention(ATTENTION_FULL_SQUARE),
                           why="the math SDPA path multiplies over the full T×T square"),
        xla=CounterCheck(convention(ATTENTION_FULL_SQUARE), 1.0, 1.15,
                         why="full square plus scale, mask and softmax, ~10 FLOPs per score against 12·D = 192"),
    ),
    "layernorm": FlopExpectation(
        torch=CounterCheck(_zero, why=_NO_MATMUL),
        xla=CounterCheck(analytic, 1.0, 1.75,
                         why="XLA's autodiff program does more elementwise ops than the formula's minimal 18 per "
                             "element; 27 seen (jax 0.10.2, CPU)"),
    ),
    "rmsnorm": FlopExpectation(
        torch=CounterCheck(_zero, why=_NO_MATMUL),
        xla=CounterCheck(analytic, 1.0, 1.5,
                         why="XLA's autodiff program does more elementwise ops than the formula's minimal 12 per "
                             "element; 15 seen (jax 0.10.2, CPU)"),
    ),
    "cross_entropy": FlopExpectation(
        torch=CounterCheck(_zero, why=_NO_MATMUL),
        xla=CounterCheck(analytic, 1.0, 1.35,
                         why="log-softmax, gather and their gradient spelled out: 7.0 per logit seen against the "
                             "formula's 6, although XLA files the exp under transcendentals (jax 0.10.2, CPU)"),
    ),
    "adamw": FlopExpectation(
        torch=CounterCheck(_zero, why=_NO_MATMUL),
        xla=CounterCheck(analytic, 0.92, 1.0,
                         why="XLA files √v under transcendentals, not FLOPs: 13 of the formula's 14 per parameter "
                             "seen, plus a few per-step scalars (jax 0.10.2, CPU)"),
    ),
    "mlp": FlopExpectation(
        torch=CounterCheck(analytic,
                           why="every matmul counted, forward and both backward products; activation uncounted"),
        xla=CounterCheck(analytic, 1.0, 1.08,
                         why="plus tanh-GELU, biases and their gradients, ~20 FLOPs per hidden element against "
                             "12·d = 768; +3.7% seen at tiny (gelu, jax 0.10.2, CPU)"),
    ),
    "gpt2": FlopExpectation(
        torch=CounterCheck(training_matmul_flops, why="6N+12LdT less 6·tokens per LayerNorm/bias element"),
        xla=CounterCheck(analytic, 1.0, 1.12,
                         why="all matmuls plus elementwise work; +8.1% seen at tiny (jax 0.10.2, CPU)"),
    ),
    "llama": FlopExpectation(
        torch=CounterCheck(training_matmul_flops, why="6N+12LdT less 6·tokens per RMSNorm gain"),
        xla=CounterCheck(analytic, 1.0, 1.10,
                         why="all matmuls plus elementwise work; +6.6% seen at tiny (jax 0.10.2, CPU)"),
    ),
}
"""Per-kernel expectations, at the ``tiny`` preset, where one is tighter
than (or differs from) the default of the kernel's FLOP convention."""

BY_CONVENTION: dict[str, FlopExpectation] = {
    EXACT_MATMUL: FlopExpectation(
        torch=CounterCheck(analytic, 0.98, 1.02, why="matmul-exact: every counted FLOP is a matmul's"),
        xla=CounterCheck(analytic, 1.0, 1.10, why="matmul-exact: XLA adds the few elementwise ops around the matmuls"),
    ),
    ELEMENTWISE: FlopExpectation(
        torch=CounterCheck(_zero, why=_NO_MATMUL),
        xla=CounterCheck(analytic, 0.9, 2.0,
                         why="elementwise: one FLOP per op either way, but XLA files exp/log/sqrt under "
                             "transcendentals (0.92 seen, AdamW) and autodiff spells out more ops (1.75 at most "
                             "seen, LayerNorm)"),
    ),
    PALM: FlopExpectation(
        torch=CounterCheck(training_matmul_flops, why="6N+12LdT less 6·tokens per vector parameter"),
        xla=CounterCheck(analytic, 1.0, 1.15,
                         why="all matmuls plus elementwise work (norms, softmax, AdamW): +6.6% to +8.1% seen at tiny"),
    ),
}
"""The expectation that follows from each FLOP convention, for kernels with no
entry in ``EXPECTED``."""


def expectation(kernel: Kernel) -> FlopExpectation:
    """The kernel's entry in ``EXPECTED``, else its convention's default."""
    if kernel.name in EXPECTED:
        return EXPECTED[kernel.name]
    if kernel.flop_convention in BY_CONVENTION:
        return BY_CONVENTION[kernel.flop_convention]
    raise KeyError(f"kernel '{kernel.name}' counts FLOPs as '{kernel.flop_convention}', which has no default "
                   f"expectation: add an entry for it to EXPECTED in kernels/flops.py")


@dataclass
class Counted:
    torch: float | None = None
    xla: float | None = None
    torch_by_op: dict[str, float] = field(default_factory=dict)


def torch_counted_flops(kernel: Kernel, cfg, state=None) -> tuple[float, dict[str, float]]:
    """FlopCounterMode's total over one fp32 eager CPU step, and its per-op split."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    state = kernel.make_state(cfg) if state is None else state
    program = kernel.torch_program(cfg, state, "cpu", "fp32")
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        program.step()
    by_op = {str(op): float(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}
    return float(counter.get_total_flops()), by_op


def xla_counted_flops(kernel: Kernel, cfg, state=None) -> float:
    """XLA's cost analysis of the compiled fp32 step on the CPU."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    state = kernel.make_state(cfg) if state is None else state
    program = kernel.jax_program(cfg, "fp32")
    placed = jax.device_put(program.init(state), jax.devices("cpu")[0])
    cost = jax.jit(program.step).lower(placed).compile().cost_analysis()
    if isinstance(cost, (list, tuple)):  # older JAX: one dict per program
        cost = cost[0]
    return float(cost["flops"])


def count(kernel: Kernel, cfg) -> Counted:
    """Both counters, each where the kernel has the lowering."""
    state = kernel.make_state(cfg)
    out = Counted()
    lowerings = kernel.lowerings()
    if lowerings["torch"]:
        out.torch, out.torch_by_op = torch_counted_flops(kernel, cfg, state)
    if lowerings["jax"]:
        out.xla = xla_counted_flops(kernel, cfg, state)
    return out
