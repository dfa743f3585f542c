"""PyTorch building blocks shared by the model kernels (imported only by a
torch lowering). Parameter names match the flat dicts of ``make_state``."""

from __future__ import annotations

import contextlib

import torch
import torch.nn as nn
import torch.nn.functional as F

from accelbench.kernels.precision import policy, torch_dtype


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(d_model, 3 * d_model)
        self.c_proj = nn.Linear(d_model, d_model)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        # Fused attention where the device has it (flash / memory-efficient SDPA on CUDA).
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class GeluMLP(nn.Module):
    def __init__(self, d_model: int):
        super().__init__()
        self.c_fc = nn.Linear(d_model, 4 * d_model)
        self.c_proj = nn.Linear(4 * d_model, d_model)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class GPT2Block(nn.Module):
    def __init__(self, d_model: int, n_head: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_head)
        self.ln_2 = nn.LayerNorm(d_model)
        self.mlp = GeluMLP(d_model)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2Model(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.wpe = nn.Embedding(cfg.seq_len, cfg.d_model)
        self.h = nn.ModuleList(GPT2Block(cfg.d_model, cfg.n_head) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)

        self.remat = bool(getattr(cfg, "remat", False))

    @property
    def blocks(self) -> nn.ModuleList:
        """The transformer blocks: the unit of FSDP sharding and of remat."""
        return self.h

    def forward(self, idx):
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = run_block(block, self.remat, x)
        # Output head tied to the token embedding.
        return F.linear(self.ln_f(x), self.wte.weight)


def run_block(block: nn.Module, remat: bool, *args):
    """``block(*args)``; with remat under ``torch.utils.checkpoint`` (non-reentrant,
    as the PyTorch docs recommend), which keeps only the block's inputs and
    recomputes its activations in the backward."""
    if not remat:
        return block(*args)
    from torch.utils.checkpoint import checkpoint

    return checkpoint(block, *args, use_reentrant=False)


def adamw(model: nn.Module, cfg, device) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices only (nanoGPT's grouping). The
    fused CUDA kernel where there is one; the multi-tensor path elsewhere."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    kind = torch.device(device).type
    extra = {"fused": True} if kind == "cuda" else ({"foreach": True} if kind == "cpu" else {})
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, **extra)


def autocast_context(device, precision: str):
    """Autocast to the policy's compute dtype where it differs from the master
    weights' (bf16); nothing otherwise."""
    if not policy(precision).autocast:
        return contextlib.nullcontext
    kind = torch.device(device).type
    return lambda: torch.autocast(device_type=kind, dtype=torch_dtype(precision, "compute"))


def language_model_program(model: nn.Module, cfg, state, device, precision: str, wrap=None):
    """A language model's training step as a ``TorchProgram``: forward (under
    bf16 autocast for the ``bf16`` policy), cross-entropy in fp32 (fp64 for the
    reference), backward, AdamW on fp32 master weights. ``model``'s parameter
    names are the keys of ``state`` other than ``idx`` and ``targets``."""
    from accelbench.kernels.base import TorchProgram

    dtype = torch_dtype(precision, "master")
    model = model.to(device=device, dtype=dtype)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items() if k not in ("idx", "targets")})
    idx = torch.from_numpy(state["idx"]).long().to(device)
    targets = torch.from_numpy(state["targets"]).long().to(device)
    forward = (wrap or (lambda m: m))(model)
    optimizer = adamw(model, cfg, device)  # after wrap: FSDP2 swaps the parameters for sharded DTensors
    autocast = autocast_context(device, precision)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            logits = forward(idx)
        loss = F.cross_entropy(logits.to(dtype).view(-1, cfg.vocab_size), targets.view(-1))
        loss.backward()
        optimizer.step()
        return {"loss": loss.detach()}

    def observe():
        return {"param/" + k: full_tensor(v).detach().float().cpu().numpy() for k, v in model.state_dict().items()}

    return TorchProgram(step=step, observe=observe, modules=[model, optimizer])


def full_tensor(value):
    """A parameter as one whole tensor: an FSDP2-sharded DTensor is gathered
    (``DTensor.full_tensor()``, a collective every rank must call)."""
    gather = getattr(value, "full_tensor", None)
    return gather() if callable(gather) else value
