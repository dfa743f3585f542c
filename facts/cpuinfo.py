"""What CPU this is, read from the OS without importing any framework."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown cpu"


def max_clock_mhz() -> float | None:
    """The highest clock any CPU of this host reports as its maximum (Linux
    cpufreq ``cpuinfo_max_freq``, in kHz); None where the OS does not say
    (e.g. many virtual machines)."""
    import glob

    found = []
    for path in glob.glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/cpuinfo_max_freq"):
        try:
            with open(path) as f:
                found.append(int(f.read().strip()) / 1e3)
        except (OSError, ValueError):
            continue
    return max(found) if found else None


def memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def peak_rss_bytes() -> int | None:
    """Peak resident memory of this process (Linux reports KiB)."""
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    except (ImportError, OSError):
        return None
