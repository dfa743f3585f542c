"""The measurement core (harness/measure.py) and its seams: the timer, the
launch context, the kernel's seed. In-process runs of tiny cases on torch-cpu."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from accelbench.harness.context import LaunchContext  # noqa: E402
from accelbench.harness.measure import BackendTimer, Timer, run_case  # noqa: E402
from accelbench.harness.plan import Case, build_plan  # noqa: E402

QUICK = {"steps": 2, "windows": 1, "warmup": 0}


def _case(*set_items: str) -> Case:
    [case] = build_plan(None, ["gpt2:tiny"], ["torch-cpu"], list(set_items), **QUICK)
    return case


@pytest.mark.slow
def test_set_seed_changes_the_initial_state_and_the_same_seed_repeats_it():
    first = {seed: run_case(_case(f"seed={seed}"), "r").numerics.loss_first for seed in (0, 3)}
    again = run_case(_case("seed=3"), "r").numerics.loss_first
    assert first[0] != first[3] and again == first[3]


class CountingTimer(Timer):
    """A timer of its own: one sample per step, read from a counter, not a clock."""

    def __init__(self):
        self.calls = 0

    def fence_text(self, backend) -> str:
        return f"counting timer around {backend.name}'s fence"

    def time(self, backend, prepared, case, timing, checkpoint):
        outputs = None
        for _ in range(case.steps * case.repeats):
            outputs = prepared.step()
            backend.fence(outputs)
            self.calls += 1
            timing.samples_s.append(0.001 * self.calls)
        return outputs


class RecordingContext(LaunchContext):
    def __init__(self):
        self.seen: list[str] = []

    def make_backend(self, backend_cls, settings):
        self.seen.append("make_backend")
        return super().make_backend(backend_cls, settings)

    def prepare(self, backend, kernel, cfg, state):
        self.seen.append("prepare")
        return super().prepare(backend, kernel, cfg, state)

    def describe(self, record) -> None:
        self.seen.append("describe")
        record.backend.info["layout"] = "recorded by the context"

    def finish(self, record) -> None:
        self.seen.append("finish")


@pytest.mark.slow
def test_the_timer_and_the_context_are_the_only_seams():
    timer, context = CountingTimer(), RecordingContext()
    record = run_case(_case(), "r", timer=timer, context=context)
    assert record.status == "ok", record.error
    assert record.backend.fence == "counting timer around torch-cpu's fence"  # the fence text is the timer's
    assert record.timing.samples_s == [0.001, 0.002] and record.timing.step_s["median"] == pytest.approx(0.0015)
    assert record.metrics.tokens_per_s == pytest.approx(record.kernel.tokens_per_step / 0.0015)
    assert context.seen == ["make_backend", "describe", "prepare", "finish"]
    assert record.backend.info["layout"] == "recorded by the context"
    assert record.backend.info["device"]["energy_meter"]["method"] == "rapl"  # the backend's choice, recorded


@pytest.mark.slow
def test_a_timer_that_takes_no_samples_leaves_a_skipped_record_saying_so():
    class Disabled(BackendTimer):
        def time(self, backend, prepared, case, timing, checkpoint):
            return prepared.step()

    record = run_case(_case(), "r", timer=Disabled())
    assert record.status == "skipped" and record.error["type"] == "NotTimed"
