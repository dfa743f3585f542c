"""Environment capture: what software and machine produced a result.

Package versions come from installed metadata, so capturing them imports
neither torch nor JAX.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path

from accelbench.facts import cpuinfo

PACKAGES = ("accelbench", "numpy", "torch", "jax", "jaxlib", "torch_xla", "torch-neuronx", "jax-neuronx", "pandas")


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name`` (from its metadata: no
    import), or None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_commit(path: Path | None = None) -> str | None:
    path = path or Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def capture() -> dict:
    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "cpu": cpuinfo.cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": cpuinfo.memory_bytes(),
        "git_commit": git_commit(),
    }
    for name in PACKAGES:
        env[name.replace("-", "_")] = package_version(name)
    for var in ("PJRT_DEVICE", "JAX_PLATFORMS", "XLA_FLAGS", "NEURON_CC_FLAGS", "OMP_NUM_THREADS"):
        if os.environ.get(var):
            env.setdefault("vars", {})[var] = os.environ[var]
    return env
