"""How busy the host's CPUs were with work that is not this case's, while it was timed.

Two readings, one snapshot before the timed windows and one after the diagnostics:

- **Measured (Linux).** The CPUs' busy seconds from ``/proc/stat`` (user, nice,
  system, irq, softirq and steal: a vCPU the hypervisor gave away is lost to
  the case too), less the CPU seconds of the case's own processes, over the
  wall time between the snapshots: the average number of CPUs that other work
  kept busy. The case's own processes are its whole session when the runner
  started it (``ACCELBENCH_PARENT_PID`` set: every case process, torchrun's
  or the JAX mesh's ranks included, runs in a session of its own), else this
  process and its descendants (inline: the pytest plugin).
- **Estimated (anywhere).** The 1-minute load average less this process's
  share of it. Kept in the record, and used only where ``/proc`` cannot be
  read: the load average is a one-minute moving average, so it still counts
  the case processes that ran just before this one (a whole ci suite on 2 CPUs
  read "about 1.0 runnable threads of other processes" on an idle machine).
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

from accelbench.harness.case_env import PARENT_PID_VAR

_PROCESS_START = time.monotonic()
MIN_MEASURED_S = 0.25
"""/proc/stat counts in clock ticks (10 ms on Linux): over a quarter of a second
the busy fraction of each CPU is known to 4% or better; shorter, the estimate is used."""
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)
"""user, nice, system, irq, softirq, steal (iowait and idle are not busy; guest is inside user)."""


@dataclass(frozen=True)
class HostLoad:
    load1: float
    others: float
    """Runnable threads of other processes, estimated: load1 − this process's own share."""
    cpus: int
    busy_cpu_s: float | None = None
    """Busy seconds of all CPUs since boot (/proc/stat); None where it cannot be read."""
    own_cpu_s: float | None = None
    """CPU seconds used so far by the case's own processes (see the module's docstring)."""
    at_s: float | None = None
    """time.monotonic() when read."""

    @classmethod
    def now(cls) -> "HostLoad":
        cpus = os.cpu_count() or 1
        busy, own = busy_cpu_seconds(), own_cpu_seconds()
        at = time.monotonic()
        try:
            load1 = os.getloadavg()[0]
        except OSError:
            return cls(float("nan"), float("nan"), cpus, busy, own, at)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        # load1 is a 1-minute moving average; this process's part of it is about
        # its CPU seconds over the last minute (over its age when younger).
        share = (usage.ru_utime + usage.ru_stime) / max(at - _PROCESS_START, 60.0)
        return cls(load1, max(0.0, load1 - share), cpus, busy, own, at)


def measured(before: dict, after: dict) -> bool:
    """Whether both snapshots (as stored in the record) hold the /proc readings."""
    fields = ("busy_cpu_s", "own_cpu_s", "at_s")
    return all(before.get(f) is not None and after.get(f) is not None for f in fields)


def others_busy_cpus(before: dict, after: dict) -> float | None:
    """CPUs kept busy by other work between two ``HostLoad`` snapshots (as
    stored in the record), on average; None when either lacks a reading or
    the span is too short to tell."""
    if not measured(before, after):
        return None
    span = after["at_s"] - before["at_s"]
    if span < MIN_MEASURED_S:
        return None
    others = (after["busy_cpu_s"] - before["busy_cpu_s"]) - (after["own_cpu_s"] - before["own_cpu_s"])
    return max(0.0, others / span)


def busy_cpu_seconds(proc: Path = Path("/proc")) -> float | None:
    try:
        first = (proc / "stat").read_text().split("\n", 1)[0]
    except OSError:
        return None
    return parse_busy_seconds(first, _ticks_per_second())


def parse_busy_seconds(cpu_line: str, ticks_per_s: float) -> float | None:
    """Busy seconds from /proc/stat's aggregate ``cpu`` line."""
    name, *values = cpu_line.split()
    if name != "cpu" or len(values) < 8:
        return None
    return sum(int(values[i]) for i in _BUSY_FIELDS) / ticks_per_s


def own_cpu_seconds(proc: Path = Path("/proc")) -> float | None:
    """CPU seconds of the case's own processes (its session when the runner
    started it, else this process and its descendants); None without /proc."""
    stats = read_process_stats(proc)
    if not stats:
        return None
    me = os.getpid()
    if os.environ.get(PARENT_PID_VAR):
        session = os.getsid(0)
        own = {pid for pid, s in stats.items() if s.session == session}
    else:
        own = descendants(me, {pid: s.ppid for pid, s in stats.items()})
    return sum(stats[pid].cpu_ticks for pid in own if pid in stats) / _ticks_per_second()


@dataclass(frozen=True)
class ProcessStat:
    ppid: int
    session: int
    cpu_ticks: int
    """utime + stime + cutime + cstime: the process's and its reaped children's."""


def parse_process_stat(text: str) -> ProcessStat | None:
    """One /proc/PID/stat line (the command name may hold spaces and parentheses: fields follow the last ')')."""
    tail = text[text.rfind(")") + 2:].split()
    if len(tail) < 15:
        return None
    # tail[0] is field 3 (state): ppid is field 4, session 6, utime..cstime 14..17
    return ProcessStat(ppid=int(tail[1]), session=int(tail[3]), cpu_ticks=sum(int(v) for v in tail[11:15]))


def read_process_stats(proc: Path = Path("/proc")) -> dict[int, ProcessStat]:
    stats = {}
    try:
        entries = [entry for entry in os.listdir(proc) if entry.isdigit()]
    except OSError:
        return {}
    for entry in entries:
        try:
            parsed = parse_process_stat((proc / entry / "stat").read_text())
        except (OSError, ValueError):  # exited between the listing and the read
            continue
        if parsed is not None:
            stats[int(entry)] = parsed
    return stats


def descendants(root: int, parent_of: dict[int, int]) -> set[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parent_of.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _ticks_per_second() -> float:
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError, AttributeError):
        return 100.0  # Linux's USER_HZ on every architecture it ships for
