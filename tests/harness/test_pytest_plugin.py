"""The pytest plugin (harness/pytest_plugin.py) and the pytest-benchmark JSON
converter (reports/pytest_benchmark.py), through real inner pytest runs in
subprocesses (pytester), so torch never loads in this process."""

from __future__ import annotations

import json

import pytest

from accelbench.harness.plan import DEFAULT_REPEATS
from accelbench.facts.schema import PLUGIN_SCHEMA, RESULT_SCHEMA
from accelbench.harness.records import RecordError
from accelbench.reports.pytest_benchmark import records_from_pytest_benchmark

pytest_plugins = ["pytester"]

GEMM = ["--accelbench-backend", "torch-cpu", "--accelbench-kernel", "gemm:tiny",
        "--accelbench-steps", "3", "--accelbench-warmup", "1", "-p", "no:cacheprovider"]


@pytest.mark.slow
def test_without_options_the_plugin_adds_nothing(pytester):
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "gemm" not in result.stdout.str()


@pytest.mark.slow
def test_gemm_case_stores_its_whole_record_in_benchmark_json(pytester):
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
    assert entry["stats"]["rounds"] == DEFAULT_REPEATS and entry["stats"]["iterations"] == 1  # a round: a window
    assert info["accelbench"] == PLUGIN_SCHEMA and info["case_id"] == "gemm-tiny--torch-cpu"
    record = info["record"]
    assert record["timing"]["fence_audit"]["passed"] is True and record["timing"]["policy"]["steps_per_window"] == 3
    assert record["schema"] == RESULT_SCHEMA and record["status"] == "ok"
    assert record["backend"]["name"] == "torch-cpu" and record["kernel"]["flop_convention"] == "matmul-exact"
    assert record["numerics"]["passed"] is True and record["timing"]["compile_s"] > 0
    # the statistics are those of the rounds pytest-benchmark timed: windows of 3 steps, per step
    assert record["timing"]["step_s"]["median"] == pytest.approx(entry["stats"]["median"] / 3)
    assert record["metrics"]["tflops"] == pytest.approx(record["kernel"]["flops_per_step"] * 3 / entry["stats"]["median"] / 1e12)
    assert record["metrics"]["mfu"] is None  # a CPU has no catalog peak
    assert record["backend"]["fence"].startswith("pytest-benchmark pedantic rounds")

    assert records_from_pytest_benchmark(out) == [{**record, "_case_id": "gemm-tiny--torch-cpu"}]
    from accelbench.reports import load  # `accelbench report` reads the same file among result records

    loaded = load.load_folders([out.parent])
    assert loaded.warnings == [] and len(loaded.records) == 1
    frame = loaded.frame()
    assert list(frame["case_id"]) == ["gemm-tiny--torch-cpu"] and list(frame["metrics.tflops"]) == [record["metrics"]["tflops"]]


def _report_lines(cli, folder) -> list[str]:
    proc = cli("report", folder)
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if "generated" not in line]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _case_rows(lines: list[str]) -> list[dict[str, str]]:
    """Every table row of the torch-cpu case, as {column header: cell}."""
    rows, header = [], None
    for line in lines:
        if line.startswith("| case |"):
            header = _cells(line)
        elif line.startswith("| torch-cpu |") and header:
            rows.append(dict(zip(header, _cells(line))))
    return rows


MEASURED = ("tokens/s", "MFU", "$/1M", "step (ms", "TFLOP/s", "peak memory", "compile", "J/token")
"""Columns whose figures come from the run itself: two runs of one case differ there."""


@pytest.mark.slow
def test_report_over_pytest_json_gives_the_row_accelbench_run_gives(pytester, cli, tmp_path):
    """``pytest --accelbench-backend torch-cpu --accelbench-kernel gpt2:tiny --benchmark-json out.json``:
    the record in extra_info renders, through ``accelbench report``, exactly as
    the same record in a results folder (what ``accelbench run`` writes), and
    its row has the cells of the row ``accelbench run`` gives for the case,
    all but the measured figures equal."""
    bench = pytester.path / "bench"
    bench.mkdir()
    args = ["--accelbench-backend", "torch-cpu", "--accelbench-kernel", "gpt2:tiny", "--accelbench-steps", "2",
            "--accelbench-warmup", "0", "-p", "no:cacheprovider", f"--benchmark-json={bench / 'out.json'}"]
    pytester.runpytest_subprocess(*args).assert_outcomes(passed=1)
    (entry,) = json.loads((bench / "out.json").read_text())["benchmarks"]
    as_results = tmp_path / "as-results"
    as_results.mkdir()
    (as_results / f"{entry['extra_info']['case_id']}.json").write_text(json.dumps(entry["extra_info"]["record"]))
    from_pytest = _report_lines(cli, bench)
    assert from_pytest[1:] == _report_lines(cli, as_results)[1:]  # line 0 names the folder

    run = tmp_path / "run"
    proc = cli("run", "--kernel", "gpt2:tiny", "--backend", "torch-cpu", "--out", run, "--quiet",
               "--steps", "2", "--warmup", "0")
    assert proc.returncode == 0, proc.stderr
    from_run = _report_lines(cli, run)
    mine, theirs = _case_rows(from_pytest), _case_rows(from_run)
    assert mine and [list(row) for row in mine] == [list(row) for row in theirs]  # the same tables, same columns

    def described(rows):  # the noise flags in "checks" are measured too: two runs differ there
        return [{k: v.split("; UNSTABLE")[0] for k, v in row.items() if not k.startswith(MEASURED)} for row in rows]

    assert described(mine) == described(theirs)


@pytest.mark.slow
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


@pytest.mark.slow
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
    other.write_text(json.dumps({"schema": RESULT_SCHEMA}))
    with pytest.raises(RecordError, match="not a pytest-benchmark JSON file"):
        records_from_pytest_benchmark(other)
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"machine_info": {}, "benchmarks": [
        {"name": "test_x", "stats": {"median": 1.0}, "extra_info": {}},
        {"name": "old", "stats": {"median": 1.0}, "extra_info": {"accelbench": "accelbench.pytest-benchmark/1"}}]}))
    assert records_from_pytest_benchmark(foreign) == []


def test_the_fence_text_names_the_timer_and_fence_that_ran():
    """Under pytest, torch-cuda is timed by pedantic rounds fenced with a
    synchronize, not by its CUDA events: the record must say so."""
    from accelbench.backends.torch_cuda import TorchCudaBackend
    from accelbench.harness.measure import BackendTimer
    from accelbench.harness.pytest_plugin import PedanticTimer

    cuda = TorchCudaBackend()
    under_pytest = PedanticTimer(benchmark=None).fence_text(cuda)
    assert "torch.cuda.synchronize(device)" in under_pytest and "CUDA events" not in under_pytest
    assert "CUDA events" in BackendTimer().fence_text(cuda)  # accelbench run: the backend's own timing
