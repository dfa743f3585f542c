"""What precision a run's matrix multiplications actually use, and the setting
that makes ``fp32`` mean fp32: a pure decision, applied by the backends.

Compilers lower default-precision fp32 matmuls to faster formats, and
what neuronx-cc does depends on its version:

* neuronx-cc's ``--auto-cast`` (which fp32 operations to cast) defaulted to
  ``matmult`` (fp32 matmuls cast to ``--auto-cast-type``, default bf16) until
  Neuron 2.27, which changed the default to ``none`` ("The ``--auto-cast``
  flag now defaults to ``none`` (previously ``matmul``)": Neuron 2.27.0
  compiler release notes, 2025-12-19,
  https://awsdocs-neuron.readthedocs-hosted.com/en/latest/release-notes/2.27.0/compiler.html).
  ``--auto-cast-type`` accepts ``bf16``, ``fp16`` and ``tf32`` (Neuron
  Compiler CLI Reference Guide,
  https://awsdocs-neuron.readthedocs-hosted.com/en/latest/compiler/neuronx-cc/api-reference-guide/neuron-compiler-cli-reference-guide.html);
  the mixed-precision guide lists ``--auto-cast matmult --auto-cast-type
  tf32`` among its option combinations ("Mixed Precision and
  Performance-accuracy Tuning (neuronx-cc)",
  https://awsdocs-neuron.readthedocs-hosted.com/en/latest/general/appnotes/neuronx-cc/neuronx-cc-training-mixed-precision.html);
  frameworks pass options through ``NEURON_CC_FLAGS``. So accelbench never
  relies on the default: ``fp32`` passes ``--auto-cast=none`` and ``tf32``
  passes ``--auto-cast=matmult --auto-cast-type=tf32``, on every compiler
  version; the record keeps what this version would have done without them
  (``compiler_default``, ``neuronx_cc_default``).
* XLA on TPU computes default-precision fp32 dots with bfloat16 passes, and on
  recent NVIDIA GPUs with TF32 (JAX docs, "Matmul precision",
  https://docs.jax.dev/en/latest/201/precision.html). JAX's
  ``jax_default_matmul_precision`` ("float32" / "highest") and PyTorch/XLA's
  ``torch_xla.backends.set_mat_mul_precision('highest')``
  (https://docs.pytorch.org/xla/release/r2.8/_modules/torch_xla/backends.html)
  ask for full fp32.

The record keeps ``backend.info.matmul_precision`` = {requested, effective,
how, source, ...}; MFU divides by the peak of the *effective* precision. A
TPU's ``tf32`` is the 3-pass bfloat16 algorithm XLA's "high" precision
selects, which has no catalog peak, so no MFU.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from dataclasses import asdict, dataclass
from typing import Any

NEURON_FP32_FLAG = "--auto-cast=none"
NEURON_TF32_FLAGS = "--auto-cast=matmult --auto-cast-type=tf32"
NEURON_DOC = ("Neuron Compiler CLI Reference Guide (--auto-cast none|matmult|all, --auto-cast-type bf16|fp16|tf32; "
              "options pass through NEURON_CC_FLAGS); neuronx-cc mixed-precision guide (--auto-cast matmult "
              "--auto-cast-type tf32); Neuron 2.27.0 compiler release notes, 2025-12-19 (--auto-cast default "
              "changed from matmul to none)")
XLA_DOC = ("JAX docs 'Matmul precision' (default fp32 dots: bf16 passes on TPU, TF32 on GPUs); "
           "jax_default_matmul_precision; torch_xla.backends.set_mat_mul_precision")


@dataclass(frozen=True)
class CompilerDefault:
    """What a neuronx-cc version does with an fp32 matmul when no ``--auto-cast`` is given."""
    auto_cast: str | None
    """'matmult' (fp32 matmuls cast to bf16), 'none' (kept fp32), or None: not known for this version."""
    reason: str

    @property
    def fp32_matmuls_run_in(self) -> str | None:
        return {"matmult": "bf16", "none": "fp32"}.get(self.auto_cast or "")


LAST_MATMULT_DEFAULT = (2, 20)
"""neuronx-cc 2.20.2831.0 (07/31/2025, Neuron 2.25) announced that the default
"will change from --auto-cast=matmult to --auto-cast=none in a future release"
(neuronx-cc release notes, https://awsdocs-neuron.readthedocs-hosted.com/en/v2.26.1/release-notes/compiler/neuronx-cc/index.html);
Neuron 2.26 shipped no compiler update (Neuron docs, "Neuron Compiler - Prior Release Notes")."""
FIRST_KNOWN_NONE_DEFAULT = (2, 24)
"""neuronx-cc 2.24.5133.0 (Neuron 2.29, 04/09/2026) and every later one listed
(2.25.3371.0, 2.26.6360.0, 2.27.5334.0, 2.28.7631.0 in Neuron 2.30-2.33: the
component release-note indexes, e.g.
https://awsdocs-neuron.readthedocs-hosted.com/en/v2.33.0/release-notes/components/index.html)
came after Neuron 2.27 made ``none`` the default."""
AMBIGUOUS_VERSIONS = {"2.15.54.0": "the Neuron docs list 2.15.54.0 as the compiler of Neuron 2.27.0 (the release that "
                                   "made 'none' the default), but neuronx-cc 2.15 is also a 2024 series that defaulted "
                                   "to 'matmult'"}


def neuronx_cc_default(version: str | None) -> CompilerDefault:
    """The ``--auto-cast`` default of neuronx-cc ``version`` (as ``pip`` names it, e.g. '2.28.7631.0')."""
    if version is None:
        return CompilerDefault(None, "neuronx-cc is not installed here: its version, and so its default, is unknown")
    if version.split("+")[0] in AMBIGUOUS_VERSIONS:
        return CompilerDefault(None, AMBIGUOUS_VERSIONS[version.split("+")[0]])
    parts = version.split("+")[0].split(".")
    try:
        minor = (int(parts[0]), int(parts[1]))
    except (IndexError, ValueError):
        return CompilerDefault(None, f"neuronx-cc version '{version}' is not MAJOR.MINOR...")
    if minor <= LAST_MATMULT_DEFAULT:
        return CompilerDefault("matmult", f"neuronx-cc {version} predates Neuron 2.27: --auto-cast defaults to "
                                          "matmult (fp32 matmuls run in bf16)")
    if minor >= FIRST_KNOWN_NONE_DEFAULT:
        return CompilerDefault("none", f"neuronx-cc {version} (Neuron 2.29 or later): --auto-cast defaults to none "
                                       "since Neuron 2.27 (fp32 matmuls stay fp32)")
    return CompilerDefault(None, f"neuronx-cc {version} falls between the last documented 'matmult' default (2.20) "
                                 "and the first version documented after the change (2.24)")


@dataclass(frozen=True)
class MatmulPlan:
    requested: str
    effective: str
    """The precision the matmuls run in: what MFU's peak is looked up by."""
    how: str
    source: str = ""
    neuron_cc_flag: str | None = None
    """Flags to add to NEURON_CC_FLAGS before the first compile (replacing any --auto-cast* the user set)."""
    compiler_default: str | None = None
    """Neuron: what this neuronx-cc version would do to fp32 matmuls without the flag (a sentence)."""
    assumed: str | None = None
    """Why ``effective`` is assumed rather than known (None: known); MFU then carries a precision-assumed mark."""
    xla_precision: str | None = None
    """'highest' or 'high' for torch_xla.backends.set_mat_mul_precision / jax_default_matmul_precision."""

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def plan(platform: str, precision: str, xla_knob: bool = True, neuronx_cc_version: str | None = None) -> MatmulPlan:
    """``platform``: 'neuron', 'tpu', 'gpu' (XLA on a GPU: jax-gpu, torch-xla
    with PJRT CUDA) or 'cpu'; ``precision``: the run's precision policy;
    ``xla_knob``: whether the framework can set XLA's matmul precision
    (torch-xla before 2.8 has no ``torch_xla.backends``): without it the
    record says what XLA's default runs instead; ``neuronx_cc_version``: the
    installed neuronx-cc, whose default is recorded beside the flag."""
    if platform == "neuron":
        return neuron_plan(precision, neuronx_cc_default(neuronx_cc_version))
    if precision == "fp32":
        if platform in ("tpu", "gpu") and not xla_knob:
            default = "bf16" if platform == "tpu" else "tf32"
            return MatmulPlan("fp32", default, f"XLA's default precision ({default} dots): this framework version "
                                               "cannot ask for 'highest'", XLA_DOC)
        if platform in ("tpu", "gpu"):
            return MatmulPlan("fp32", "fp32", "XLA matmul precision 'highest': full fp32 dots", XLA_DOC,
                              xla_precision="highest")
        return MatmulPlan("fp32", "fp32", "fp32 dots (the CPU has no reduced-precision default)")
    if precision == "tf32":
        if platform == "tpu" and not xla_knob:
            return MatmulPlan("tf32", "bf16", "XLA's default precision on TPU: one bf16 pass", XLA_DOC)
        if platform == "tpu":
            return MatmulPlan("tf32", "bf16_3x", "XLA matmul precision 'high': 3-pass bf16 on TPU (no TF32 there)",
                              XLA_DOC, xla_precision="high")
        if platform == "gpu":
            return MatmulPlan("tf32", "tf32", "XLA's default fp32 dot on NVIDIA GPUs is TF32", XLA_DOC)
        return MatmulPlan("tf32", "fp32", "no TF32 on the CPU: fp32 dots")
    return MatmulPlan(precision, precision, f"{precision} operands as the kernel's lowering casts them")


def neuron_plan(precision: str, default: CompilerDefault) -> MatmulPlan:
    """Neuron: the flag is always given, so what runs does not depend on the compiler's default (recorded beside)."""
    if precision == "fp32":
        return MatmulPlan("fp32", "fp32", f"NEURON_CC_FLAGS {NEURON_FP32_FLAG}: neuronx-cc keeps fp32 matmuls in fp32",
                          NEURON_DOC, neuron_cc_flag=NEURON_FP32_FLAG, compiler_default=default.reason)
    if precision == "tf32":
        return MatmulPlan("tf32", "tf32", f"NEURON_CC_FLAGS {NEURON_TF32_FLAGS}: neuronx-cc casts fp32 matmuls to "
                                          "TensorFloat-32", NEURON_DOC, neuron_cc_flag=NEURON_TF32_FLAGS,
                          compiler_default=default.reason)
    return MatmulPlan(precision, precision, f"{precision} operands as the kernel's lowering casts them (autocast); "
                                            "no --auto-cast flag", compiler_default=default.reason)


def with_neuron_flag(neuron_cc_flags: str, flag: str | None) -> str:
    """NEURON_CC_FLAGS with ``flag`` (one or more words) added, replacing any
    ``--auto-cast`` and ``--auto-cast-type`` the user set (the run's precision wins)."""
    if not flag:
        return neuron_cc_flags
    import shlex

    kept, tokens = [], iter(shlex.split(neuron_cc_flags))
    for token in tokens:
        if token in ("--auto-cast", "--auto-cast-type"):
            next(tokens, None)  # its value, given as a separate word
        elif not token.startswith(("--auto-cast=", "--auto-cast-type=")):
            kept.append(token)
    return shlex.join([*kept, *shlex.split(flag)])


def export_neuron_flag(plan: MatmulPlan, environ: MutableMapping[str, str] = os.environ) -> None:
    """Add ``plan.neuron_cc_flag`` (fp32, tf32 on Neuron) to NEURON_CC_FLAGS, before anything compiles.
    Nothing otherwise: an unset NEURON_CC_FLAGS stays unset."""
    if plan.neuron_cc_flag:
        environ["NEURON_CC_FLAGS"] = with_neuron_flag(environ.get("NEURON_CC_FLAGS", ""), plan.neuron_cc_flag)
