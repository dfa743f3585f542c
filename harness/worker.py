"""One case, measured in this process: the body of a case's own process.

    python -m accelbench.harness.worker CASE.json RECORD.json

The sequence, each phase timed apart:
1. build the kernel's initial state with numpy (the same for every backend);
2. prepare + first step, fenced: ``compile_s`` (every stack compiles here:
   JAX ahead of time in ``prepare``, torch.compile and XLA lazily in step 1);
3. the numerics steps (``NUMERICS_STEPS`` in all, the first included) and,
   for the ``tiny`` preset, the comparison with a float64 CPU reference;
4. ``warmup`` more steps, untimed;
5. ``repeats`` timed windows of ``steps`` steps, one fence per window, then
   the fence audit and ``steps`` fenced diagnostic steps (``harness.timing``);
6. statistics, metrics, and the record, written atomically.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import sys
import time
import traceback
import uuid
from datetime import datetime, timezone

from accelbench import backends
from accelbench import kernels
from accelbench.harness import cost, energy, envinfo, fit, metrics, numerics, stats, timing
from accelbench.harness.plan import Case
from accelbench.harness.progress import emit as emit_progress
from accelbench.harness.records import BackendPart, KernelPart, ResultRecord, TimingPart, write_record


class CaseFailure(Exception):
    """A case ran but its result cannot be trusted (NaN loss, numerics mismatch)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class CaseSkipped(CaseFailure):
    """A case not attempted, for a stated reason (e.g. it cannot fit in memory)."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_record(case: Case, run_id: str, status: str = "failed") -> ResultRecord:
    return ResultRecord(
        run_id=run_id,
        created_at=now_iso(),
        status=status,
        kernel=KernelPart(name=case.kernel, preset=case.preset, config=dict(case.kernel_settings)),
        backend=BackendPart(name=case.backend, framework="", settings=dict(case.backend_settings)),
        timing=TimingPart(warmup_steps=case.warmup, steps=case.steps, repeats=case.repeats),
    )


def run_case(case: Case, run_id: str, snapshot_path: str | None = None, parallel=None) -> ResultRecord:
    """Measure one case. Whatever happens, the record keeps what was measured
    before it. With ``snapshot_path``, the record so far is also written there
    at the start of each phase, so that the runner can keep it when this
    process is killed (timeout, OOM killer, a crash in native code)."""
    record = new_record(case, run_id)
    record.env = envinfo.capture()
    progress = {"phase": "setup"}

    def checkpoint(phase: str, **progress_fields) -> None:
        progress["phase"] = phase
        if snapshot_path is not None:
            record.error = {"type": "Incomplete", "message": f"the case process stopped during {phase}", "phase": phase}
            write_record(snapshot_path, record)
            record.error = None
        emit_progress(phase, **progress_fields)  # to the runner's terminal, when it asked (accelbench.harness.progress)

    try:
        checkpoint("setup")
        _measure(case, record, checkpoint, parallel)
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


def _measure(case: Case, record: ResultRecord, checkpoint=lambda phase: None, parallel=None) -> None:
    """``parallel``: a data-parallel case's ``harness.distributed.ParallelRun`` (None: one device)."""
    kernel = kernels.get(case.kernel)
    cfg = kernel.config(case.preset, case.kernel_settings)
    backend_cls = backends.get_class(case.backend)
    backend = backend_cls(backend_cls.settings_cls(**case.backend_settings))
    precision = backend.precision

    conventions = kernel.flops_by_convention(cfg)
    record.kernel = KernelPart(
        name=kernel.name,
        preset=case.preset,
        config=dataclasses.asdict(cfg),
        flops_per_step=kernel.flops_per_step(cfg),
        flops_by_convention=conventions,
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
        fence=backend.fence_description,
        settings=dataclasses.asdict(backend.settings),
        info={"device": {"memory_bytes": device.memory_bytes, "driver": device.driver, **device.extra,
                         "chip_share": device.chip_share, "chip_share_reason": device.chip_share_reason},
              "host": cost.host_facts()},  # the host's chips and region: what a price needs, now or at report time
    )
    if parallel:
        parallel.describe(record)
    if case.check_fit and not getattr(backend, "memory_is_host", False):  # host memory: the runner checked
        estimate = (parallel.memory_estimate_bytes(kernel, cfg, precision) if parallel  # one device's share
                    else kernel.memory_estimate_bytes(cfg, precision))
        reason = fit.wont_fit_reason(estimate, device.memory_bytes, device.kind)
        if reason:
            raise CaseSkipped("WontFit", reason)

    checkpoint("compile and first step")
    state = kernel.make_state(cfg)
    t0 = time.perf_counter()
    prepared = parallel.prepare(backend, kernel, cfg, state) if parallel else backend.prepare(kernel, cfg, state)
    t1 = time.perf_counter()
    outputs = prepared.step()
    backend.fence(outputs)
    t2 = time.perf_counter()
    record.timing.compile_s = t2 - t0
    record.timing.first_step_s = t2 - t1
    record.backend.info.update(prepared.info)
    if prepared.compile_s is not None:
        record.backend.info["aot_compile_s"] = prepared.compile_s

    num = record.numerics
    num.loss_first = _loss(backend, outputs, parallel)
    checkpoint("numerics steps")
    outputs, result = numerics.check_prepared(kernel, cfg, state, case.preset, prepared, backend.fence, outputs,
                                              precision, lambda out: _loss(backend, out, parallel))
    if result is not None:
        num.reference, num.max_rel_err, num.worst = result.reference, result.max_rel_err, result.worst
        num.tolerance, num.passed = result.tolerance, result.passed

    checkpoint("warm-up steps")
    for _ in range(case.warmup):
        outputs = prepared.step()
        backend.fence(outputs)

    policy = timing.policy_for(case)  # windows of k steps, one fence each (harness.timing)
    meter = energy.meter_for_backend(record.backend)  # energy over the timed windows only
    with meter:
        outputs = timing.run_windows(backend, prepared, policy, record.timing, on_window=lambda i: checkpoint(
            f"timed steps, window {i + 1} of {policy.windows}", steps_done=i * policy.steps_per_window))
    outputs = timing.audit_and_diagnose(backend, prepared, outputs, policy, record.timing, confirm=not parallel)
    record.backend.info.update(backend.after_timing(prepared))
    summary = stats.summarize(record.timing.samples_s)
    record.timing.step_s = dataclasses.asdict(summary)
    record.timing.unstable = timing.flag_unstable(record.timing, record.backend.info)
    record.metrics = metrics.throughput(
        record.kernel.flops_per_step, record.kernel.bytes_per_step, record.kernel.tokens_per_step, summary.median
    )
    record.metrics.peak_mem_bytes = backend.peak_memory_bytes()
    record.metrics = metrics.with_catalog_utilization(record.metrics, record.kernel, record.backend)
    record.metrics = energy.with_energy(record.metrics, meter.reading, record.kernel.tokens_per_step,
                                        case.steps * case.repeats)
    record.cost = cost.for_case(case, record)
    num.loss_last = _loss(backend, outputs, parallel)
    if parallel:
        parallel.finish(record)

    for name, loss in (("first", num.loss_first), ("last", num.loss_last)):
        if loss is not None and not math.isfinite(loss):
            raise CaseFailure("NonFiniteLoss", f"the {name} loss is {loss}")
    for kind, message in timing.failures(record, backend):  # a fence that did not wait; a CPU faster than possible
        raise CaseFailure(kind, message)
    if num.passed is False:
        raise CaseFailure(
            "NumericsMismatch",
            f"'{num.worst}' differs from the {num.reference} reference by {num.max_rel_err:.3g} "
            f"(relative norm), over the {precision} tolerance {num.tolerance:g}",
        )


def _loss(backend, outputs, parallel=None) -> float | None:
    if parallel:
        return parallel.loss(backend, outputs)  # the global loss (a collective on torch)
    if isinstance(outputs, dict) and "loss" in outputs:
        return backend.to_scalar(outputs["loss"])
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (2, 3):
        print("usage: python -m accelbench.harness.worker CASE.json RECORD.json [RUN_ID]", file=sys.stderr)
        return 2
    _die_with_parent()
    with open(argv[0]) as f:
        case = Case.from_dict(json.load(f))
    run_id = argv[2] if len(argv) == 3 else uuid.uuid4().hex[:12]
    record = run_case(case, run_id, snapshot_path=argv[1] + SNAPSHOT_SUFFIX)
    write_record(argv[1], record)
    return 0


SNAPSHOT_SUFFIX = ".partial"
PARENT_PID_VAR = "ACCELBENCH_PARENT_PID"


def _die_with_parent() -> None:
    """Linux: ask for SIGKILL when the runner dies (prctl PR_SET_PDEATHSIG), so
    a runner killed with SIGKILL leaves no case running on behind it; the case
    runs in its own session, so nothing else would stop it."""
    parent = os.environ.get(PARENT_PID_VAR)
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if str(os.getppid()) != parent:  # the runner died before prctl took effect
        os._exit(137)


if __name__ == "__main__":
    sys.exit(main())
