"""Numerics: does a backend compute the same numbers as a float64 reference?

After the first two steps of a case, the backend's observables (the loss and
the updated weights of a training step; the outputs and gradients of a micro
kernel) are compared with the same kernel run in float64 on the CPU from the
same initial state. Observables are grouped by the prefix before '/'
(``param/…``, ``grad/…``) and each group is compared as one vector:

    relative error = ‖observed − reference‖₂ / ‖reference‖₂

so a tensor that starts at zero (a bias) is judged with its peers rather
than on its own tiny norm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelbench.kernels.precision import policy

NUMERICS_STEPS = 2
"""Steps run before observing: the second step's loss depends on the first
update, so forward, backward and optimizer all show in the comparison."""



@dataclass(frozen=True)
class NumericsResult:
    reference: str | None
    max_rel_err: float | None
    worst: str | None
    tolerance: float | None
    passed: bool | None


def group_errors(observed: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> dict[str, float]:
    missing = sorted(set(reference) - set(observed))
    if missing:
        raise ValueError(f"observables missing from the backend's output: {', '.join(missing[:5])}")
    groups: dict[str, list[str]] = {}
    for key in sorted(reference):
        groups.setdefault(key.split("/", 1)[0], []).append(key)
    errors = {}
    for group, keys in groups.items():
        ref = np.concatenate([np.asarray(reference[k], np.float64).ravel() for k in keys])
        obs = np.concatenate([np.asarray(observed[k], np.float64).ravel() for k in keys])
        if ref.shape != obs.shape:
            raise ValueError(f"observable group '{group}' has shape {obs.shape}, reference {ref.shape}")
        if not np.all(np.isfinite(obs)):
            errors[group] = float("inf")
            continue
        denom = np.linalg.norm(ref)
        errors[group] = float(np.linalg.norm(obs - ref) / denom) if denom > 0 else float(np.linalg.norm(obs))
    return errors


def compare(observed, reference, precision: str, reference_name: str) -> NumericsResult:
    errors = group_errors(observed, reference)
    worst = max(errors, key=errors.get)
    tol = policy(precision).tolerance  # kernels/precision.py says why each
    return NumericsResult(reference_name, errors[worst], worst, tol, errors[worst] <= tol)


def check_prepared(kernel, cfg, state, preset: str, prepared, fence, outputs, precision: str, read_loss):
    """The numerics phase of a case, given the fenced outputs of step 1: run
    the remaining ``NUMERICS_STEPS`` steps and, for the ``tiny`` preset,
    compare the observables (and the loss, via ``read_loss``) with the float64
    reference. Returns the last outputs and the result (None when not checked)."""
    for _ in range(NUMERICS_STEPS - 1):
        outputs = prepared.step()
        fence(outputs)
    if preset != "tiny":
        return outputs, None
    observed = prepared.observe()
    if "loss" in outputs:
        observed["loss"] = read_loss(outputs)
    ref_name, reference = reference_observables(kernel, cfg, state)
    return outputs, compare(observed, reference, precision, ref_name)


def reference_observables(kernel, cfg, state) -> tuple[str, dict[str, np.ndarray]]:
    """The kernel in float64 on the CPU, NUMERICS_STEPS steps, through its torch
    lowering (or its JAX lowering with x64 enabled where torch is absent)."""
    import importlib.util

    if importlib.util.find_spec("torch") is not None and kernel.lowerings()["torch"]:
        program = kernel.torch_program(cfg, state, "cpu", "fp64")
        for _ in range(NUMERICS_STEPS):
            outputs = program.step()
        observed = program.observe()
        if "loss" in outputs:
            observed["loss"] = np.asarray(float(outputs["loss"]))
        return "torch-cpu fp64", observed
    import jax

    jax.config.update("jax_enable_x64", True)
    program = kernel.jax_program(cfg, "fp64")
    step = jax.jit(program.step)
    current = program.init(state)
    for _ in range(NUMERICS_STEPS):
        current, outputs = step(current)
    observed = program.observe(current, outputs)
    if "loss" in outputs:
        observed["loss"] = np.asarray(float(outputs["loss"]))
    return "jax-cpu fp64", observed
