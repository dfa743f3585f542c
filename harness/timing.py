"""One timing policy for every backend, the fence audit, and the noise flags.

**Windows.** The headline step time comes from ``windows`` windows of ``k``
steps each (``--windows`` windows of ``--steps`` steps; ``--repeats`` is the older name). Within a window the
host launches step after step and the backend's fence runs once, after the
last step, so the host may run ahead of the device exactly as a training loop
does, on every backend alike (CUDA streams, torch_xla's asynchronous
``torch_xla.sync()``, TorchNeuron, JAX dispatch). A window's time is the host
clock from the first launch to the fence's return; its per-step time is
window ÷ k. The statistics (median, bootstrap 95% interval) are taken over the
windows, so ``timing.samples_s`` holds one per-step time per window.

Why these numbers: k = 10 steps amortises the one fence (a host-device round
trip: tens of µs on a GPU, more through a runtime queue) and the clock reads
to under a tenth of a step for all but the tiniest kernels, and lets the
launch queue reach its steady depth; 10 windows is the fewest for which the
percentile-bootstrap interval of the median leaves out the extremes (with 3,
it is about the min and max of the windows). Fewer windows are run when asked
for, and the case is flagged (``timing.unstable``).

**Diagnostics kept in the record.** ``k`` more steps, each fenced
(``fenced_samples_s``: the time a step takes when the host waits for it), and
the fence audit.

**The fence audit.** Right after the last window the outputs are read back to
the host twice (``prepared.observe()``: every weight or output, and the
loss). When the fence really waited, nothing is pending and both reads cost
the same copy. When it did not, the first read waits for the hidden work, so
it exceeds the second by about that work. A case fails when the excess is over
``AUDIT_RATIO`` of the window and over ``AUDIT_FLOOR_S``, twice in a row (one
more window is run and audited before failing, so a scheduler hiccup on a
shared host does not fail a case; a lying fence trips every time).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from accelbench.facts import cpuinfo
from accelbench.harness import hostload
from accelbench.harness.hostload import HostLoad

MIN_WINDOWS = 10
AUDIT_RATIO = 0.25
"""Hidden work above a quarter of the window means the window under-counts a
step by over 25%: far beyond run-to-run noise, so it is a fence fault."""
AUDIT_FLOOR_S = 5e-3
"""Below 5 ms the difference of two host read-backs is at the level of
scheduler jitter on a shared machine (a runnable thread can wait several ms
for a core on a loaded Linux host: a read-back pair here differed by over
2.5 ms on the 2-core machine at load 4-7). So a lie hiding under 5 ms of work (tiny
kernels) is not caught; the audit is for the workloads whose figures matter."""
WIDE_INTERVAL = 0.10
"""A 95% interval wider than 10% of the median is flagged: at that width a
5% change between runs (``compare``'s default threshold) cannot be seen."""
CLUSTER_GAP = 0.20
"""Window means that split into two groups with a gap over 20% of the median
(each group with two windows or more) are flagged: two speeds, e.g. a clock
change or a neighbour starting, not one distribution."""
LOAD_MARGIN = 0.5
"""Load from other processes above half a core, over the cores this case
left free, is flagged."""
CPU_FLOPS_PER_CYCLE_BOUND = {"fp64": 64.0, "fp32": 128.0, "tf32": 128.0, "bf16": 4096.0}
"""A generous ceiling of FLOPs per cycle per logical core: twice the widest
x86 vector units (2 AVX-512 FMA units: 2 × 16 fp32 lanes × 2 FLOPs = 64;
Intel 64 and IA-32 Optimization Reference Manual, ch. 2 and ch. 15) and twice
Intel AMX's bf16 rate (1024 bf16 FMAs per cycle per core = 2048 FLOPs; the
same manual, ch. 20, "Intel AMX"). A CPU result above it is a timing fault."""
CLOCK_BOUND_HZ = 6.5e9
"""Used when the OS gives no clock: no shipping CPU runs above ~6.2 GHz."""
PEAK_MEMORY_DEFINITION = ("the highest memory each backend can read for the measured device, from the start of "
                          "the case's process to the end of the timed windows (compile, numerics and warm-up "
                          "included), and null ('not measured') where it can read no peak: torch-cuda, "
                          "torch.cuda.max_memory_reserved (the caching allocator's peak hold; the live-tensor "
                          "peak max_memory_allocated is beside it in backend.info.peak_memory; neither counts "
                          "the CUDA context or memory taken outside the allocator, e.g. NCCL buffers); "
                          "torch-xla, the PJRT allocator's peak_bytes_used (current use is never taken for a "
                          "peak); JAX, the device's peak_bytes_in_use; torch-neuron, "
                          "torch.neuron.max_memory_allocated where the backend has it; CPU backends, the "
                          "process's peak resident set (ru_maxrss), which for tiny presets includes the "
                          "float64 reference run in the same process")

@dataclass(frozen=True)
class WindowPolicy:
    steps_per_window: int
    windows: int

    def describe(self) -> dict[str, Any]:
        return {
            "name": "windows",
            "steps_per_window": self.steps_per_window,
            "windows": self.windows,
            "fence": "once per window, after its last step; the host may run ahead within a window",
            "statistic": "per-step time = window time / steps_per_window; median and percentile-bootstrap 95% "
                         "interval over the windows",
            "diagnostic": "steps_per_window more steps, each fenced (fenced_samples_s)",
            "min_windows_for_interval": MIN_WINDOWS,
            "fence_audit": f"outputs read back twice after the last window; failed when the first read exceeds "
                           f"the second by over {AUDIT_RATIO:g} of a window and {AUDIT_FLOOR_S * 1e3:g} ms, twice",
            "peak_memory": PEAK_MEMORY_DEFINITION,
        }


def policy_for(case) -> WindowPolicy:
    return WindowPolicy(steps_per_window=case.steps, windows=case.repeats)


# ---------------------------------------------------------------- measuring
def step_loop(prepared, k: int, close) -> tuple[float, Any]:
    """The one step loop: ``k`` steps launched back to back, then ``close(outputs)``
    (the fence) after the last. Returns the host's wall time from the first launch
    to the fence's return, and the last outputs. Within the loop the host may run
    ahead of the device, as a training loop does."""
    clock = time.perf_counter
    outputs = None
    t0 = clock()
    for _ in range(k):
        outputs = prepared.step()
    close(outputs)
    return clock() - t0, outputs


def time_window(backend, prepared, k: int) -> tuple[float, Any]:
    """One timed window of ``k`` steps, for every timer (the CLI's windows, the
    audit's confirming window, the pytest plugin's rounds). The backend says how
    a window is opened, fenced and read (``begin_window``, ``fence_window``,
    ``end_window``); the loop is this one."""
    backend.begin_timing()  # idempotent: the snapshot before the first window
    window = backend.begin_window()
    seconds, outputs = step_loop(prepared, k, lambda last: backend.fence_window(window, last))
    backend.end_window(window, seconds)
    return seconds, outputs


def time_steps(backend, prepared, n: int) -> tuple[list[float], Any]:
    """``n`` steps, each fenced before the clock is read (the diagnostic next
    to ``time_window``: what a step costs when the host waits for each).
    Returns the time of each and the last outputs."""
    times, outputs = [], None
    for _ in range(n):
        seconds, outputs = step_loop(prepared, 1, backend.fence)
        times.append(seconds)
    return times, outputs


def run_windows(backend, prepared, policy: WindowPolicy, timing, on_window=lambda index: None):
    """Run the timed windows, appending each window's per-step time to
    ``timing.samples_s`` as it finishes (a snapshot keeps finished windows).
    Returns the last outputs. ``timing`` is the record's ``TimingPart``."""
    timing.policy = policy.describe()
    timing.host = {"load_before": dataclasses.asdict(HostLoad.now())}
    outputs = None
    with python_gc_paused():
        for index in range(policy.windows):
            on_window(index)
            seconds, outputs = time_window(backend, prepared, policy.steps_per_window)
            timing.samples_s.append(seconds / policy.steps_per_window)
    return outputs


@contextlib.contextmanager
def python_gc_paused():
    """Python's cyclic garbage collector paused over the timed windows, after one
    collection (as ``timeit`` does): a collection pause lands in whichever window
    happens to allocate past the threshold, which spreads the windows of a
    host-bound step (jax-cpu's gpt2:tiny) without saying anything about the device."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def audit_and_diagnose(backend, prepared, outputs, policy: WindowPolicy, timing, lockstep: bool = False):
    """After the last window: the fence audit (at once, before anything else
    waits on the device), then the fenced per-step diagnostic, the host load
    and the threads that ran. Returns the last outputs. ``lockstep=True``
    (data-parallel ranks, which must all run the same steps): every rank runs
    the confirming window, whatever its own first audit said."""
    window_s = timing.samples_s[-1] * policy.steps_per_window
    timing.fence_audit, outputs = confirmed_audit(backend, prepared, outputs, window_s, policy.steps_per_window,
                                                  lockstep)
    fenced, outputs = time_steps(backend, prepared, policy.steps_per_window)
    timing.fenced_samples_s = list(fenced)
    after = dataclasses.asdict(HostLoad.now())
    before = (timing.host or {}).get("load_before") or {}
    timing.host = {**(timing.host or {}), "load_after": after, "threads": backend.host_threads(),
                   "others_busy_cpus": hostload.others_busy_cpus(before, after)}
    return outputs


def confirmed_audit(backend, prepared, outputs, window_s: float, k: int, lockstep: bool = False):
    """The fence audit, repeated on one fresh window of ``k`` steps when it
    trips; failed only when every attempt tripped. Returns (audit, last outputs).
    ``lockstep=True`` runs the confirming window whatever the first audit said:
    data-parallel ranks must run the same steps (a window on one rank alone
    would hang the others' collectives), and one rank's scheduler hiccup on a
    shared host must not fail the case (CI saw a 6.7 ms read-back on a 4-rank
    jax-cpu run on 2 cores, 0.29 ms the next time)."""
    audits = [audit_fence(backend, prepared, outputs, window_s)]
    if lockstep or not audits[0]["passed"]:
        window_s, outputs = time_window(backend, prepared, k)
        audits.append(audit_fence(backend, prepared, outputs, window_s))
    return {**audits[-1], "attempts": len(audits), "passed": any(a["passed"] for a in audits)}, outputs


def window_target(backend, prepared, k: int):
    """A callable for pytest-benchmark's ``pedantic(..., iterations=1)``: each
    call is one ``time_window`` of ``k`` steps, so each timed round is a window
    run by the same loop as the CLI's (pytest-benchmark's figures are per window;
    the record's samples are per step: window ÷ k)."""
    return lambda: time_window(backend, prepared, k)[1]


def audit_fence(backend, prepared, outputs, window_s: float) -> dict[str, Any]:
    first = _read_back_s(backend, prepared, outputs)
    again = min(_read_back_s(backend, prepared, outputs) for _ in range(2))
    excess = first - again
    threshold = max(AUDIT_RATIO * window_s, AUDIT_FLOOR_S)
    read = "this device's own state (no collective)" if getattr(prepared, "read_local", None) else "the observables"
    return {"readback_s": first, "readback_again_s": again, "window_s": window_s, "threshold_s": threshold,
            "read": read, "passed": excess <= threshold}


def _read_back_s(backend, prepared, outputs) -> float:
    t0 = time.perf_counter()
    (getattr(prepared, "read_local", None) or prepared.observe)()
    for value in (outputs or {}).values() if isinstance(outputs, dict) else ():
        if getattr(value, "size", None) == 1 or getattr(value, "numel", lambda: 0)() == 1:
            backend.to_scalar(value)
    return time.perf_counter() - t0


def compile_seconds(first_step_wall_s: float, backend_info: dict[str, Any]) -> float:
    """The record's ``compile_s``: on a backend that counts its compiler's time
    (torch-xla: ``compile_s_before_timing``, every graph compiled before the
    timed windows, the numerics' second graph included), that total; elsewhere
    the wall time of prepare and the first fenced step (``first_step_s`` is
    always kept apart)."""
    total = backend_info.get("compile_s_before_timing")
    return float(total) if total is not None else first_step_wall_s


# ---------------------------------------------------------------- verdicts
def flag_unstable(timing, backend_info: dict[str, Any]) -> list[str]:
    """Reasons to distrust the case's timing (empty: stable); stored in ``timing.unstable``."""
    reasons = []
    windows = np.asarray(timing.samples_s, dtype=np.float64)
    step = timing.step_s or {}
    median = step.get("median")
    if windows.size < MIN_WINDOWS:
        reasons.append(f"only {windows.size} timed windows (fewer than {MIN_WINDOWS}): the 95% interval is not meaningful")
    if median and step.get("ci95"):
        lo, hi = step["ci95"]
        if (hi - lo) / median > WIDE_INTERVAL:
            reasons.append(f"wide interval: the 95% interval is {(hi - lo) / median:.0%} of the median "
                           f"(over {WIDE_INTERVAL:.0%})")
    if median and (split := two_clusters(windows, median)):
        reasons.append(split)
    host = timing.host or {}
    threads = host.get("threads") or 0
    if hostload.measured(host.get("load_before") or {}, host.get("load_after") or {}):
        reasons.extend(others_during_timing(host, threads))
    else:  # no /proc: the load average, which also counts this run's earlier cases
        reasons.extend(others_by_load_average(host, threads))
    if backend_info.get("recompiled_during_timing"):
        reasons.append("recompiled during timing: the timed windows include compilation")
    return reasons


def others_during_timing(host: dict[str, Any], threads: int) -> list[str]:
    """The load rule on the measured reading (harness/hostload.py). A timing
    shorter than ``hostload.MIN_MEASURED_S`` is too short to read, and is not flagged."""
    before, after = host.get("load_before") or {}, host.get("load_after") or {}
    others = hostload.others_busy_cpus(before, after)
    if others is None:
        return []
    cpus = after.get("cpus") or before.get("cpus") or 1
    used = threads or cpus  # unknown (jax-cpu): XLA's CPU client sizes its thread pool to the cores
    if others <= max(0, cpus - used) + LOAD_MARGIN:
        return []
    return [f"load from other processes: other work kept about {others:.1f} of {cpus} CPUs busy during timing "
            f"(/proc/stat less this case's own processes; "
            f"{threads if threads else f'unknown threads, taken as {cpus}'} used here)"]


def others_by_load_average(host: dict[str, Any], threads: int) -> list[str]:
    """The load rule on the load average, where /proc/stat could not be read."""
    for when in ("load_before", "load_after"):
        load = host.get(when) or {}
        free = max(0, load.get("cpus", 0) - threads)
        if math.isfinite(load.get("others", float("nan"))) and load["others"] > free + LOAD_MARGIN:
            return [f"load from other processes: about {load['others']:.1f} runnable threads "
                    f"({when.replace('_', ' ')} timing; load average {load['load1']:.2f} on {load['cpus']} CPUs, "
                    f"{threads or 'unknown'} threads used here)"]
    return []


def two_clusters(windows: np.ndarray, median: float) -> str | None:
    if windows.size < 4:
        return None
    ordered = np.sort(windows)
    gaps = np.diff(ordered)
    cut = int(np.argmax(gaps))
    low, high = cut + 1, ordered.size - cut - 1
    if gaps[cut] / median > CLUSTER_GAP and min(low, high) >= 2:
        return (f"two clusters of step times: {low} windows near {np.median(ordered[:cut + 1]) * 1e3:.3g} ms, "
                f"{high} near {np.median(ordered[cut + 1:]) * 1e3:.3g} ms")
    return None


def cpu_flops_bound(precision: str) -> tuple[float, str]:
    """(FLOP/s no CPU of this host can exceed, how it was computed)."""
    cores = os.cpu_count() or 1
    mhz = cpuinfo.max_clock_mhz()
    hz = mhz * 1e6 if mhz else CLOCK_BOUND_HZ
    per_cycle = CPU_FLOPS_PER_CYCLE_BOUND.get(precision, CPU_FLOPS_PER_CYCLE_BOUND["bf16"])
    basis = (f"{cores} logical cores × {hz / 1e9:.2f} GHz ({'OS' if mhz else 'assumed ceiling'}) × "
             f"{per_cycle:g} FLOPs/cycle ({precision} bound)")
    return cores * hz * per_cycle, basis


def failures(record, backend) -> list[tuple[str, str]]:
    """What makes the case's timing untrustworthy enough to fail it: a fence
    that did not wait, or a CPU result faster than the host can compute."""
    found = []
    audit = record.timing.fence_audit or {}
    if audit and not audit["passed"]:
        found.append(("FenceDidNotWait", fence_message(backend.fence_description, audit)))
    median = (record.timing.step_s or {}).get("median")
    flops = record.kernel.flops_per_step
    if getattr(backend, "memory_is_host", False) and median and flops:
        bound, basis = cpu_flops_bound(record.backend.precision or "fp32")
        achieved = flops / median
        record.timing.plausibility = {"cpu_flops_bound": bound, "basis": basis, "achieved_flops": achieved}
        if achieved > bound:
            found.append(("ImplausibleTiming",
                          f"{achieved / 1e12:.3g} TFLOP/s is above what this CPU can compute ({bound / 1e12:.3g} "
                          f"TFLOP/s = {basis}): the fence ({backend.fence_description}) or the timer is wrong"))
    return found


def fence_message(fence: str, audit: dict[str, Any]) -> str:
    return (f"the fence did not wait ({fence}): reading the outputs back after the timed window took "
            f"{audit['readback_s'] * 1e3:.3g} ms, {audit['readback_again_s'] * 1e3:.3g} ms the second time, "
            f"while the window itself measured {audit['window_s'] * 1e3:.3g} ms "
            f"(seen in {audit['attempts']} of {audit['attempts']} audits); the step times are not trustworthy")
