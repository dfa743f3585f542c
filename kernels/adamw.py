"""One AdamW optimizer step (Loshchilov & Hutter 2019, as torch.optim.AdamW
computes it) over N parameters held in several fp32 tensors.

The state is ``n_tensors`` parameter matrices [rows, cols] with fixed
gradients (set once; nothing in the step changes them), and the two moments,
zero at the start. One step, per parameter p with gradient g at step t:

    p ← p·(1 − lr·wd)                                 decoupled weight decay
    m ← β1·m + (1 − β1)·g ;  v ← β2·v + (1 − β2)·g²
    p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + eps)

* PyTorch: ``torch.optim.AdamW`` built by ``accelbench.kernels.torch_models.adamw``:
  ``fused=True`` on CUDA (one fused kernel over all tensors), ``foreach=True``
  on the CPU (multi-tensor), the default elsewhere. ``wrap`` (torch.compile)
  applies to ``optimizer.step``.
* JAX: ``accelbench.kernels.jax_models.adamw_update``, the same update written op for op;
  XLA fuses it per tensor.

All tensors are matrices, so both lowerings apply weight decay to every one
(nanoGPT's grouping decays tensors of two or more dimensions).

FLOPs (``elementwise``), 14 per parameter: decay ·(1 − lr·wd) (1); m: two
multiplies and an add (3); v: g², two multiplies and an add (4); √v, /√(1−β2ᵗ),
+eps (3); m/denominator, ·lr/(1−β1ᵗ), subtract from p (3). Scalars computed
once per step are not counted.

Bytes: p, g, m, v read once and p, m, v written once: 7·N elements. fp32
under every precision policy except ``fp64`` (mixed-precision training keeps
the optimizer in fp32), so 28·N bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelbench.kernels.base import JaxProgram, Kernel, KernelError, Preset, TorchProgram, rng_normal
from accelbench.kernels.micro import ELEMENT_BYTES, ELEMENTWISE, jax_to_numpy, torch_to_numpy

@dataclass(frozen=True)
class AdamWConfig:
    n_tensors: int = 4
    rows: int = 32
    cols: int = 64
    lr: float = 6e-4
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    weight_decay: float = 0.1


def check_adamw_hyperparameters(kernel: str, cfg) -> None:
    """AdamW's own ranges (Loshchilov & Hutter 2019): a learning rate and a
    weight decay of 0 or more, betas in [0, 1) (the bias corrections divide by
    1 − βᵗ), eps above 0 (it keeps the denominator off zero). Shared by every
    kernel whose step ends in AdamW."""
    for name, ok, accepted in (
        ("lr", cfg.lr >= 0, "0 or more"),
        ("weight_decay", cfg.weight_decay >= 0, "0 or more"),
        ("beta1", 0 <= cfg.beta1 < 1, "from 0 up to (not including) 1"),
        ("beta2", 0 <= cfg.beta2 < 1, "from 0 up to (not including) 1"),
        ("eps", cfg.eps > 0, "above 0"),
    ):
        if not ok:
            raise KernelError(f"setting '{name}' of kernel '{kernel}' must be {accepted}, got {getattr(cfg, name)}")


def _state_precision(precision: str) -> str:
    return "fp64" if precision == "fp64" else "fp32"


def _tensor_names(cfg: AdamWConfig) -> list[str]:
    width = len(str(cfg.n_tensors - 1))
    return [f"t{i:0{width}d}" for i in range(cfg.n_tensors)]


class AdamW(Kernel):
    name = "adamw"
    description = "one AdamW step over N fp32 parameters in n_tensors matrices (optimizer state stays fp32)"
    config_cls = AdamWConfig
    flop_convention = ELEMENTWISE
    presets = {
        "tiny": Preset("tiny", {}, "4 × [32 × 64] = 8,192 parameters: CPU CI size"),
        "124m": Preset("124m", {"n_tensors": 118, "rows": 1024, "cols": 1024}, "118 × 1 Mi = 123.7M parameters"),
        "350m": Preset(
            "350m", {"n_tensors": 334, "rows": 1024, "cols": 1024}, "334 × 1 Mi = 350.2M parameters, the design anchor"
        ),
    }

    def validate(self, cfg: AdamWConfig) -> None:
        super().validate(cfg)
        check_adamw_hyperparameters(self.name, cfg)

    def n_params(self, cfg: AdamWConfig) -> int:
        return cfg.n_tensors * cfg.rows * cfg.cols

    def flops_per_step(self, cfg: AdamWConfig) -> float:
        return 14.0 * self.n_params(cfg)

    def bytes_per_step(self, cfg: AdamWConfig, precision: str = "fp32") -> float:
        return 7.0 * self.n_params(cfg) * ELEMENT_BYTES[_state_precision(precision)]

    def memory_estimate_bytes(self, cfg: AdamWConfig, precision: str) -> float:
        """Parameters, gradients and the two moments."""
        return 4.0 * self.n_params(cfg) * ELEMENT_BYTES[_state_precision(precision)]

    def make_state(self, cfg: AdamWConfig, seed: int = 0) -> dict[str, np.ndarray]:
        state = {}
        shape = (cfg.rows, cfg.cols)
        for i, name in enumerate(_tensor_names(cfg)):
            state[f"param/{name}"] = rng_normal(seed + 2 * i, shape, 0.02)
            state[f"grad/{name}"] = rng_normal(seed + 2 * i + 1, shape, 0.01)
        return state

    # ------------------------------------------------------------------ torch
    def torch_program(self, cfg, state, device, precision, wrap=None) -> TorchProgram:
        import torch

        from accelbench.kernels import torch_models

        dtype = torch.float64 if precision == "fp64" else torch.float32
        names = _tensor_names(cfg)
        # copy=True: the optimizer updates in place, and the numpy state must stay
        # the initial values (the numerics reference starts from it too).
        put = lambda a: torch.from_numpy(a).to(device=device, dtype=dtype, copy=True)  # noqa: E731
        params = torch.nn.ParameterList(torch.nn.Parameter(put(state[f"param/{n}"])) for n in names)
        for p, n in zip(params, names):
            p.grad = put(state[f"grad/{n}"])
        optimizer = torch_models.adamw(params, cfg, device)
        update = (wrap or (lambda f: f))(optimizer.step)

        def step():
            update()
            return {}

        def observe():
            observed = {}
            for p, n in zip(params, names):
                moments = optimizer.state[p]
                observed[f"param/{n}"] = torch_to_numpy(p)
                observed[f"m/{n}"] = torch_to_numpy(moments["exp_avg"])
                observed[f"v/{n}"] = torch_to_numpy(moments["exp_avg_sq"])
            return observed

        return TorchProgram(step=step, observe=observe, modules=[params, optimizer])

    # -------------------------------------------------------------------- jax
    def jax_program(self, cfg, precision) -> JaxProgram:
        import jax.numpy as jnp

        from accelbench.kernels import jax_models

        dtype = jnp.float64 if precision == "fp64" else jnp.float32
        names = _tensor_names(cfg)

        def init(arrays):
            params = {n: jnp.asarray(arrays[f"param/{n}"], dtype) for n in names}
            grads = {n: jnp.asarray(arrays[f"grad/{n}"], dtype) for n in names}
            return {"params": params, "grads": grads, "opt": jax_models.adamw_init(params)}

        def step(state):
            params, opt = jax_models.adamw_update(state["params"], state["grads"], state["opt"], cfg)
            # Only the step count is returned: returning the parameters too would
            # make XLA copy them into a second output. PJRT marks every result of
            # one execution ready together, so fencing on it waits for the update.
            return {**state, "params": params, "opt": opt}, {"step": opt["t"]}

        def observe(state, outputs):
            observed = {}
            for n in names:
                observed[f"param/{n}"] = jax_to_numpy(state["params"][n])
                observed[f"m/{n}"] = jax_to_numpy(state["opt"]["m"][n])
                observed[f"v/{n}"] = jax_to_numpy(state["opt"]["v"][n])
            return observed

        return JaxProgram(init=init, step=step, observe=observe)
