"""GPT-2 training step: forward, cross-entropy, backward, AdamW update.

The model follows GPT-2 (Radford et al. 2019) as nanoGPT writes it: learned
token and position embeddings, pre-LayerNorm blocks with biases, causal
self-attention, a tanh-GELU MLP of width 4·d, a final LayerNorm and an output
head tied to the token embedding. The vocabulary is padded to 50,304 (a
multiple of 64), as nanoGPT does, for all real presets.

Parameters live in one flat dict whose names are those of nanoGPT's
``state_dict`` (``transformer.`` prefix dropped), so the torch module
(``kernels/torch_models.py``) and the JAX functions (``kernels/jax_models.py``)
read the same arrays.

``remat`` (``--set remat=true``) checkpoints each block in both lowerings:
its activations are recomputed in the backward instead of kept.

Mixed precision (``bf16``): weights, gradients and AdamW state stay in fp32;
matmuls and attention run in bf16; LayerNorm, softmax and the loss in fp32.
That is what ``torch.autocast`` does, and the JAX lowering casts the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from accelbench.kernels.adamw import check_adamw_hyperparameters
from accelbench.kernels.base import JaxProgram, KernelError, Preset, TorchProgram, rng_normal
from accelbench.kernels.language_model import LanguageModel, synthetic_batch
from accelbench.kernels.precision import DTYPE_BYTES, policy


@dataclass(frozen=True)
class GPT2Config:
    n_layer: int = 2
    n_head: int = 2
    d_model: int = 64
    vocab_size: int = 256
    seq_len: int = 32
    batch: int = 2
    lr: float = 6e-4
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    weight_decay: float = 0.1
    seed: int = 0
    remat: bool = False
    """Activation checkpointing per block (torch.utils.checkpoint / jax.checkpoint)."""


def _gpt2_preset(name, n_layer, n_head, d_model, batch, desc):
    return Preset(
        name,
        {"n_layer": n_layer, "n_head": n_head, "d_model": d_model, "vocab_size": 50304, "seq_len": 1024, "batch": batch},
        desc,
    )


def param_shapes(cfg: GPT2Config) -> dict[str, tuple[int, ...]]:
    d, f = cfg.d_model, 4 * cfg.d_model
    shapes: dict[str, tuple[int, ...]] = {"wte.weight": (cfg.vocab_size, d), "wpe.weight": (cfg.seq_len, d)}
    for i in range(cfg.n_layer):
        p = f"h.{i}."
        shapes.update({
            p + "ln_1.weight": (d,), p + "ln_1.bias": (d,),
            p + "attn.c_attn.weight": (3 * d, d), p + "attn.c_attn.bias": (3 * d,),
            p + "attn.c_proj.weight": (d, d), p + "attn.c_proj.bias": (d,),
            p + "ln_2.weight": (d,), p + "ln_2.bias": (d,),
            p + "mlp.c_fc.weight": (f, d), p + "mlp.c_fc.bias": (f,),
            p + "mlp.c_proj.weight": (d, f), p + "mlp.c_proj.bias": (d,),
        })
    shapes.update({"ln_f.weight": (d,), "ln_f.bias": (d,)})
    return shapes


def count_params(cfg: GPT2Config, non_embedding: bool = True) -> int:
    """Parameters as nanoGPT's ``get_num_params`` counts them: the tied
    token embedding counted once (it is also the output head, a real matmul),
    the position embedding excluded when ``non_embedding`` (a lookup, no FLOPs)."""
    n = sum(math.prod(s) for s in param_shapes(cfg).values())
    return n - cfg.seq_len * cfg.d_model if non_embedding else n


class GPT2(LanguageModel):
    name = "gpt2"
    description = "GPT-2 training step (tied embeddings, learned positions, LayerNorm, GELU, AdamW)"
    config_cls = GPT2Config
    block_prefix = "h.0."
    presets = {
        "tiny": Preset("tiny", {}, "2 layers, d=64, vocab 256, T=32, batch 2: CPU CI size"),
        "124m": _gpt2_preset("124m", 12, 12, 768, 8, "GPT-2 small"),
        "350m": _gpt2_preset("350m", 24, 16, 1024, 8, "GPT-2 medium"),
        "774m": _gpt2_preset("774m", 36, 20, 1280, 8, "GPT-2 large"),
        "1558m": _gpt2_preset("1558m", 48, 25, 1600, 4, "GPT-2 XL"),
    }

    def validate(self, cfg: GPT2Config) -> None:
        super().validate(cfg)
        if cfg.d_model % cfg.n_head:  # the attention splits d_model into n_head equal heads
            accepted = [h for h in range(1, cfg.d_model + 1) if cfg.d_model % h == 0]
            raise KernelError(f"kernel 'gpt2': n_head ({cfg.n_head}) must divide d_model ({cfg.d_model}); "
                              f"accepted n_head: {', '.join(map(str, accepted))}")
        check_adamw_hyperparameters(self.name, cfg)

    def count_params(self, cfg: GPT2Config, non_embedding: bool = True) -> int:
        return count_params(cfg, non_embedding)

    def param_shapes(self, cfg: GPT2Config) -> dict[str, tuple[int, ...]]:
        return param_shapes(cfg)

    def activation_bytes_per_token_layer(self, cfg: GPT2Config, precision: str) -> float:
        """About 34·d + 5·H·T bytes per token per layer in 16-bit (Korthikanti
        et al. 2022, eq. 1, divided by the sequence's T tokens), doubled for
        fp32; with fused attention the 5·H·T probabilities term is not kept,
        so this errs high."""
        act_bytes = DTYPE_BYTES[policy(precision).compute]
        return (34 * cfg.d_model + 5 * cfg.n_head * cfg.seq_len) * act_bytes / 2

    def make_state(self, cfg: GPT2Config, seed: int = 0) -> dict[str, np.ndarray]:
        state = {}
        proj_std = 0.02 / math.sqrt(2 * cfg.n_layer)
        for i, (name, shape) in enumerate(param_shapes(cfg).items()):
            if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
                state[name] = np.ones(shape, np.float32)
            elif name.endswith(".bias"):
                state[name] = np.zeros(shape, np.float32)
            else:
                std = proj_std if name.endswith("c_proj.weight") else 0.02
                state[name] = rng_normal(seed * 1000 + i, shape, std)
        return state | synthetic_batch(cfg, seed)

    # ------------------------------------------------------------------ torch
    def torch_program(self, cfg, state, device, precision, wrap=None) -> TorchProgram:
        from accelbench.kernels import torch_models

        return torch_models.language_model_program(torch_models.GPT2Model(cfg), cfg, state, device, precision, wrap)

    # -------------------------------------------------------------------- jax
    def jax_program(self, cfg, precision, attention=None) -> JaxProgram:
        from accelbench.kernels import jax_models

        def forward(params, consts, idx, lowering):
            return jax_models.gpt2_forward(params, consts, idx, cfg, lowering)

        return jax_models.language_model_program(forward, cfg, precision, attention)
