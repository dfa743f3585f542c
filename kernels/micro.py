"""What the micro kernels share: the two lowerings of
"run an operator forward, then pull a fixed upstream gradient back through it".

A micro kernel's step is one forward and one backward of an operator
``y = f(inputs)`` against a fixed cotangent ``dy`` held in the state (for a
scalar loss, ``dy`` is 1). The observables are ``y`` under its own name and
every input gradient under ``grad/<input>``, so the numerics check compares
the outputs as one group and all gradients as another.

* PyTorch: the inputs are leaf tensors with ``requires_grad``; the backward is
  ``torch.autograd.grad(y, inputs, dy)``, which returns fresh gradients each
  step (nothing accumulates in ``.grad``).
* JAX: ``jax.vjp(f, *inputs)`` then the pullback applied to ``dy``, traced
  under full-precision matmuls for ``fp32``/``fp64`` (XLA may otherwise pick
  TF32 or bf16 passes on GPUs and TPUs).

Framework imports happen inside the functions, as everywhere in ``kernels``.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from accelbench.kernels.base import JaxProgram, TorchProgram, jax_dtype, policy, torch_dtype

def rng_normal_float32(seed: int, shape, scale: float = 1.0) -> np.ndarray:
    """Deterministic N(0, scale²) values drawn directly in float32. For tensors
    of around a billion elements (cross-entropy logits at Llama 3's vocabulary),
    where ``accelbench.kernels.base.rng_normal``'s float64 draw would need 16 bytes per
    element at its peak; a different stream from ``rng_normal`` for the same seed."""
    values = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    values *= np.float32(scale)
    return values


# ----------------------------------------------------------------------- torch
def torch_to_numpy(tensor) -> np.ndarray:
    """float64 stays float64 (the reference); every other float becomes float32."""
    import torch

    tensor = tensor.detach()
    return tensor.cpu().numpy() if tensor.dtype == torch.float64 else tensor.float().cpu().numpy()


def torch_vjp_program(
    forward: Callable[..., Any],
    inputs: Mapping[str, Any],
    cotangent: Any | None,
    output_name: str,
    wrap: Callable | None = None,
) -> TorchProgram:
    """One forward of ``forward(**inputs)`` and the backward of ``cotangent``
    through it. ``wrap`` (e.g. ``torch.compile``) is applied to ``forward``;
    autograd then runs the compiled backward too."""
    import torch

    leaves = {name: t.detach().requires_grad_(True) for name, t in inputs.items()}
    fwd = (wrap or (lambda f: f))(forward)
    last: dict[str, Any] = {}

    def step():
        y = fwd(**leaves)
        grads = torch.autograd.grad(y, list(leaves.values()), grad_outputs=cotangent)
        outputs = {output_name: y.detach(), **{f"grad/{name}": g for name, g in zip(leaves, grads)}}
        last.clear()
        last.update(outputs)
        return outputs

    def observe():
        return {name: torch_to_numpy(value) for name, value in last.items()}

    return TorchProgram(step=step, observe=observe)


def torch_state_vjp_program(
    forward: Callable[..., Any],
    state: Mapping[str, np.ndarray],
    differentiate: Sequence[str],
    cotangent: str,
    output_name: str,
    device,
    precision: str,
    wrap: Callable | None = None,
) -> TorchProgram:
    """``torch_vjp_program`` over arrays of the state: the ``differentiate``
    inputs and the ``cotangent`` placed on ``device`` in the policy's storage dtype."""
    import torch

    dtype = torch_dtype(precision)

    def put(name):
        return torch.from_numpy(state[name]).to(device=device, dtype=dtype)

    return torch_vjp_program(forward, {name: put(name) for name in differentiate}, put(cotangent), output_name, wrap)


# ------------------------------------------------------------------------- jax
def jax_to_numpy(array) -> np.ndarray:
    """float64 stays float64; bf16 and fp32 become float32."""
    value = np.asarray(array)
    return value if value.dtype == np.float64 else np.asarray(array, dtype=np.float32)


def jax_matmul_scope(precision: str):
    """Full-precision matmuls while tracing for fp32/fp64: ``lax.dot_general``
    reads ``jax_default_matmul_precision`` when it is traced, so this also
    covers library calls that take no ``precision`` argument (e.g.
    ``jax.nn.dot_product_attention``) and the transposed dots of the backward."""
    import jax

    if policy(precision).full_precision_matmuls:
        return jax.default_matmul_precision("highest")
    return contextlib.nullcontext()


def jax_vjp_program(
    init: Callable[[dict[str, np.ndarray]], dict[str, Any]] | None,
    forward: Callable[[dict[str, Any]], Any],
    differentiate: Sequence[str],
    cotangent: str | None,
    output_name: str,
    precision: str,
    to_reference_layout: Callable[[str, Any], Any] | None = None,
) -> JaxProgram:
    """``forward(values) -> y`` where ``values`` is the state with the
    ``differentiate`` entries substituted; the step returns ``y`` and the
    pullback of ``state[cotangent]`` (ones for a scalar when None).
    ``to_reference_layout(name, array)`` undoes a layout change ``init`` made,
    so observables match the layout of ``make_state``. ``init`` None: every
    array in the policy's storage dtype."""
    import jax
    import jax.numpy as jnp

    names = list(differentiate)
    if init is None:
        dtype = jax_dtype(precision)

        def init(arrays):
            return {name: jnp.asarray(value, dtype) for name, value in arrays.items()}

    def step(state):
        with jax_matmul_scope(precision):
            def f(*diff):
                return forward({**state, **dict(zip(names, diff))})

            y, pullback = jax.vjp(f, *(state[n] for n in names))
            dy = state[cotangent] if cotangent else jnp.ones_like(y)
            grads = pullback(dy)
        return state, {output_name: y, **{f"grad/{n}": g for n, g in zip(names, grads)}}

    def observe(state, outputs):
        relayout = to_reference_layout or (lambda name, a: a)
        return {name: jax_to_numpy(relayout(name, value)) for name, value in outputs.items()}

    return JaxProgram(init=init, step=step, observe=observe)
