"""Numerics: does a backend compute the same numbers as a float64 reference?

After the first two steps of a case, the backend's observables (the loss and
the updated weights of a training step; the outputs and gradients of a micro
kernel) are compared with the same kernel run in float64 on the CPU from the
same initial state. Observables are grouped by the prefix before '/'
(``param/…``, ``grad/…``) and each group is compared as one vector:

    relative error = ‖observed − reference‖₂ / ‖reference‖₂

so a tensor that starts at zero (a bias) is judged with its peers rather
than on its own tiny norm.

A training step also shows what it *changed*, judged against the size of the
change rather than of the weights: one AdamW update moves a weight by about
lr (1e-4 of a tiny model's ‖p‖, 1–2 % of it after two steps), far below the
bf16 tolerance on ‖p‖, so a step that never updated, or updated at half the
learning rate, would pass a comparison of the weights alone. Two derived
groups see it:

* ``update/…`` = p after the numerics steps − p before (the kernel's initial
  state), relative to ‖reference update‖;
* ``loss_change`` = the loss of each later numerics step − the first step's
  loss, relative to ‖reference loss change‖ (the first loss is taken before
  any update, so its change is what the updates did to the objective).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accelbench.facts.envinfo import package_version
from accelbench.harness import reference_cache
from accelbench.kernels.precision import policy

NUMERICS_STEPS = 3
"""Steps run before observing: the second and third steps' losses depend on
the updates before them, so forward, backward and optimizer all show in the
comparison, and the loss change has two points (a trajectory, not one value)."""


CHANGE_GROUPS = ("update", "loss_change")
"""Groups judged by the change tolerance (``Precision.change_tolerance``): their
reference norm is small, so rounding weighs more."""


@dataclass(frozen=True)
class NumericsResult:
    reference: str | None
    max_rel_err: float | None
    worst: str | None
    tolerance: float | None
    passed: bool | None
    replica: str | None = None
    """The worst device's label where one process held several replicas."""


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
    """The worst group against its tolerance: the policy's ``tolerance`` for
    observed values, its ``change_tolerance`` for the change groups; the worst is the group
    furthest over (or nearest to) its own tolerance."""
    errors = group_errors(observed, reference)
    tolerances = {g: _tolerance(g, precision) for g in errors}
    worst = max(errors, key=lambda g: errors[g] / tolerances[g])
    return NumericsResult(reference_name, errors[worst], worst, tolerances[worst], errors[worst] <= tolerances[worst])


def _tolerance(group: str, precision: str) -> float:
    """The policy's tolerance for observed values, its change tolerance for
    the change groups (``kernels/precision.py`` says why each)."""
    dtypes = policy(precision)
    return dtypes.change_tolerance if group in CHANGE_GROUPS else dtypes.tolerance


def with_changes(observed: dict[str, np.ndarray], initial: dict[str, np.ndarray], losses: list[float]):
    """``observed`` plus the change groups: ``update/X`` for every ``param/X``
    whose initial value is in ``initial`` (as ``param/X`` or ``X``), and
    ``loss_change`` when there are two losses or more."""
    out = dict(observed)
    for key, value in observed.items():
        if not key.startswith("param/"):
            continue
        name = key.split("/", 1)[1]
        before = initial.get(key, initial.get(name))
        if before is not None and np.shape(before) == np.shape(value):
            out["update/" + name] = np.asarray(value, np.float64) - np.asarray(before, np.float64)
    if len(losses) >= 2:
        out["loss_change"] = np.asarray(losses[1:], np.float64) - losses[0]
    return out


def check_prepared(kernel, cfg, state, preset: str, prepared, fence, outputs, precision: str, read_loss,
                   cache: Path | None = None):
    """The numerics phase of a case, given the fenced outputs of step 1: run
    the remaining ``NUMERICS_STEPS`` steps, reading the loss of each, and, for
    the ``tiny`` preset, compare the observables, the update and the loss
    change with the float64 reference. ``kernel`` gives the reference (a test
    may pass the correct kernel while ``prepared`` runs an injected fault).
    ``cache``: the run's reference folder (``reference_run``).
    Returns the last outputs and the result (None when not checked)."""
    losses = [read_loss(outputs)] if "loss" in outputs else []
    for _ in range(NUMERICS_STEPS - 1):
        outputs = prepared.step()
        fence(outputs)
        if losses:
            losses.append(read_loss(outputs))
    if preset != "tiny":
        return outputs, None
    replicas = prepared.replicas() if prepared.replicas else {None: prepared.observe()}
    ref_name, reference, ref_losses = reference_run(kernel, cfg, state, cache)
    reference = with_changes(reference, state, ref_losses)
    results = []
    for label, observed in replicas.items():
        if losses:
            observed["loss"] = np.asarray(losses[-1])
        result = compare(with_changes(observed, state, losses), reference, precision, ref_name)
        results.append(dataclasses.replace(result, replica=label))
    # The worst copy speaks for the case: one device that missed the all-reduce fails it.
    return outputs, max(results, key=lambda r: r.max_rel_err / r.tolerance)


def reference_observables(kernel, cfg, state) -> tuple[str, dict[str, np.ndarray]]:
    """The float64 reference's observables after NUMERICS_STEPS steps (the loss included)."""
    name, observed, _ = reference_run(kernel, cfg, state)
    return name, observed


def reference_run(kernel, cfg, state, cache: Path | None = None) -> tuple[str, dict[str, np.ndarray], list[float]]:
    """The kernel in float64 on the host CPU, NUMERICS_STEPS steps, through its
    torch lowering (or its JAX lowering with x64 enabled where torch is
    absent): (name, observables, the loss of each step). With ``cache`` (the
    run's reference folder, ``harness.reference_cache``), found there when an
    earlier case of the run computed it, else computed and stored."""
    use_torch = importlib.util.find_spec("torch") is not None and bool(kernel.lowerings()["torch"])
    if cache is None:
        return _reference_run(kernel, cfg, state, use_torch)
    package = "torch" if use_torch else "jax"
    implementation = f"{package} {package_version(package) or 'unknown'}"
    digest = reference_cache.key(kernel.name, cfg, state, NUMERICS_STEPS, implementation)
    found = reference_cache.load(cache, digest)
    if found is None:
        found = _reference_run(kernel, cfg, state, use_torch)
        reference_cache.store(cache, digest, *found)
    return found


def _reference_run(kernel, cfg, state, use_torch: bool) -> tuple[str, dict[str, np.ndarray], list[float]]:
    losses = []
    if use_torch:
        program = kernel.torch_program(cfg, state, "cpu", "fp64")
        for _ in range(NUMERICS_STEPS):
            outputs = program.step()
            if "loss" in outputs:
                losses.append(float(outputs["loss"]))
        observed = program.observe()
        name = "torch-cpu fp64"
    else:
        name, observed, losses = "jax-cpu fp64", *_jax_reference(kernel, cfg, state)
    if losses:
        observed["loss"] = np.asarray(losses[-1])
    return name, observed, losses


def _jax_reference(kernel, cfg, state):
    """On JAX's CPU device even when an accelerator is the default device (a
    JAX-only environment on a GPU/TPU/Trainium host): ``jax.default_device``
    places the arrays and the jitted step there (JAX docs, "jax.default_device";
    the CPU platform must be initialised, see ``JaxBackend.select_platform``)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    cpu = jax.devices("cpu")[0]
    losses = []
    with jax.default_device(cpu):
        program = kernel.jax_program(cfg, "fp64")
        step = jax.jit(program.step)
        current = jax.device_put(program.init(state), cpu)
        for _ in range(NUMERICS_STEPS):
            current, outputs = step(current)
            if "loss" in outputs:
                losses.append(float(outputs["loss"]))
        observed = program.observe(current, outputs)
    return observed, losses
