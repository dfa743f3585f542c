"""What precision a run's matrix multiplications actually use, and the setting
that makes ``fp32`` mean fp32: a pure decision, applied by the backends.

Compilers lower default-precision fp32 matmuls to faster formats:

* neuronx-cc "will automatically cast FP32 matrix multiplication operations
  to BF16" by default (Neuron docs, "Mixed Precision and Performance-accuracy
  Tuning (neuronx-cc)", https://awsdocs-neuron.readthedocs-hosted.com/en/latest/general/appnotes/neuronx-cc/neuronx-cc-training-mixed-precision.html);
  ``--auto-cast none`` keeps the model's types. Frameworks pass compiler
  options through ``NEURON_CC_FLAGS`` (Neuron Compiler CLI Reference Guide,
  https://awsdocs-neuron.readthedocs-hosted.com/en/latest/compiler/neuronx-cc/api-reference-guide/neuron-compiler-cli-reference-guide.html).
* XLA on TPU computes default-precision fp32 dots with bfloat16 passes, and on
  recent NVIDIA GPUs with TF32 (JAX docs, "Matmul precision",
  https://docs.jax.dev/en/latest/201/precision.html). JAX's
  ``jax_default_matmul_precision`` ("float32" / "highest") and PyTorch/XLA's
  ``torch_xla.backends.set_mat_mul_precision('highest')``
  (https://docs.pytorch.org/xla/release/r2.8/_modules/torch_xla/backends.html)
  ask for full fp32.

So for ``fp32`` the backends set those knobs, and the record keeps
``backend.info.matmul_precision`` = {requested, effective, how, source};
MFU divides by the peak of the *effective* precision. ``tf32`` on Trainium is
recorded as what neuronx-cc's default does (bf16 matmuls); on a TPU as the
3-pass bfloat16 algorithm that XLA's "high" precision selects, which has no
catalog peak, so no MFU.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from dataclasses import asdict, dataclass
from typing import Any

NEURON_FP32_FLAG = "--auto-cast=none"
NEURON_DOC = ("Neuron docs: neuronx-cc mixed-precision guide (FP32 matmuls are auto-cast to BF16 by default) and "
              "CLI reference (--auto-cast none; options pass through NEURON_CC_FLAGS)")
XLA_DOC = ("JAX docs 'Matmul precision' (default fp32 dots: bf16 passes on TPU, TF32 on GPUs); "
           "jax_default_matmul_precision; torch_xla.backends.set_mat_mul_precision")


@dataclass(frozen=True)
class MatmulPlan:
    requested: str
    effective: str
    """The precision the matmuls run in: what MFU's peak is looked up by."""
    how: str
    source: str = ""
    neuron_cc_flag: str | None = None
    """A flag to add to NEURON_CC_FLAGS before the first compile."""
    xla_precision: str | None = None
    """'highest' or 'high' for torch_xla.backends.set_mat_mul_precision / jax_default_matmul_precision."""

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def plan(platform: str, precision: str, xla_knob: bool = True) -> MatmulPlan:
    """``platform``: 'neuron', 'tpu', 'gpu' (XLA on a GPU: jax-gpu, torch-xla
    with PJRT CUDA) or 'cpu'; ``precision``: the run's precision policy;
    ``xla_knob``: whether the framework can set XLA's matmul precision
    (torch-xla before 2.8 has no ``torch_xla.backends``): without it the
    record says what XLA's default runs instead."""
    if precision == "fp32":
        if platform == "neuron":
            return MatmulPlan("fp32", "fp32", f"NEURON_CC_FLAGS {NEURON_FP32_FLAG}: neuronx-cc keeps fp32 matmuls",
                              NEURON_DOC, neuron_cc_flag=NEURON_FP32_FLAG)
        if platform in ("tpu", "gpu") and not xla_knob:
            default = "bf16" if platform == "tpu" else "tf32"
            return MatmulPlan("fp32", default, f"XLA's default precision ({default} dots): this framework version "
                                               "cannot ask for 'highest'", XLA_DOC)
        if platform in ("tpu", "gpu"):
            return MatmulPlan("fp32", "fp32", "XLA matmul precision 'highest': full fp32 dots", XLA_DOC,
                              xla_precision="highest")
        return MatmulPlan("fp32", "fp32", "fp32 dots (the CPU has no reduced-precision default)")
    if precision == "tf32":
        if platform == "neuron":
            return MatmulPlan("tf32", "bf16", "neuronx-cc's default auto-cast runs fp32 matmuls in bf16", NEURON_DOC)
        if platform == "tpu" and not xla_knob:
            return MatmulPlan("tf32", "bf16", "XLA's default precision on TPU: one bf16 pass", XLA_DOC)
        if platform == "tpu":
            return MatmulPlan("tf32", "bf16_3x", "XLA matmul precision 'high': 3-pass bf16 on TPU (no TF32 there)",
                              XLA_DOC, xla_precision="high")
        if platform == "gpu":
            return MatmulPlan("tf32", "tf32", "XLA's default fp32 dot on NVIDIA GPUs is TF32", XLA_DOC)
        return MatmulPlan("tf32", "fp32", "no TF32 on the CPU: fp32 dots")
    return MatmulPlan(precision, precision, f"{precision} operands as the kernel's lowering casts them")


def with_neuron_flag(neuron_cc_flags: str, flag: str | None) -> str:
    """NEURON_CC_FLAGS with ``flag`` added, replacing any ``--auto-cast`` the user set (the run's precision wins)."""
    if not flag:
        return neuron_cc_flags
    import shlex

    kept, tokens = [], iter(shlex.split(neuron_cc_flags))
    for token in tokens:
        if token == "--auto-cast":
            next(tokens, None)  # its value, given as a separate word
        elif not token.startswith("--auto-cast="):
            kept.append(token)
    return shlex.join([*kept, flag])


def export_neuron_flag(plan: MatmulPlan, environ: MutableMapping[str, str] = os.environ) -> None:
    """Add ``plan.neuron_cc_flag`` (fp32 on Neuron) to NEURON_CC_FLAGS, before anything compiles.
    Nothing otherwise: an unset NEURON_CC_FLAGS stays unset."""
    if plan.neuron_cc_flag:
        environ["NEURON_CC_FLAGS"] = with_neuron_flag(environ.get("NEURON_CC_FLAGS", ""), plan.neuron_cc_flag)
