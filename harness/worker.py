"""One case, measured in this process: the body of a case's own process.

    python -m harness.worker CASE.json RECORD.json

The sequence, each phase timed apart:
1. build the kernel's initial state with numpy (the same for every backend);
2. prepare + first step, fenced: ``compile_s`` (every stack compiles here:
   JAX ahead of time in ``prepare``, torch.compile and XLA lazily in step 1);
3. the numerics steps (``NUMERICS_STEPS`` in all, the first included) and,
   for the ``tiny`` preset, the comparison with a float64 CPU reference;
4. ``warmup`` more steps, untimed;
5. ``repeats`` × ``steps`` timed steps, each fenced by the backend;
6. statistics, metrics, and the record, written atomically.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
import traceback
import uuid
from datetime import datetime, timezone

import backends
import kernels
from harness import envinfo, metrics, numerics, stats
from harness.plan import Case
from harness.records import BackendPart, KernelPart, NumericsPart, ResultRecord, TimingPart, write_record


class CaseFailure(Exception):
    """A case ran but its result cannot be trusted (NaN loss, numerics mismatch)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


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


def run_case(case: Case, run_id: str) -> ResultRecord:
    record = new_record(case, run_id)
    try:
        _measure(case, record)
        record.status = "ok"
    except CaseFailure as exc:
        record.error = {"type": exc.kind, "message": str(exc)}
    except Exception as exc:  # any error costs this case only
        record.error = {"type": type(exc).__name__, "message": f"{exc}".strip() or repr(exc),
                        "traceback": traceback.format_exc(limit=8)}
    record.env = envinfo.capture()
    return record


def _measure(case: Case, record: ResultRecord) -> None:
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
        info={"device": {"memory_bytes": device.memory_bytes, "driver": device.driver, **device.extra}},
    )

    state = kernel.make_state(cfg)
    t0 = time.perf_counter()
    prepared = backend.prepare(kernel, cfg, state)
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
    num.loss_first = _loss(backend, outputs)
    for _ in range(numerics.NUMERICS_STEPS - 1):
        outputs = prepared.step()
        backend.fence(outputs)
    if case.preset == "tiny":
        observed = prepared.observe()
        if "loss" in outputs:
            observed["loss"] = _loss(backend, outputs)
        ref_name, reference = numerics.reference_observables(kernel, cfg, state)
        result = numerics.compare(observed, reference, precision, ref_name)
        num.reference, num.max_rel_err, num.worst = result.reference, result.max_rel_err, result.worst
        num.tolerance, num.passed = result.tolerance, result.passed

    for _ in range(case.warmup):
        outputs = prepared.step()
        backend.fence(outputs)

    samples: list[float] = []
    for _ in range(case.repeats):
        times, outputs = backend.time_steps(prepared, case.steps)
        samples.extend(times)
    summary = stats.summarize(samples)
    record.timing.samples_s = samples
    record.timing.step_s = dataclasses.asdict(summary)
    record.metrics = metrics.throughput(
        record.kernel.flops_per_step, record.kernel.bytes_per_step, record.kernel.tokens_per_step, summary.median
    )
    record.metrics.peak_mem_bytes = backend.peak_memory_bytes()
    num.loss_last = _loss(backend, outputs)

    for name, loss in (("first", num.loss_first), ("last", num.loss_last)):
        if loss is not None and not math.isfinite(loss):
            raise CaseFailure("NonFiniteLoss", f"the {name} loss is {loss}")
    if num.passed is False:
        raise CaseFailure(
            "NumericsMismatch",
            f"'{num.worst}' differs from the {num.reference} reference by {num.max_rel_err:.3g} "
            f"(relative norm), over the {precision} tolerance {num.tolerance:g}",
        )


def _loss(backend, outputs) -> float | None:
    if isinstance(outputs, dict) and "loss" in outputs:
        return backend.to_scalar(outputs["loss"])
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (2, 3):
        print("usage: python -m harness.worker CASE.json RECORD.json [RUN_ID]", file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        case = Case.from_dict(json.load(f))
    run_id = argv[2] if len(argv) == 3 else uuid.uuid4().hex[:12]
    record = run_case(case, run_id)
    write_record(argv[1], record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
