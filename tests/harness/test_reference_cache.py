"""The float64 reference shared by one run's cases (harness/reference_cache.py):
found by a key over everything it depends on, computed once, never shared across runs."""

from __future__ import annotations

import numpy as np
import pytest

from accelbench import kernels
from accelbench.harness import numerics, reference_cache, runner
from accelbench.harness.case_env import REFERENCE_CACHE_VAR


def _gemm():
    kernel = kernels.get("gemm")
    cfg = kernel.config("tiny", {})
    return kernel, cfg, kernel.make_state(cfg, seed=0)


def test_the_key_changes_with_every_input_and_only_with_them():
    kernel, cfg, state = _gemm()
    base = reference_cache.key("gemm", cfg, state, 3, "torch 2.13.0")
    assert base == reference_cache.key("gemm", cfg, {k: v.copy() for k, v in state.items()}, 3, "torch 2.13.0")
    nudged = {**state, "a": state["a"].copy()}
    nudged["a"][0, 0] += 1e-6  # one element of one array
    assert base != reference_cache.key("gemm", cfg, nudged, 3, "torch 2.13.0")
    assert base != reference_cache.key("gemm", kernel.config("tiny", {"m": 32}), state, 3, "torch 2.13.0")
    assert base != reference_cache.key("gemm", cfg, state, 4, "torch 2.13.0")
    assert base != reference_cache.key("gemm", cfg, state, 3, "torch 2.14.0")
    assert base != reference_cache.key("gemm", cfg, {**state, "a": state["a"].astype(np.float64)}, 3, "torch 2.13.0")


def test_a_reference_is_computed_once_per_folder_and_read_back_whole(tmp_path, monkeypatch):
    kernel, cfg, state = _gemm()
    calls = []
    real = numerics._reference_run

    def counted(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(numerics, "_reference_run", counted)
    first = numerics.reference_run(kernel, cfg, state, tmp_path)
    second = numerics.reference_run(kernel, cfg, state, tmp_path)
    assert len(calls) == 1 and len(list(tmp_path.glob("*.npz"))) == 1
    assert first[0] == second[0] and first[2] == second[2] and first[1].keys() == second[1].keys()
    for name in first[1]:
        np.testing.assert_array_equal(first[1][name], second[1][name])
    numerics.reference_run(kernel, cfg, state)  # no folder: computed again, nothing stored
    assert len(calls) == 2


def test_a_torn_file_is_computed_again_not_read(tmp_path):
    kernel, cfg, state = _gemm()
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 half a file")
    assert reference_cache.load(tmp_path, "junk") is None


def test_the_folder_comes_from_the_runner_and_only_while_it_exists(tmp_path):
    assert reference_cache.directory_from_env({REFERENCE_CACHE_VAR: str(tmp_path)}) == tmp_path
    assert reference_cache.directory_from_env({REFERENCE_CACHE_VAR: str(tmp_path / "gone")}) is None
    assert reference_cache.directory_from_env({}) is None


def test_one_run_gives_all_its_cases_one_folder_and_removes_it(tmp_path, monkeypatch):
    from accelbench.harness.plan import Case

    seen = []

    def fake_run_one(case, path, run_id, on_event=None, references=None):
        seen.append(references)
        assert references.is_dir()
        return runner.CaseOutcome(case, path, "ok", {}, 0.0)

    monkeypatch.setattr(runner, "run_one", fake_run_one)
    cases = [Case(kernel="gemm", preset="tiny", backend=b) for b in ("torch-cpu", "jax-cpu")]
    runner.run_plan(cases, tmp_path / "out")
    assert len(seen) == 2 and seen[0] == seen[1] and not seen[0].exists()


@pytest.mark.parametrize("launcher, one", [("inline", True), ("torchrun", False), ("jaxmesh", False)])
def test_only_the_one_process_launcher_may_leave_by_os_exit(launcher, one):
    from accelbench.harness.launch import LAUNCHERS

    assert LAUNCHERS[launcher].runs_one_process is one
