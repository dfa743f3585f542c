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

PACKAGES = ("accelbench", "numpy", "torch", "jax", "jaxlib", "torch_xla", "torch-neuronx", "jax-neuronx", "neuronx-cc",
            "libtpu", "pandas")
"""The packages every record names (``env[name with - as _]``); the report's software column reads these."""
SOFTWARE_KEYS = tuple(name.replace("-", "_") for name in PACKAGES if name not in ("accelbench", "numpy", "pandas"))
"""The framework and compiler packages the report's software column shows, before the stack's fields."""


def report_keys() -> tuple[str, ...]:
    """Every ``env`` field a report lists under "Software and hosts", in order: one list for
    the writer and the readers."""
    from accelbench.facts.envstack import STACK_FIELDS

    packages = tuple(name.replace("-", "_") for name in PACKAGES)
    return ("python",) + packages + ("git_commit", "host", "cpu", "platform") + STACK_FIELDS


def software_keys() -> tuple[str, ...]:
    """The ``env`` fields of the report's software column: framework packages, then driver and libraries."""
    from accelbench.facts.envstack import SOFTWARE_FIELDS

    return SOFTWARE_KEYS + SOFTWARE_FIELDS


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


def capture(import_frameworks: bool = False) -> dict:
    """What produced a result: Python, host, packages and the whole stack
    (facts.envstack: each field read, or None with its reason under ``why_null``).
    ``import_frameworks``: ask torch for its CUDA/cuDNN/NCCL even when no case imported it."""
    from accelbench.facts.envstack import capture_stack

    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "cpu": cpuinfo.cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": cpuinfo.memory_bytes(),
        "git_commit": git_commit(),
    }
    why_null = {}
    for name in PACKAGES:
        key = name.replace("-", "_")
        env[key] = package_version(name)
        if env[key] is None:
            why_null[key] = f"package {name} not installed"
    for var in ("PJRT_DEVICE", "JAX_PLATFORMS", "XLA_FLAGS", "NEURON_CC_FLAGS", "OMP_NUM_THREADS"):
        if os.environ.get(var):
            env.setdefault("vars", {})[var] = os.environ[var]
    stack = capture_stack(import_frameworks=import_frameworks)
    return env | stack.values | {"why_null": why_null | stack.why_null}


def add_framework_facts(env: dict) -> None:
    """Read torch's CUDA, cuDNN and NCCL into a captured ``env`` again, now that the
    case's backend has loaded its framework (``capture`` ran before, so that a case
    killed early still has an env)."""
    from accelbench.facts.envstack import framework_stack

    stack = framework_stack()
    why_null = env.setdefault("why_null", {})
    for key, value in stack.values.items():
        env[key] = value
        why_null.pop(key, None)
    why_null.update(stack.why_null)
