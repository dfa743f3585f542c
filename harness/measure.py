"""The measurement core: one case, measured once, in this process.

Every path that measures calls ``run_case``: the case process of
``accelbench run`` (``python -m accelbench.harness.launch``), every data-parallel rank or mesh
host (``harness.launch``), and the pytest plugin. What differs between them
comes in through two seams, so this module knows none of them:

* a ``LaunchContext`` (``harness.context``): which device this process
  builds on, how the step is prepared (one device or a data-parallel engine),
  how the loss is read, what the record says about the layout;
* a ``Timer``: how the timed steps are run and clocked. ``BackendTimer`` runs
  ``harness.timing``'s windows; the pytest plugin's times
  ``benchmark.pedantic`` rounds. The record's ``backend.fence`` is the timer's
  account of the clock and fence that actually ran.

The phases, each timed apart:
1. the kernel's initial state, with numpy, from the case's ``seed`` (a kernel
   setting where the kernel has one; the same state on every backend);
2. prepare + first step, fenced: ``first_step_s``, and ``compile_s`` (JAX
   compiles ahead of time in ``prepare``, torch.compile and XLA lazily in step
   1); on torch-xla ``compile_s`` becomes XLA's own compile time over every
   graph compiled before timing (``harness.timing.compile_seconds``), since
   the second graph (once AdamW state exists) compiles during numerics;
3. numerics (``harness.numerics.check_prepared``);
4. ``warmup`` more steps, untimed;
5. the timed windows (the timer: windows of ``steps`` steps, one fence each,
   ``harness.timing``), with the energy meter the backend chose, then the
   timer's fence audit and fenced diagnostic;
6. statistics, noise flags, metrics, cost, energy, and the record; a fence
   that did not wait, or a CPU faster than possible, fails the case.
"""

from __future__ import annotations

import dataclasses
import math
import time
import traceback
from datetime import datetime, timezone
from typing import Any, Callable

from accelbench import backends
from accelbench.backends.host_identity import host_identity
from accelbench import kernels
from accelbench.facts import envinfo
from accelbench.harness import cost, energy, fit, metrics, numerics, preflight, reference_cache, stats, timing
from accelbench.harness.context import LaunchContext
from accelbench.harness.plan import Case
from accelbench.harness.progress import emit as emit_progress
from accelbench.harness.records import BackendPart, KernelPart, ResultRecord, TimingPart, write_record

Checkpoint = Callable[..., None]


class CaseFailure(Exception):
    """A case ran but its result cannot be trusted (NaN loss, numerics mismatch)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class CaseSkipped(CaseFailure):
    """A case not attempted, for a stated reason (e.g. it cannot fit in memory)."""


# --------------------------------------------------------------------- timers
class Timer:
    """How the timed steps run: ``time`` fills the record's timing part (its
    ``samples_s`` as they finish, so a snapshot keeps them) and returns the
    last outputs; ``fence_text`` says what clock and fence that was."""

    def fence_text(self, backend) -> str:
        raise NotImplementedError

    def time(self, backend, prepared, case: Case, timing_part: TimingPart, checkpoint: Checkpoint) -> Any:
        raise NotImplementedError

    def audit(self, backend, prepared, outputs, case: Case, timing_part: TimingPart, lockstep: bool) -> Any:
        """After the timed windows, outside the energy window: the fence audit
        and diagnostics (``harness.timing``). Returns the last outputs."""
        return outputs


class BackendTimer(Timer):
    """``accelbench run``'s timer: the timing policy of ``harness.timing``
    (``repeats`` windows of ``steps`` steps, timed by the backend's
    ``time_window``, one fence per window), then the fence audit and the
    fenced per-step diagnostic."""

    def fence_text(self, backend) -> str:
        return backend.fence_description

    def time(self, backend, prepared, case, timing_part, checkpoint):
        policy = timing.policy_for(case)
        return timing.run_windows(backend, prepared, policy, timing_part, on_window=lambda i: checkpoint(
            f"timed steps, window {i + 1} of {policy.windows}", steps_done=i * policy.steps_per_window))

    def audit(self, backend, prepared, outputs, case, timing_part, lockstep):
        return timing.audit_and_diagnose(backend, prepared, outputs, timing.policy_for(case), timing_part, lockstep)


def fence_call(backend) -> str:
    """What one call of ``backend.fence`` does."""
    return backend.fence_call_description or backend.fence_description


# ----------------------------------------------------------------------- core
def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_record(case: Case, run_id: str, status: str = "failed") -> ResultRecord:
    return ResultRecord(
        run_id=run_id,
        created_at=now_iso(),
        status=status,
        kernel=KernelPart(name=case.kernel, preset=case.preset, config=dict(case.kernel_settings)),
        backend=BackendPart(name=case.backend, framework="", settings=dict(case.backend_settings),
                            device_count=case.layout.devices),
        timing=TimingPart(warmup_steps=case.warmup, steps=case.steps, repeats=case.repeats),
    )


def run_case(case: Case, run_id: str, *, context: LaunchContext | None = None, timer: Timer | None = None,
             snapshot_path: str | None = None) -> ResultRecord:
    """Measure one case. Whatever happens, the record keeps what was measured
    before it. With ``snapshot_path``, the record so far is also written there
    at the start of each phase, so that the runner can keep it when this
    process is killed (timeout, OOM killer, a crash in native code)."""
    context = context or LaunchContext()
    timer = timer or BackendTimer()
    record = new_record(case, run_id)
    record.env = envinfo.capture()
    progress = {"phase": "setup"}

    def checkpoint(phase: str, **progress_fields) -> None:
        progress["phase"] = phase
        if snapshot_path is not None:
            record.error = {"type": "Incomplete", "message": f"the case process stopped during {phase}", "phase": phase}
            write_record(snapshot_path, record)
            record.error = None
        emit_progress(phase, **progress_fields)  # to the runner's terminal, when it asked (harness.progress)

    try:
        checkpoint("setup")
        _measure(case, record, context, timer, checkpoint)
        record.status = "ok"
    except CaseSkipped as exc:
        record.status = "skipped"
        record.error = {"type": exc.kind, "message": str(exc), "phase": progress["phase"]}
    except CaseFailure as exc:
        record.error = {"type": exc.kind, "message": str(exc)}
    except Exception as exc:  # any error costs this case only; MemoryError included
        record.error = {"type": "OutOfMemory" if fit.is_out_of_memory(exc) else type(exc).__name__,
                        "message": f"{exc}".strip() or repr(exc), "exception": type(exc).__name__,
                        "phase": progress["phase"], "traceback": traceback.format_exc(limit=8)}
    return record


def process_age_s() -> float | None:
    """Seconds since this process started, from Linux's /proc (proc(5): field 22 of /proc/self/stat is the
    start time in clock ticks after boot); None where it cannot be read."""
    import os

    try:
        fields = open("/proc/self/stat").read().rsplit(")", 1)[1].split()  # after "(comm)": field 3 onwards
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


COMPILE_CACHE_VARS = ("NEURON_COMPILE_CACHE_URL", "JAX_COMPILATION_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR",
                      "TORCHINDUCTOR_FX_GRAPH_CACHE")
"""Where a compile cache that would make a second run cheaper is configured (value, or None when unset)."""


def compile_cache_facts() -> dict[str, Any]:
    import os

    return {name: os.environ.get(name) for name in COMPILE_CACHE_VARS}


def device_facts(device) -> dict[str, Any]:
    """The record's ``backend.info.device``: what the backend said of its device
    (``chip_share``: what MFU and prices count chips by, ``harness.metrics.chips_used``)."""
    return {"memory_bytes": device.memory_bytes, "driver": device.driver, **device.extra,
            "chip_share": device.chip_share, "chip_share_reason": device.chip_share_reason,
            "chip_share_source": device.chip_share_source,
            "energy_meter": device.energy_meter.to_dict()}


def _measure(case: Case, record: ResultRecord, context: LaunchContext, timer: Timer, checkpoint: Checkpoint) -> None:
    kernel = kernels.get(case.kernel)
    cfg = kernel.config(case.preset, case.kernel_settings)
    backend_cls = backends.get_class(case.backend)
    backend = context.make_backend(backend_cls, backend_cls.settings_cls(**case.backend_settings))
    precision = backend.precision

    record.kernel = KernelPart(
        name=kernel.name,
        preset=case.preset,
        config=dataclasses.asdict(cfg),
        flops_per_step=kernel.flops_per_step(cfg),
        flops_by_convention=kernel.flops_by_convention(cfg),
        bytes_per_step=kernel.bytes_per_step(cfg, precision),
        tokens_per_step=kernel.tokens_per_step(cfg),
        flop_convention=kernel.flop_convention,
    )
    device = backend.device_info()
    record.backend = BackendPart(
        name=backend.name,
        framework=backend.framework,
        device_kind=device.kind,
        device_catalog_key=device.catalog_key,
        device_count=device.count,
        precision=precision,
        fence=timer.fence_text(backend),
        settings=dataclasses.asdict(backend.settings),
        info={"device": device_facts(device),
              "host": host_identity()},  # facts/host.py: instance type, region, chips per instance, sources
    )
    context.describe(record)
    if case.check_fit and not getattr(backend, "memory_is_host", False):  # host memory: the runner checked
        estimate = context.memory_estimate_bytes(kernel, cfg, precision)  # one device's share
        reason = fit.wont_fit_reason(estimate, device.memory_bytes, device.kind)
        if reason:
            raise CaseSkipped("WontFit", reason)

    checkpoint("compile and first step")
    state = kernel.make_state(cfg, seed=getattr(cfg, "seed", 0))  # `--set seed=N` where the kernel has a seed
    record.timing.setup_s = process_age_s()  # paid before the compile: imports, device setup, state (reports/training_cost.py)
    record.backend.info["compile_cache"] = compile_cache_facts()
    t0 = time.perf_counter()
    prepared = context.prepare(backend, kernel, cfg, state)
    t1 = time.perf_counter()
    outputs = prepared.step()
    backend.fence(outputs)
    t2 = time.perf_counter()
    record.timing.compile_s = t2 - t0
    record.timing.first_step_s = t2 - t1
    record.backend.info.update(prepared.info)
    envinfo.add_framework_facts(record.env)  # the backend has loaded its framework: its CUDA, cuDNN, NCCL
    if prepared.compile_s is not None:
        record.backend.info["aot_compile_s"] = prepared.compile_s

    num = record.numerics
    num.loss_first = context.loss(backend, outputs)
    checkpoint("numerics steps")
    outputs, result = numerics.check_prepared(kernel, cfg, state, case.preset, prepared, backend.fence, outputs,
                                              precision, lambda out: context.loss(backend, out),
                                              reference_cache.directory_from_env())
    if result is not None:
        num.reference, num.max_rel_err, num.worst = result.reference, result.max_rel_err, result.worst
        num.tolerance, num.passed, num.replica = result.tolerance, result.passed, result.replica

    checkpoint("warm-up steps")
    for _ in range(case.warmup):
        outputs = prepared.step()
        backend.fence(outputs)

    meter = energy.meter_for(device.energy_meter)  # energy over the timed steps only
    with meter:
        outputs = timer.time(backend, prepared, case, record.timing, checkpoint)
    end_timing = getattr(backend, "end_timing", None)  # compile counters before the audit's read-back (torch-xla)
    if end_timing is not None:
        end_timing()
    samples = record.timing.samples_s
    if not samples:
        raise CaseSkipped("NotTimed", "the timer took no samples (pytest-benchmark: --benchmark-disable)")
    last_timed = outputs  # loss_last is this step's: read after the audit, which must come first
    # data-parallel ranks must all run the same steps: each runs the confirming window
    outputs = timer.audit(backend, prepared, outputs, case, record.timing, lockstep=context.devices > 1)
    record.backend.info.update(backend.after_timing(prepared))
    record.timing.compile_s = timing.compile_seconds(record.timing.compile_s, record.backend.info)
    summary = stats.summarize(samples)
    record.timing.step_s = dataclasses.asdict(summary)
    record.timing.unstable = timing.flag_unstable(record.timing, record.backend.info)
    record.metrics = metrics.throughput(
        record.kernel.flops_per_step, record.kernel.bytes_per_step, record.kernel.tokens_per_step, summary.median
    )
    record.metrics.peak_mem_bytes = backend.peak_memory_bytes()
    record.metrics = metrics.with_catalog_utilization(record.metrics, record.kernel, record.backend)
    record.metrics = energy.with_energy(record.metrics, context.energy(meter.reading), record.kernel.tokens_per_step,
                                        case.steps * case.repeats)
    pricing = preflight.resolve_pricing(case.instance, case.usd_per_hour, case.prices_file, case.chips_per_instance,
                                        tier=case.tier)  # checked before the run: here it cannot fail
    record.cost = cost.for_case(pricing, record, case.prices_file)
    num.loss_last = context.loss(backend, last_timed)
    context.finish(record)

    for name, loss in (("first", num.loss_first), ("last", num.loss_last)):
        if loss is not None and not math.isfinite(loss):
            raise CaseFailure("NonFiniteLoss", f"the {name} loss is {loss}")
    for kind, message in timing.failures(record, backend):  # a fence that did not wait; a CPU faster than possible
        raise CaseFailure(kind, message)
    if num.passed is False:
        raise CaseFailure(
            "NumericsMismatch",
            f"'{num.worst}'{f' on {num.replica}' if num.replica else ''} differs from the {num.reference} "
            f"reference by {num.max_rel_err:.3g} "
            f"(relative norm), over the {precision} tolerance {num.tolerance:g}",
        )
