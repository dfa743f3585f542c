"""Will a case fit in memory, and did the OOM killer strike? Read from the OS,
without importing any framework.

Before a case starts, its kernel's rough peak memory
(``Kernel.memory_estimate_bytes``) is compared with what the device has: for
backends whose device memory is the host's (``Backend.memory_is_host``) the
memory the host can still give out, checked in the parent before the case's
process starts; for accelerators the memory ``device_info()`` reports,
checked in the case's process against ONE visible device's memory
(``visible_device_bytes``: a NeuronCore's share of the chip's HBM). A case that cannot fit is recorded ``skipped``
with the two numbers, instead of swapping the machine to a halt or waiting
for the OOM killer.
"""

from __future__ import annotations

from pathlib import Path

GIB = 2**30
_CGROUP_UNLIMITED = 2**60
"""cgroup v1 reports "no limit" as a huge number (2⁶³ rounded down to a page)."""


def _read_int(path: str | Path) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def meminfo_available_bytes(meminfo: str = "/proc/meminfo") -> int | None:
    """``MemAvailable``: the kernel's estimate of the memory new work can get
    without swapping (free memory plus reclaimable page cache); Linux >= 3.14,
    see proc(5)."""
    try:
        with open(meminfo) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the file says kB; it means KiB
    except (OSError, ValueError, IndexError):
        pass
    return None


def cgroup_headroom_bytes(root: str | Path = "/sys/fs/cgroup") -> int | None:
    """Memory left under this container's cgroup limit (limit − usage), or
    None when there is no limit. cgroup v2: ``memory.max`` and
    ``memory.current``; v1: ``memory/memory.limit_in_bytes`` and
    ``memory/memory.usage_in_bytes``."""
    root = Path(root)
    for limit_file, usage_file in (
        (root / "memory.max", root / "memory.current"),
        (root / "memory" / "memory.limit_in_bytes", root / "memory" / "memory.usage_in_bytes"),
    ):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < _CGROUP_UNLIMITED:
            return max(limit - usage, 0)
    return None


def host_available_bytes() -> int | None:
    """What a new process on this host can allocate: the smaller of
    ``MemAvailable`` and the cgroup headroom (a container's limit can be far
    below the machine's memory)."""
    known = [b for b in (meminfo_available_bytes(), cgroup_headroom_bytes()) if b is not None]
    return min(known) if known else None


def wont_fit_reason(estimate_bytes: float | None, available_bytes: int | None, where: str) -> str | None:
    """A one-line reason when the estimate exceeds the memory available, else
    None (also when either number is unknown: then the case is tried)."""
    if estimate_bytes is None or available_bytes is None or estimate_bytes <= available_bytes:
        return None
    return (
        f"needs about {estimate_bytes / GIB:.1f} GiB (the kernel's memory estimate) but {where} has "
        f"{available_bytes / GIB:.1f} GiB available; use a smaller preset or --set, or --no-fit-check to try anyway"
    )


def oom_kill_count(vmstat: str = "/proc/vmstat") -> int | None:
    """How many processes the kernel's OOM killer has killed since boot
    (``oom_kill`` in /proc/vmstat, Linux >= 4.13). A rise while a case ran
    tells a SIGKILL from the OOM killer apart from any other SIGKILL."""
    try:
        with open(vmstat) as f:
            for line in f:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


OOM_MESSAGES = ("out of memory", "resource_exhausted", "cannot allocate memory", "unable to allocate")
"""Lower-cased fragments of the errors stacks raise when memory runs out:
PyTorch "CUDA out of memory" (``torch.OutOfMemoryError``), XLA/JAX
"RESOURCE_EXHAUSTED: Out of memory", glibc ENOMEM "Cannot allocate memory",
numpy "Unable to allocate 1.5 TiB for an array"."""


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = f"{exc}".lower()
    return any(fragment in text for fragment in OOM_MESSAGES)
