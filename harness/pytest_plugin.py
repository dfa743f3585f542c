"""A pytest plugin: every kernel × preset × backend as a pytest-benchmark case.

    pytest -m accelbench --accelbench-backend torch-cpu --accelbench-kernel gemm:tiny \\
           --benchmark-json out.json

Both options repeat; ``--accelbench-suite`` takes a suite's kernels and
backends, ``--accelbench-set KEY=VALUE`` a setting, as ``accelbench run``
does. Without any ``--accelbench-*`` option the plugin adds nothing. It is
registered through the entry-point group ``pytest11``, so installing
accelbench is enough; ``-p no:accelbench`` turns it off.

Why ``benchmark.pedantic``: pytest-benchmark's default mode reads a
wall-clock timer around a callable it calibrates into loops, and a device
that runs asynchronously returns from a launch long before the work is done,
so that timer measures the launch. Here the timing policy of ``accelbench
run`` applies (``harness.timing``): each round is a window of ``--accelbench-steps``
steps whose last call also runs the backend's completion fence
(``Backend.fence``), with ``iterations`` = the window's steps, so
pytest-benchmark's per-iteration time is window ÷ steps; rounds = windows
(the plan's repeats). After the last round the fence audit reads the outputs
back and fails the test when the fence did not wait. Compilation
(preparation plus the first, fenced step) happens before the timed rounds and
is reported apart in ``extra_info["compile_s"]``.

Unlike ``accelbench run``, cases run inside the pytest process (pytest-benchmark
times in-process), so a crash in one case ends the session. torch and JAX are
imported only when a case runs, never at pytest start-up.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import pytest

from accelbench.harness.plan import DEFAULT_REPEATS, DEFAULT_STEPS, DEFAULT_WARMUP, Case, PlanError
from accelbench.reports.pytest_benchmark import PLUGIN_SCHEMA as EXTRA_INFO_SCHEMA  # marks extra_info as ours

MARKER = "accelbench"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("accelbench", "accelbench kernels as pytest-benchmark cases")
    group.addoption("--accelbench-kernel", action="append", default=[], metavar="K[:PRESET]",
                    help="kernel and preset to benchmark (repeatable; a bare name means 'tiny')")
    group.addoption("--accelbench-backend", action="append", default=[], metavar="B",
                    help="backend to benchmark on (repeatable; default: the suite's backends)")
    group.addoption("--accelbench-suite", metavar="S",
                    help="built-in suite name or path to a suite .toml")
    group.addoption("--accelbench-set", action="append", default=[], metavar="KEY=VALUE",
                    help="kernel or backend setting, as `accelbench run --set`")
    group.addoption("--accelbench-steps", type=int, metavar="N",
                    help=f"steps per timed round (a window with one fence; {DEFAULT_REPEATS} rounds; default {DEFAULT_STEPS})")
    group.addoption("--accelbench-warmup", type=int, metavar="N",
                    help=f"untimed warm-up after compilation: one round of steps when above 0 (default {DEFAULT_WARMUP})")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: an accelbench kernel × backend case added by --accelbench-* options")


def requested(config: pytest.Config) -> bool:
    opt = config.option
    return bool(opt.accelbench_kernel or opt.accelbench_backend or opt.accelbench_suite or opt.accelbench_set)


def plan_cases(config: pytest.Config) -> list[Case]:
    """The cases the --accelbench-* options name, validated as `accelbench run` does."""
    from accelbench.harness import plan

    opt = config.option
    try:
        return plan.build_plan(opt.accelbench_suite, opt.accelbench_kernel, opt.accelbench_backend,
                               opt.accelbench_set, steps=opt.accelbench_steps, warmup=opt.accelbench_warmup)
    except (PlanError, ValueError) as exc:  # and KernelError, BackendError: all one-line user errors
        raise pytest.UsageError(f"accelbench: {exc}") from None


class AccelbenchCases(pytest.Collector):
    """The collector that holds one test item per planned case."""

    def __init__(self, *, cases: list[Case], **kwargs):
        super().__init__(**kwargs)
        self.cases = cases

    def collect(self):
        for case in self.cases:
            item = pytest.Function.from_parent(self, name=f"{case.kernel}:{case.preset}[{case.backend}]",
                                               callobj=_accelbench_case)
            item.accelbench_case = case
            item.add_marker(MARKER)
            yield item


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    """Append the accelbench items before -m/-k and pytest-benchmark filter the list."""
    if not requested(config):
        return
    collector = AccelbenchCases.from_parent(session, name="accelbench", cases=plan_cases(config))
    items.extend(session.genitems(collector))  # reports the collection, so "collected N items" counts them


@dataclasses.dataclass(frozen=True)
class CaseParams:
    """What pytest-benchmark reads from a parametrized item (``node.callspec.id``
    and ``.params``), so ``--benchmark-group-by=param:backend`` (or ``param:kernel``,
    ``param:preset``) groups accelbench cases like parametrized tests."""

    id: str
    params: dict[str, str]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Set at setup, not at collection: pytest's own fixture reordering reads a
    # collected item's callspec as a real parametrization, which this is not.
    case = getattr(item, "accelbench_case", None)
    if case is not None:
        item.callspec = CaseParams(id=f"{case.kernel}:{case.preset}-{case.backend}",
                                   params={"kernel": case.kernel, "preset": case.preset, "backend": case.backend})


def _accelbench_case(benchmark, request) -> None:
    run_case(request.node.accelbench_case, benchmark)


# ------------------------------------------------------------------- one case
def run_case(case: Case, benchmark) -> dict[str, Any]:
    """Prepare, compile, check and time one case with ``benchmark.pedantic``;
    returns the ``extra_info`` it set."""
    from accelbench import backends
    from accelbench import kernels
    from accelbench.harness import numerics, timing

    availability = backends.availability(case.backend)
    if not availability.ok:
        pytest.skip(f"backend {case.backend} unavailable: {availability.reason}")
    kernel = kernels.get(case.kernel)
    cfg = kernel.config(case.preset, case.kernel_settings)
    backend_cls = backends.get_class(case.backend)
    backend = backend_cls(backend_cls.settings_cls(**case.backend_settings))
    device = backend.device_info()
    info = benchmark.extra_info
    info.update(case_facts(case, kernel, cfg, backend, device))
    benchmark.group = f"{case.kernel}:{case.preset}"

    state = kernel.make_state(cfg)
    t0 = time.perf_counter()
    prepared = backend.prepare(kernel, cfg, state)
    outputs = prepared.step()
    backend.fence(outputs)
    info["compile_s"] = time.perf_counter() - t0
    info["loss_first"] = _loss(backend, outputs)
    outputs, result = numerics.check_prepared(kernel, cfg, state, case.preset, prepared, backend.fence, outputs,
                                              backend.precision, lambda out: _loss(backend, out))
    if result is not None:
        info.update(numerics_reference=result.reference, numerics_max_rel_err=result.max_rel_err,
                    numerics_passed=result.passed)

    policy = timing.policy_for(case)  # rounds are windows of k steps, one fence each (harness.timing)
    outputs = benchmark.pedantic(timing.windowed_target(backend, prepared, policy.steps_per_window),
                                 rounds=policy.windows, warmup_rounds=min(case.warmup, 1),
                                 iterations=policy.steps_per_window)
    if benchmark.stats is not None:  # the fence audit, right after the last window
        info["fence_audit"], outputs = timing.confirmed_audit(
            backend, prepared, outputs, benchmark.stats.stats.max * policy.steps_per_window, policy.steps_per_window)
        info["timing_policy"] = policy.describe()
    info["loss_last"] = _loss(backend, outputs)
    info["peak_mem_bytes"] = backend.peak_memory_bytes()
    if benchmark.stats is not None:  # None under --benchmark-disable
        info.update(step_metrics(info, benchmark.stats.stats.median))

    for name in ("loss_first", "loss_last"):
        if info[name] is not None and not math.isfinite(info[name]):
            pytest.fail(f"{case.label}: the {name.split('_')[1]} loss is {info[name]}")
    if info.get("fence_audit") and not info["fence_audit"]["passed"]:
        pytest.fail(f"{case.label}: {timing.fence_message(backend.fence_description, info['fence_audit'])}")
    if info.get("metric_errors"):
        pytest.fail(f"{case.label}: {'; '.join(info['metric_errors'])}")
    if info.get("numerics_passed") is False:
        pytest.fail(f"{case.label}: differs from the {info['numerics_reference']} reference by "
                    f"{info['numerics_max_rel_err']:.3g} (relative norm)")
    return dict(info)


def case_facts(case: Case, kernel, cfg, backend, device) -> dict[str, Any]:
    """What the case is, in flat JSON-friendly keys (``extra_info``)."""
    return {
        "accelbench": EXTRA_INFO_SCHEMA,
        "case_id": case.case_id,
        "kernel": case.kernel,
        "preset": case.preset,
        "config": dataclasses.asdict(cfg),
        "backend": backend.name,
        "framework": backend.framework,
        "device": device.kind,
        "device_catalog_key": device.catalog_key,
        "device_count": device.count,
        "chip_share": device.chip_share,  # MFU is per physical chip: device_count x chip_share chips
        "precision": backend.precision,
        "fence": backend.fence_description,
        "backend_settings": dataclasses.asdict(backend.settings),
        "flop_convention": kernel.flop_convention,
        "flops_per_step": kernel.flops_per_step(cfg),
        "bytes_per_step": kernel.bytes_per_step(cfg, backend.precision),
        "tokens_per_step": kernel.tokens_per_step(cfg),
        "warmup_rounds": min(case.warmup, 1),
        "rounds": case.repeats,
        "steps_per_round": case.steps,
    }


def step_metrics(info: dict[str, Any], median_s: float) -> dict[str, Any]:
    """tokens/s, TFLOP/s and bandwidth from the median fenced round, and MFU
    against the device catalog's dense peak where the catalog knows the device
    (``harness.metrics`` holds the formulas and their sources)."""
    from accelbench.harness import catalog, metrics

    m = metrics.throughput(info["flops_per_step"], info["bytes_per_step"], info["tokens_per_step"], median_s)
    key = info["device_catalog_key"]
    device = catalog.load_devices().get(key) if key else None
    m = metrics.with_device_utilization(m, device, info["precision"], info["device_count"] * info.get("chip_share", 1.0),
                                        info["flop_convention"], info["device"])
    return {"median_step_s": median_s, "tokens_per_s": m.tokens_per_s, "tflops": m.tflops, "mfu": m.mfu,
            "mfu_basis": m.mfu_basis, "hbm_tbps": m.hbm_tbps, "hbm_util": m.hbm_util,
            "metric_errors": list(m.errors)}


def _loss(backend, outputs) -> float | None:
    if isinstance(outputs, dict) and "loss" in outputs:
        return backend.to_scalar(outputs["loss"])
    return None


__all__ = ["EXTRA_INFO_SCHEMA", "MARKER", "run_case", "plan_cases", "step_metrics"]
