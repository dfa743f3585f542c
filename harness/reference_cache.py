"""The float64 reference of a workload, computed once per run and shared by its cases.

The numerics check compares every tiny case with a float64 run of the same
kernel, from the same initial state, on the host CPU (``harness.numerics``).
That reference does not depend on the backend measured, so the cases of one
``accelbench run`` that share a workload (the smoke suite's torch-cpu and
jax-cpu cases of gpt2:tiny) would compute it again and again, and a JAX case
would import torch only for it (about 2 s on the 2-core machine, 4 s with the
``torch._dynamo`` that ``torch.optim.AdamW`` loads).

The runner makes one folder per run (a temporary folder, removed when the run
ends, so nothing is reused across runs or environments) and names it to its
case processes in ``ACCELBENCH_REFERENCE_CACHE``. A case finds the reference
there by a key over everything it depends on, or computes and stores it.
Unset (pytest plugin, a case started by hand): every case computes its own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from accelbench.harness.case_env import REFERENCE_CACHE_VAR


def directory_from_env(environ=os.environ) -> Path | None:
    value = environ.get(REFERENCE_CACHE_VAR)
    return Path(value) if value and Path(value).is_dir() else None


def key(kernel_name: str, cfg: Any, state: dict[str, Any], steps: int, implementation: str) -> str:
    """A digest of what the reference depends on: the kernel, its config, every
    initial array (name, dtype, shape and bytes), the steps run, and which
    implementation computes it (e.g. ``torch 2.13.0``)."""
    digest = hashlib.sha256()
    config = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type) else cfg
    digest.update(json.dumps([kernel_name, config, steps, implementation], sort_keys=True, default=str).encode())
    for name in sorted(state):
        array = np.ascontiguousarray(state[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def load(directory: Path, digest: str) -> tuple[str, dict[str, np.ndarray], list[float]] | None:
    path = directory / f"{digest}.npz"
    try:
        with np.load(path, allow_pickle=False) as stored:
            name = str(stored["__name__"])
            losses = [float(v) for v in stored["__losses__"]]
            observed = {k[len("obs:"):]: stored[k] for k in stored.files if k.startswith("obs:")}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):  # absent, or torn: compute it
        return None
    return name, observed, losses


def store(directory: Path, digest: str, name: str, observed: dict[str, Any], losses: list[float]) -> None:
    """Written to a temporary file, then renamed: a rank reading at the same time sees all of it or none."""
    arrays: dict[str, Any] = {f"obs:{k}": np.asarray(v) for k, v in observed.items()}
    arrays |= {"__name__": np.asarray(name), "__losses__": np.asarray(losses, dtype=np.float64)}
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, directory / f"{digest}.npz")
    except OSError:  # a full disk costs the sharing, not the case
        Path(tmp).unlink(missing_ok=True)
