"""The pytest plugin (harness/pytest_plugin.py) and the pytest-benchmark JSON
converter (reports/pytest_benchmark.py), through real inner pytest runs in
subprocesses (pytester), so torch never loads in this process."""

from __future__ import annotations

import json

import pytest

from accelbench.harness.plan import DEFAULT_REPEATS
from accelbench.harness.records import SCHEMA, RecordError
from accelbench.reports.pytest_benchmark import PLUGIN_SCHEMA, records_from_pytest_benchmark

pytest_plugins = ["pytester"]

GEMM = ["--accelbench-backend", "torch-cpu", "--accelbench-kernel", "gemm:tiny",
        "--accelbench-steps", "3", "--accelbench-warmup", "1", "-p", "no:cacheprovider"]


def test_without_options_the_plugin_adds_nothing(pytester):
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "gemm" not in result.stdout.str()


def test_gemm_case_writes_accelbench_figures_to_benchmark_json(pytester):
    (pytester.path / "bench").mkdir()
    out = pytester.path / "bench" / "out.json"
    result = pytester.runpytest_subprocess(*GEMM, f"--benchmark-json={out}", "--benchmark-group-by=param:backend")
    result.assert_outcomes(passed=1)
    doc = json.loads(out.read_text())
    (entry,) = doc["benchmarks"]
    info = entry["extra_info"]
    assert entry["params"] == {"kernel": "gemm", "preset": "tiny", "backend": "torch-cpu"}
    assert "benchmark 'backend=torch-cpu'" in result.stdout.str()  # the items carry params, so grouping by them works
    assert entry["name"] == "gemm:tiny[torch-cpu]" and entry["group"] == "gemm:tiny"
    assert entry["stats"]["rounds"] == DEFAULT_REPEATS and entry["stats"]["iterations"] == 3  # windows of 3 steps
    assert info["fence_audit"]["passed"] is True and info["timing_policy"]["steps_per_window"] == 3
    assert info["accelbench"] == PLUGIN_SCHEMA
    assert info["backend"] == "torch-cpu" and info["flop_convention"] == "matmul-exact"
    assert info["device"] and info["fence"]
    assert info["numerics_passed"] is True
    assert info["median_step_s"] == pytest.approx(entry["stats"]["median"])
    assert info["tflops"] == pytest.approx(info["flops_per_step"] / entry["stats"]["median"] / 1e12)
    assert info["mfu"] is None  # a CPU has no catalog peak
    assert info["compile_s"] > 0

    (record,) = records_from_pytest_benchmark(out)
    assert record["schema"] == SCHEMA and record["status"] == "ok"
    assert record["kernel"]["name"] == "gemm" and record["backend"]["name"] == "torch-cpu"
    assert record["timing"]["step_s"]["median"] == entry["stats"]["median"]
    assert record["metrics"]["tflops"] == info["tflops"]

    from accelbench.reports import load  # `accelbench report` reads the same file among result records

    loaded = load.load_folders([out.parent])
    assert loaded.warnings == [] and len(loaded.records) == 1
    frame = loaded.frame()
    assert list(frame["case_id"]) == ["gemm-tiny--torch-cpu"] and list(frame["metrics.tflops"]) == [info["tflops"]]


def test_start_up_imports_no_framework_and_the_marker_selects_only_accelbench_cases(pytester):
    pytester.makeconftest(
        "import sys\n"
        "def pytest_collection_finish(session):\n"
        "    print('HEAVY', sorted(m for m in ('torch', 'jax') if m in sys.modules))\n"
    )
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest_subprocess(*GEMM, "-m", "accelbench", "--collect-only", "-s")
    result.stdout.fnmatch_lines(["*gemm:tiny*torch-cpu*", "*HEAVY []*"])
    assert "test_plain" not in result.stdout.str()


def test_unknown_kernel_is_a_usage_error(pytester):
    result = pytester.runpytest_subprocess("--accelbench-kernel", "nope", "--accelbench-backend", "torch-cpu")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "accelbench: unknown kernel 'nope'; accepted:" in result.stderr.str()


@pytest.mark.slow
def test_compare_fail_flags_a_regression_against_a_saved_run(pytester):
    storage = pytester.path / "bench"
    pytester.runpytest_subprocess(*GEMM, f"--benchmark-storage={storage}", "--benchmark-autosave").assert_outcomes(passed=1)
    (saved,) = storage.rglob("*.json")
    doc = json.loads(saved.read_text())
    for key in ("min", "max", "mean", "median"):  # a baseline no real step can match
        doc["benchmarks"][0]["stats"][key] = 1e-12
    saved.write_text(json.dumps(doc))
    result = pytester.runpytest_subprocess(*GEMM, f"--benchmark-storage={storage}", "--benchmark-compare",
                                           "--benchmark-compare-fail=median:50%")
    assert result.ret != 0
    assert "Performance has regressed" in result.stdout.str() + result.stderr.str()


def test_converter_rejects_other_files_and_skips_foreign_benchmarks(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(RecordError, match="not valid JSON"):
        records_from_pytest_benchmark(bad)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"schema": SCHEMA}))
    with pytest.raises(RecordError, match="not a pytest-benchmark JSON file"):
        records_from_pytest_benchmark(other)
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"machine_info": {}, "benchmarks": [{"name": "test_x", "stats": {"median": 1.0},
                                                                       "extra_info": {}}]}))
    assert records_from_pytest_benchmark(foreign) == []
