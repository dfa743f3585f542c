"""A pytest plugin: every kernel × preset × backend as a pytest-benchmark case.

    pytest -m accelbench --accelbench-backend torch-cpu --accelbench-kernel gemm:tiny \\
           --benchmark-json out.json

Both options repeat; ``--accelbench-suite`` takes a suite's kernels and
backends, ``--accelbench-set KEY=VALUE`` a setting, as ``accelbench run``
does. Without any ``--accelbench-*`` option the plugin adds nothing. It is
registered through the entry-point group ``pytest11``, so installing
accelbench is enough; ``-p no:accelbench`` turns it off.

Each case runs the measurement core (``harness.measure.run_case``), the
same phases as ``accelbench run``, with one seam changed: the timer is
``benchmark.pedantic`` (``PedanticTimer``). pytest-benchmark's default mode
reads a wall-clock timer around a callable it calibrates into loops, and a
device that runs asynchronously returns from a launch long before the work
is done, so that timer measures the launch. Here each round launches one
step *and* calls the backend's completion fence (``Backend.fence``), so every
round pytest-benchmark times is one finished step, and the record's
``backend.fence`` says so. Compilation, numerics and warm-up happen before
the timed rounds, as in ``accelbench run``.

The whole result record (``record.to_dict()``, schema ``accelbench.result/1``)
goes into ``extra_info["record"]``, so ``accelbench report`` reads
``--benchmark-json`` files as it reads results folders
(``reports/pytest_benchmark.py`` unwraps it).

Exit semantics, beside ``accelbench run``'s: a case that fails (error,
numerics, fence audit, impossible metrics) is a failed test (pytest exit 1;
run exits 1). A backend named with ``--accelbench-backend`` that is
unavailable here fails its cases with the same reason run prints (pytest exit
1; run exits 3), unless ``--accelbench-allow-unavailable`` (skipped, as run's
``--allow-unavailable``); a backend that only a suite names is skipped (run
records it ``unavailable`` and exits 0). Bad options are a usage error before
anything runs (pytest exit 4; run exits 2).

Unlike ``accelbench run``, cases run inside the pytest process (pytest-benchmark
times in-process), so a crash in one case ends the session. torch and JAX are
imported only when a case runs, never at pytest start-up.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from accelbench.harness.plan import DEFAULT_REPEATS, DEFAULT_STEPS, DEFAULT_WARMUP, Case, PlanError
from accelbench.facts.schema import PLUGIN_SCHEMA  # marks extra_info as ours

MARKER = "accelbench"
RUN_ID = pytest.StashKey[str]()
"""One run id for every case of a pytest session, as `accelbench run` gives one per run."""


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
                    help=f"steps per timed window, as `accelbench run --steps`: each pytest-benchmark round is one "
                         f"window of N steps closed by one fence, so its figures are per window "
                         f"(default: the suite's, else {DEFAULT_STEPS})")
    group.addoption("--accelbench-windows", "--accelbench-repeats", dest="accelbench_repeats", type=int, metavar="N",
                    help=f"timed windows, as `accelbench run --windows` (--accelbench-repeats is its older name): "
                         f"pytest-benchmark rounds (default: the suite's, else {DEFAULT_REPEATS})")
    group.addoption("--accelbench-warmup", type=int, metavar="N",
                    help=f"untimed warm-up steps after compilation, as `accelbench run --warmup` (default: the "
                         f"suite's, else {DEFAULT_WARMUP})")
    group.addoption("--accelbench-allow-unavailable", action="store_true",
                    help="skip the cases of a backend named with --accelbench-backend that is unavailable here "
                         "(default: off, they fail with the reason, as `accelbench run` exits 3)")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[RUN_ID] = f"pytest-{uuid.uuid4().hex[:12]}"
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
                               opt.accelbench_set, steps=opt.accelbench_steps, warmup=opt.accelbench_warmup,
                               windows=opt.accelbench_repeats)
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
    opt = request.config.option
    case = request.node.accelbench_case
    named = case.backend in opt.accelbench_backend and not opt.accelbench_allow_unavailable
    run_case(case, benchmark, request.config.stash[RUN_ID], fail_unavailable=named)


# ------------------------------------------------------------------- one case
class PedanticTimer:
    """The measurement core's timer under pytest (``harness.measure.Timer``):
    the timing policy of ``accelbench run`` (``harness.timing``) in
    ``benchmark.pedantic`` rounds: each round is one window of ``steps`` steps,
    run by the CLI's loop (``harness.timing.time_window``, closed by the
    backend's fence), so pytest-benchmark's per-round time is the window and
    the record's per-step samples are window ÷ steps; then the same fence audit."""

    def __init__(self, benchmark):
        self.benchmark = benchmark

    def fence_text(self, backend) -> str:
        from accelbench.harness.measure import fence_call

        return (f"pytest-benchmark pedantic rounds, each a window of steps closed by the backend's fence "
                f"[{fence_call(backend)}] after its last step, before pytest-benchmark reads its clock")

    def time(self, backend, prepared, case: Case, timing_part, checkpoint) -> Any:
        from accelbench.harness import timing

        policy = timing.policy_for(case)
        checkpoint("timed steps (benchmark.pedantic)")
        k = policy.steps_per_window
        outputs = self.benchmark.pedantic(timing.window_target(backend, prepared, k),
                                          rounds=policy.windows, warmup_rounds=0, iterations=1)
        if self.benchmark.stats is not None:  # None under --benchmark-disable: nothing was timed
            timing_part.policy = policy.describe()
            timing_part.samples_s.extend(window / k for window in self.benchmark.stats.stats.data)
        return outputs

    def audit(self, backend, prepared, outputs, case: Case, timing_part, lockstep: bool) -> Any:
        from accelbench.harness import timing

        k = timing.policy_for(case).steps_per_window
        timing_part.fence_audit, outputs = timing.confirmed_audit(backend, prepared, outputs,
                                                                  max(timing_part.samples_s) * k, k, lockstep)
        return outputs


def run_case(case: Case, benchmark, run_id: str | None = None, fail_unavailable: bool = False) -> dict[str, Any]:
    """Measure one case through the measurement core with ``benchmark.pedantic``
    as the timer; returns the ``extra_info`` it set (the whole record). An
    unavailable backend fails the case when it was named explicitly
    (``fail_unavailable``, as `accelbench run --backend` exits 3), else skips it."""
    from accelbench import backends
    from accelbench.harness.measure import run_case as measure

    availability = backends.availability(case.backend)
    if not availability.ok:
        why = f"backend {case.backend} unavailable: {availability.reason}"
        if fail_unavailable:
            pytest.fail(f"{why} (named with --accelbench-backend; --accelbench-allow-unavailable skips it)",
                        pytrace=False)
        pytest.skip(why)
    benchmark.group = f"{case.kernel}:{case.preset}"
    record = measure(case, run_id or uuid.uuid4().hex[:12], timer=PedanticTimer(benchmark))
    record.env["runner"] = "pytest-benchmark"
    info = benchmark.extra_info
    info.update({"accelbench": PLUGIN_SCHEMA, "case_id": case.case_id, "record": record.to_dict()})
    if record.status == "failed":
        pytest.fail(f"{case.label}: {record.error['type']}: {record.error['message']}")
    if record.metrics.errors:  # e.g. an MFU over 100%: the FLOP count or the fence is wrong
        pytest.fail(f"{case.label}: {'; '.join(record.metrics.errors)}")
    return dict(info)


__all__ = ["PLUGIN_SCHEMA", "MARKER", "PedanticTimer", "run_case", "plan_cases"]
